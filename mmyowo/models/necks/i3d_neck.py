"""Neck of the 3D branch: collapse time so the fusion sees a 2D map."""
from typing import Optional, Sequence, Union

import torch
from mmcv.cnn import ConvModule

from mmaction.registry import MODELS
from ..utils import InitCfgModule


@MODELS.register_module()
class I3DNeck(InitCfgModule):
    """Temporal pooling (and optional channel projection) of 3D features.

    Any mmaction 3D backbone (I3D ``ResNet3d``, ``ResNet3dSlowOnly``, ``X3D``,
    ...) yields ``[B, C, T', H/32, W/32]``; the fusion neck (paper §3.2,
    Fig. 3) needs ``[B, C, H/32, W/32]``. The time axis is averaged (or
    max-pooled), then an optional 1x1 ConvModule projects the channels, e.g.
    so that they are divisible by the squared scale factors of the STM.

    Args:
        in_channels (int): Channels of the 3D backbone output.
        out_channels (int, optional): Channels after projection. ``None``
            keeps ``in_channels`` and adds no parameters.
        temporal_pool (str): ``'avg'`` or ``'max'``.
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
        if temporal_pool not in ('avg', 'max'):
            raise ValueError(
                f"temporal_pool must be 'avg' or 'max', got {temporal_pool!r}")
        self.in_channels = in_channels
        self.temporal_pool = temporal_pool
        self.out_channels = out_channels or in_channels
        self.proj = None
        if out_channels is not None:
            self.proj = ConvModule(
                in_channels, out_channels, 1, norm_cfg=norm_cfg,
                act_cfg=act_cfg)

    def forward(self, x: Union[torch.Tensor, Sequence[torch.Tensor]]
                ) -> torch.Tensor:
        """Pool ``x`` ([B, C, T, H, W], or a sequence whose last item is) over
        time and return ``[B, out_channels, H, W]``."""
        if isinstance(x, (list, tuple)):
            x = x[-1]
        if x.dim() != 5:
            raise ValueError(
                f'I3DNeck expects a [B, C, T, H, W] tensor, got {tuple(x.shape)}')
        x = x.mean(dim=2) if self.temporal_pool == 'avg' else x.amax(dim=2)
        return x if self.proj is None else self.proj(x)
