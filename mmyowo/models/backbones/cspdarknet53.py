"""CSPDarknet53, YOWO-Plus's 2D branch (paper §3.2).

YOWO-Plus replaces YOWO's Darknet-19 key-frame backbone with CSPDarknet53
(YOLOv4's backbone, built from CSPNet cross-stage partial stages) and feeds
its last three stages (strides 8, 16, 32) to the fusion FPN (paper §3.2,
Fig. 3).

The module layout mirrors timm's ``cspdarknet53`` one to one (``stem``,
``stages.<i>.{conv_down, conv_exp, blocks.<j>.{conv1, conv2},
conv_transition_b, conv_transition}``, each a conv + BN + activation), so
ImageNet weights from timm load after the key renaming done by
``tools/model_converters/timm_cspdarknet53_to_mmyowo.py``.
"""
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
from mmaction.registry import MODELS
from mmcv.cnn import ConvModule
from torch.nn.modules.batchnorm import _BatchNorm

from ..utils import InitCfgModule

ConfigType = Dict
OptMultiConfig = Optional[Union[dict, List[dict]]]


def scale_depth(num_blocks: int, deepen_factor: float) -> int:
    """Scale a stage's block count, rounding to the nearest integer and keeping
    at least one block."""
    return max(round(num_blocks * deepen_factor), 1)


def scale_channels(channels: int, widen_factor: float) -> int:
    """Scale a channel count (truncated, as in mmdet's ``CSPDarknet``)."""
    return int(channels * widen_factor)


class DarkBlock(InitCfgModule):
    """Darknet residual block: 1x1 conv, 3x3 conv, identity shortcut.

    Args:
        channels (int): Input and output channels.
        mid_channels (int): Channels between the two convolutions.
        conv_cfg (dict, optional): Convolution config.
        norm_cfg (dict): Normalization config.
        act_cfg (dict): Activation config.
        init_cfg (dict or list[dict], optional): Initialization config.
    """

    def __init__(self,
                 channels: int,
                 mid_channels: int,
                 conv_cfg: Optional[ConfigType] = None,
                 norm_cfg: ConfigType = dict(type='BN'),
                 act_cfg: ConfigType = dict(type='Mish'),
                 init_cfg: OptMultiConfig = None) -> None:
        super().__init__(init_cfg=init_cfg)
        cfgs: Dict[str, Any] = dict(
            conv_cfg=conv_cfg, norm_cfg=norm_cfg, act_cfg=act_cfg)
        self.conv1 = ConvModule(channels, mid_channels, 1, **cfgs)
        self.conv2 = ConvModule(mid_channels, channels, 3, padding=1, **cfgs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Residual output ``x + conv2(conv1(x))``."""
        return x + self.conv2(self.conv1(x))


class CSPStage(InitCfgModule):
    """A cross-stage partial stage of CSPDarknet53 (CSPNet, Wang et al. 2020).

    A stride-2 3x3 convolution downsamples to ``out_channels``; a 1x1
    convolution expands to ``expand_channels``, which are split in two
    halves: the first half skips the stage (the "cross" path), the second
    goes through the residual blocks and a 1x1 transition; the two are
    concatenated and fused by a final 1x1 transition to ``out_channels``.

    (YOLOv4's darknet cfg computes the two halves with two separate 1x1
    convolutions; timm, and this module, compute them with one convolution
    of twice the width and split the result, which is the same function.)

    Args:
        in_channels (int): Input channels.
        out_channels (int): Output channels (also the downsampling width).
        num_blocks (int): Number of :class:`DarkBlock`.
        expand_ratio (float): ``expand_channels = out_channels *
            expand_ratio``.
        block_ratio (float): Block width relative to ``out_channels``; must
            give ``expand_channels / 2`` (the residual blocks keep their
            width).
        bottle_ratio (float): Block bottleneck width relative to the block
            width.
        conv_cfg, norm_cfg, act_cfg, init_cfg: As :class:`DarkBlock`; the
            first three apply to every convolution of the stage.
    """

    def __init__(self,
                 in_channels: int,
                 out_channels: int,
                 num_blocks: int,
                 expand_ratio: float,
                 block_ratio: float,
                 bottle_ratio: float,
                 conv_cfg: Optional[ConfigType] = None,
                 norm_cfg: ConfigType = dict(type='BN'),
                 act_cfg: ConfigType = dict(type='Mish'),
                 init_cfg: OptMultiConfig = None) -> None:
        super().__init__(init_cfg=init_cfg)
        expand_channels = int(round(out_channels * expand_ratio))
        block_channels = int(round(out_channels * block_ratio))
        if expand_channels % 2 or block_channels != expand_channels // 2:
            raise ValueError(
                f'CSPStage({in_channels}->{out_channels}): the expansion to '
                f'{expand_channels} channels must split into two halves equal '
                f'to the block width {block_channels}; use a widen_factor '
                'giving even channel counts')
        self.split_channels = expand_channels // 2
        cfgs: Dict[str, Any] = dict(
            conv_cfg=conv_cfg, norm_cfg=norm_cfg, act_cfg=act_cfg)
        self.conv_down = ConvModule(
            in_channels, out_channels, 3, stride=2, padding=1, **cfgs)
        self.conv_exp = ConvModule(out_channels, expand_channels, 1, **cfgs)
        mid_channels = int(round(block_channels * bottle_ratio))
        self.blocks = nn.Sequential(*[
            DarkBlock(block_channels, mid_channels, **cfgs)
            for _ in range(num_blocks)
        ])
        self.conv_transition_b = ConvModule(block_channels,
                                            self.split_channels, 1, **cfgs)
        self.conv_transition = ConvModule(expand_channels, out_channels, 1,
                                          **cfgs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Downsample ``x`` by 2 and apply the cross-stage partial blocks."""
        x = self.conv_exp(self.conv_down(x))
        cross, main = x.split(self.split_channels, dim=1)
        main = self.conv_transition_b(self.blocks(main))
        return self.conv_transition(torch.cat([cross, main], dim=1))


@MODELS.register_module()
class CSPDarknet53(InitCfgModule):
    """CSPDarknet53 backbone (YOLOv4; YOWO-Plus 2D branch, paper §3.2).

    A 3x3 stem convolution (3 -> 32 channels, stride 1) followed by five
    :class:`CSPStage` of 1, 2, 8, 8, 4 residual blocks and 64, 128, 256,
    512, 1024 output channels, each halving the resolution (strides 2, 4,
    8, 16, 32). The first stage differs from the others as in YOLOv4 /
    timm: its expansion is twice its width, its residual blocks are full
    width with a 1/2 bottleneck; later stages expand to their width, and
    their blocks run at half width without bottleneck.

    Args:
        deepen_factor (float): Block-count multiplier (counts are rounded
            and kept >= 1). Defaults to 1.0.
        widen_factor (float): Channel multiplier; scaled stage widths must
            stay even. Defaults to 1.0.
        in_channels (int): Input image channels. Defaults to 3.
        out_indices (Sequence[int]): Indices (0-4) of the stages whose
            outputs are returned. Defaults to (2, 3, 4): strides 8, 16, 32
            with 256, 512, 1024 channels at full width.
        frozen_stages (int): -1 freezes nothing, 0 the stem, ``i >= 1`` the
            stem and ``stages[:i]``; frozen parameters get
            ``requires_grad=False`` and frozen modules stay in eval mode.
            Defaults to -1.
        conv_cfg (dict, optional): Convolution config. Defaults to None.
        norm_cfg (dict): Normalization config. Defaults to BN with YOLO's
            momentum 0.03 and eps 1e-3 (timm uses eps 1e-5; the difference
            is negligible when fine-tuning converted weights).
        act_cfg (dict): Activation config. Defaults to Mish (YOLOv4). Note
            that timm's ImageNet ``cspdarknet53`` weights were trained with
            LeakyReLU (slope 0.01), so use
            ``act_cfg=dict(type='LeakyReLU')`` to reproduce them exactly.
        norm_eval (bool): Keep every BN layer in eval mode (frozen running
            statistics) in ``train()``. Defaults to False.
        init_cfg (dict or list[dict], optional): Initialization config. To
            start from converted timm weights use
            ``dict(type='Pretrained', checkpoint=PATH)`` without ``prefix``
            (the converted keys are backbone-level).

    Attributes:
        out_channels (list[int]): Channels of the returned feature maps.
        out_strides (list[int]): Strides of the returned feature maps.

    Example:
        >>> import torch
        >>> from mmyowo.models.backbones import CSPDarknet53
        >>> # 1/3 of the blocks and 1/8 of the channels of the full model
        >>> model = CSPDarknet53(deepen_factor=0.33, widen_factor=0.125)
        >>> model.out_channels, model.out_strides
        ([32, 64, 128], [8, 16, 32])
        >>> outs = model.eval()(torch.rand(1, 3, 64, 64))
        >>> [tuple(out.shape) for out in outs]
        [(1, 32, 8, 8), (1, 64, 4, 4), (1, 128, 2, 2)]
    """

    # Per stage: out_channels, num_blocks, expand_ratio, block_ratio,
    # bottle_ratio (timm's ``cspdarknet53`` config with down_growth=True and
    # cross_linear=False).
    arch_settings: Tuple[Tuple[int, int, float, float, float], ...] = (
        (64, 1, 2.0, 1.0, 0.5),
        (128, 2, 1.0, 0.5, 1.0),
        (256, 8, 1.0, 0.5, 1.0),
        (512, 8, 1.0, 0.5, 1.0),
        (1024, 4, 1.0, 0.5, 1.0),
    )
    stem_channels: int = 32

    def __init__(
        self,
        deepen_factor: float = 1.0,
        widen_factor: float = 1.0,
        in_channels: int = 3,
        out_indices: Sequence[int] = (2, 3, 4),
        frozen_stages: int = -1,
        conv_cfg: Optional[ConfigType] = None,
        norm_cfg: ConfigType = dict(type='BN', momentum=0.03, eps=0.001),
        act_cfg: ConfigType = dict(type='Mish'),
        norm_eval: bool = False,
        init_cfg: OptMultiConfig = dict(
            type='Kaiming',
            layer='Conv2d',
            a=5**0.5,
            distribution='uniform',
            mode='fan_in',
            nonlinearity='leaky_relu')
    ) -> None:
        super().__init__(init_cfg=init_cfg)
        num_stages = len(self.arch_settings)
        out_indices = tuple(out_indices)
        if not out_indices or any(
                i not in range(num_stages) for i in out_indices):
            raise ValueError(f'out_indices must be a non-empty subset of '
                             f'0..{num_stages - 1}, got {out_indices}')
        if frozen_stages not in range(-1, num_stages + 1):
            raise ValueError(f'frozen_stages must be in -1..{num_stages}, '
                             f'got {frozen_stages}')
        if deepen_factor <= 0 or widen_factor <= 0:
            raise ValueError('deepen_factor and widen_factor must be '
                             f'positive, got {deepen_factor}, {widen_factor}')
        stem_channels = scale_channels(self.stem_channels, widen_factor)
        if stem_channels < 1:
            raise ValueError(f'widen_factor={widen_factor} leaves the stem '
                             'without channels')
        self.out_indices = out_indices
        self.frozen_stages = frozen_stages
        self.norm_eval = norm_eval
        cfgs: Dict[str, Any] = dict(
            conv_cfg=conv_cfg, norm_cfg=norm_cfg, act_cfg=act_cfg)

        self.stem = ConvModule(
            in_channels, stem_channels, 3, padding=1, **cfgs)
        self.stages = nn.ModuleList()
        channels = [stem_channels]
        for out_ch, num_blocks, expand, block, bottle in self.arch_settings:
            out_ch = scale_channels(out_ch, widen_factor)
            self.stages.append(
                CSPStage(channels[-1], out_ch,
                         scale_depth(num_blocks, deepen_factor), expand, block,
                         bottle, **cfgs))
            channels.append(out_ch)
        self.out_channels: List[int] = [channels[i + 1] for i in out_indices]
        self.out_strides: List[int] = [2**(i + 1) for i in out_indices]

    def _freeze_stages(self) -> None:
        """Freeze the stem and ``stages[:frozen_stages]`` (see class doc)."""
        if self.frozen_stages < 0:
            return
        frozen = [self.stem, *self.stages[:self.frozen_stages]]
        for module in frozen:
            module.eval()
            for param in module.parameters():
                param.requires_grad = False

    def train(self, mode: bool = True) -> 'CSPDarknet53':
        """Set train/eval mode, keeping frozen parts (and, with ``norm_eval``,
        every BN layer) in eval mode."""
        super().train(mode)
        self._freeze_stages()
        if mode and self.norm_eval:
            for module in self.modules():
                if isinstance(module, _BatchNorm):
                    module.eval()
        return self

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        """Return the feature maps of ``out_indices`` for images ``x`` ([B, C,
        H, W]), finest first."""
        x = self.stem(x)
        outs = []
        for i, stage in enumerate(self.stages):
            x = stage(x)
            if i in self.out_indices:
                outs.append(x)
        return tuple(outs)
