"""ImageNet backbones of torchvision as YOWO's 2D branch (strides 8/16/32).

The fast variants (``configs/_base_/models/yowo_plus_tiny.py``) need a light
key-frame backbone with published pretrained weights that runs where only
``mmcv-lite`` installs: torchvision's classification models are plain
PyTorch, their ImageNet weights are in torchvision's model zoo (mmengine's
``torchvision://NAME`` scheme, which mmyowo routes through its safe
checkpoint reader), and torchvision is part of every PyTorch install.

:class:`TorchvisionBackbone` keeps the feature layers of a torchvision model
under **torchvision's own module names** (``features.0.0.weight`` for
MobileNetV3, ``stage2.0.branch1...`` for ShuffleNetV2, ``trunk_output...``
for RegNet) and drops the classifier, so the zoo's state dict loads as it is
(``prefix=None``; the classifier's tensors are counted as unexpected by
:func:`~mmyowo.models.utils.load_pretrained`), and returns the outputs of
the last layers of strides 8, 16 and 32, as the fusion neck expects.
"""
from typing import Dict, List, NamedTuple, Optional, Sequence, Tuple, Union

import torch.nn as nn
import torchvision
from mmaction.registry import MODELS
from mmengine.model import BaseModule
from torch import Tensor
from torch.nn.modules.batchnorm import _BatchNorm


class ArchSpec(NamedTuple):
    """Where a torchvision architecture's stride-8/16/32 features are.

    Attributes:
        layers (tuple[str]): Dotted names of the modules to run in order
            (children of the torchvision model, or items of its
            ``features`` sequence); nothing after the last is kept.
        outputs (tuple[str]): The layers whose outputs are the stride 8, 16
            and 32 levels.
        channels (tuple[int]): Their channels.
    """

    layers: Tuple[str, ...]
    outputs: Tuple[str, str, str]
    channels: Tuple[int, int, int]


def _features(num: int) -> Tuple[str, ...]:
    """``features.0`` ..

    ``features.{num-1}``.
    """
    return tuple(f'features.{i}' for i in range(num))


#: Supported architectures (torchvision builder names). Every one has
#: ImageNet weights at ``torchvision://NAME``.
ARCHS: Dict[str, ArchSpec] = {
    # MobileNetV3 (Howard et al. 2019): inverted residuals + SE + h-swish.
    # The stride-32 level is the last block's output (160 / 96 channels),
    # not the classifier's 1x1 widening to 960 / 576 channels, which is
    # dropped: fused at that width the neck's stride-32 level alone would
    # hold 9.6 M parameters (measured on the tiny variant's neck).
    'mobilenet_v3_large':
    ArchSpec(
        _features(16), ('features.6', 'features.12', 'features.15'),
        (40, 112, 160)),
    'mobilenet_v3_small':
    ArchSpec(
        _features(12), ('features.3', 'features.8', 'features.11'),
        (24, 48, 96)),
    # ShuffleNetV2 (Ma et al. 2018); conv5 (1024 channels) is the stride-32
    # level, as torchvision's classifier reads it.
    'shufflenet_v2_x1_0':
    ArchSpec(('conv1', 'maxpool', 'stage2', 'stage3', 'stage4', 'conv5'),
             ('stage2', 'stage3', 'conv5'), (116, 232, 1024)),
    # RegNetY-400MF (Radosavovic et al. 2020).
    'regnet_y_400mf':
    ArchSpec(
        ('stem', 'trunk_output.block1', 'trunk_output.block2',
         'trunk_output.block3', 'trunk_output.block4'),
        ('trunk_output.block2', 'trunk_output.block3', 'trunk_output.block4'),
        (104, 208, 440)),
}


@MODELS.register_module()
class TorchvisionBackbone(BaseModule):
    """A torchvision ImageNet classifier's feature layers, strides 8/16/32.

    Args:
        arch (str): One of :data:`ARCHS` (torchvision builder name).
        frozen_stages (int): Freeze (no gradient, BN in eval mode) the
            layers up to and including the stride-``8 * 2 ** (k - 1)``
            output for ``k = frozen_stages`` (0: nothing, 3: everything).
        norm_eval (bool): Keep every BN layer in eval mode while training
            (running statistics frozen), e.g. for small batches.
        init_cfg (dict | list[dict], optional): Initialisation config. For
            ImageNet weights give YOWO's branch config
            ``init_cfg=dict(type='Pretrained',
            checkpoint='torchvision://ARCH')``: YOWO loads it itself, with
            counts (see ``YOWO.init_weights``).

    Without a checkpoint the layers keep torchvision's own initialisation.

    Example:
        >>> import torch
        >>> net = TorchvisionBackbone('mobilenet_v3_small')
        >>> [tuple(f.shape) for f in net(torch.zeros(1, 3, 64, 64))]
        [(1, 24, 8, 8), (1, 48, 4, 4), (1, 96, 2, 2)]
    """

    def __init__(self,
                 arch: str = 'mobilenet_v3_large',
                 frozen_stages: int = 0,
                 norm_eval: bool = False,
                 init_cfg: Optional[Union[dict, List[dict]]] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        if arch not in ARCHS:
            raise ValueError(f'TorchvisionBackbone: unknown arch {arch!r}; '
                             f'choose from {sorted(ARCHS)}')
        if not 0 <= frozen_stages <= 3:
            raise ValueError(f'frozen_stages must be in 0..3, got '
                             f'{frozen_stages}')
        self.arch = arch
        self.spec = ARCHS[arch]
        self.frozen_stages = frozen_stages
        self.norm_eval = norm_eval
        # weights=None: no download at build time; pretrained weights come
        # through YOWO's checked loader.
        source = torchvision.models.get_model(arch, weights=None)
        self._layer_names = self.spec.layers
        self._attach(source)
        self._freeze()

    @property
    def out_channels(self) -> Tuple[int, int, int]:
        """Channels of the stride 8, 16 and 32 outputs."""
        return self.spec.channels

    def _attach(self, source: nn.Module) -> None:
        """Keep ``source``'s layers under their own names (so torchvision's
        state dict loads as is), dropping everything after the last."""
        keep: Dict[str, List[str]] = {}
        for name in self._layer_names:
            top, _, rest = name.partition('.')
            keep.setdefault(top, [])
            if rest:
                keep[top].append(rest)
        for top, items in keep.items():
            module = getattr(source, top)
            if items and isinstance(module, nn.Sequential):
                # Only the listed items of a sequence (e.g. features.0-16 of
                # MobileNetV3, whose classifier-side items are dropped).
                kept = nn.Sequential()
                for item in items:
                    kept.add_module(item, getattr(module, item))
                module = kept
            self.add_module(top, module)

    def _layer(self, name: str) -> nn.Module:
        """The kept module called ``name``."""
        return self.get_submodule(name)

    def _frozen_layers(self) -> Sequence[str]:
        """The layers :attr:`frozen_stages` freezes."""
        if self.frozen_stages == 0:
            return ()
        last = self.spec.outputs[self.frozen_stages - 1]
        return self._layer_names[:self._layer_names.index(last) + 1]

    def _freeze(self) -> None:
        """Stop gradients and BN updates of the frozen layers."""
        for name in self._frozen_layers():
            layer = self._layer(name)
            layer.eval()
            for param in layer.parameters():
                param.requires_grad = False

    def train(self, mode: bool = True) -> 'TorchvisionBackbone':
        """Set the mode; frozen layers (and all BN with ``norm_eval``) stay in
        eval mode."""
        super().train(mode)
        self._freeze()
        if mode and self.norm_eval:
            for module in self.modules():
                if isinstance(module, _BatchNorm):
                    module.eval()
        return self

    def forward(self, x: Tensor) -> Tuple[Tensor, Tensor, Tensor]:
        """The stride 8, 16 and 32 feature maps of ``[N, 3, H, W]`` images."""
        outs = []
        for name in self._layer_names:
            x = self._layer(name)(x)
            if name in self.spec.outputs:
                outs.append(x)
        return outs[0], outs[1], outs[2]
