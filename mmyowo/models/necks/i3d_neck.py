"""Neck of the 3D branch: collapse time so the fusion sees a 2D map.

Nothing in it is specific to I3D: it pools the time axis of any 3D
backbone's output. The name follows the default 3D branch (I3D-R50); the
same class is also registered as ``TemporalPoolNeck``.
"""
from typing import Optional, Sequence, Union

import torch
from mmaction.registry import MODELS
from mmcv.cnn import ConvModule

from ..utils import InitCfgModule


@MODELS.register_module(name=['I3DNeck', 'TemporalPoolNeck'])
class I3DNeck(InitCfgModule):
    """Generic temporal pooling (and optional channel projection) of the
    features of any 3D backbone; registered as ``I3DNeck`` and
    ``TemporalPoolNeck``.

    Any mmaction 3D backbone (I3D ``ResNet3d``, ``ResNet3dSlowOnly``, ``X3D``,
    ...) yields ``[B, C, T', H/32, W/32]``; the fusion neck (paper §3.2,
    Fig. 3) needs ``[B, C, H/32, W/32]``: YOWO-Plus takes only the 3D
    branch's last, lowest-resolution map (§3.2), whose time axis the paper
    leaves implicit. Here it is averaged (or max-pooled, or its newest slice
    is taken), then an optional 1x1 ConvModule projects the channels, e.g. so
    that they are divisible by the squared scale factors of the STM. Nothing
    here depends on the backbone being I3D; the name only follows the default
    3D branch.

    ``'last'`` is for models whose key frame is always the newest clip frame
    (the causal per-frame mode of live video): the last time slice is the
    one aligned with the key frame, whereas the average cannot tell motion
    at the key frame from motion earlier in the clip. It needs a fixed key
    position; a model trained with the key frame anywhere in the clip
    (KFRS) should keep ``'avg'``.

    Args:
        in_channels (int): Channels of the 3D backbone output.
        out_channels (int, optional): Channels after projection. ``None``
            keeps ``in_channels`` and adds no parameters.
        temporal_pool (str): ``'avg'``, ``'max'`` or ``'last'`` (the newest
            time slice).
        norm_cfg (dict): Norm of the projection. Defaults to BN.
        act_cfg (dict): Activation of the projection. Defaults to LeakyReLU.
        init_cfg (dict, optional): Initialisation config.
    """

    def __init__(self,
                 in_channels: int,
                 out_channels: Optional[int] = None,
                 temporal_pool: str = 'avg',
                 norm_cfg: dict = dict(type='BN', momentum=0.03, eps=0.001),
                 act_cfg: dict = dict(type='LeakyReLU', negative_slope=0.1),
                 init_cfg: Optional[Union[dict, list]] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        if temporal_pool not in ('avg', 'max', 'last'):
            raise ValueError("temporal_pool must be 'avg', 'max' or 'last', "
                             f'got {temporal_pool!r}')
        self.in_channels = in_channels
        self.temporal_pool = temporal_pool
        self.out_channels = out_channels or in_channels
        self.proj = None
        if out_channels is not None:
            self.proj = ConvModule(
                in_channels,
                out_channels,
                1,
                norm_cfg=norm_cfg,
                act_cfg=act_cfg)

    def forward(self, x: Union[torch.Tensor,
                               Sequence[torch.Tensor]]) -> torch.Tensor:
        """Pool ``x`` ([B, C, T, H, W], or a sequence whose last item is) over
        time and return ``[B, out_channels, H, W]``.

        Raises:
            TypeError: If ``x`` is neither a tensor nor a list / tuple whose
                last item is one.
            ValueError: If the tensor is not 5-dimensional.
        """
        if isinstance(x, (list, tuple)):
            x = x[-1]
        if not isinstance(x, torch.Tensor):
            raise TypeError('I3DNeck expects a tensor or a list / tuple of '
                            f'tensors, got {type(x).__name__}')
        if x.dim() != 5:
            raise ValueError('I3DNeck expects a [B, C, T, H, W] tensor, got '
                             f'{tuple(x.shape)}')
        if self.temporal_pool == 'avg':
            x = x.mean(dim=2)
        elif self.temporal_pool == 'max':
            x = x.amax(dim=2)
        else:
            x = x[:, :, -1]
        return x if self.proj is None else self.proj(x)


#: The name that says what the neck does (same class as :class:`I3DNeck`).
TemporalPoolNeck = I3DNeck
