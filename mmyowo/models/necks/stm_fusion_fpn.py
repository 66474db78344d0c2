"""Secondary fusion neck of YOWO-Plus: STM fusion then a top-down FPN."""
from typing import List, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
from mmaction.registry import MODELS
from mmcv.cnn import ConvModule
from mmengine.model import BaseModule

from ..layers import DropBlock


class ScaleTransfer(nn.Module):
    """Scale-transfer module (STM, paper §3.2, Fig. 4; Zhou et al., 2018).

    A parameter-free, lossless pixel shuffle: every ``r * r`` channels are
    rearranged onto an ``r x r`` patch, so ``[B, C, H, W]`` becomes
    ``[B, C / r^2, rH, rW]``. ``r = 1`` is the identity.
    """

    def __init__(self, scale: int) -> None:
        super().__init__()
        self.scale = scale
        self.shuffle = nn.PixelShuffle(scale) if scale > 1 else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``[B, C, H, W]`` -> ``[B, C / r^2, rH, rW]``."""
        return self.shuffle(x)


@MODELS.register_module()
class STMFusionFPN(BaseModule):
    """Fuse the 3D map with each 2D level (STM + two convs), then a top-down
    FPN (paper §3.2, Fig. 3, eq. 4's ``f_fuse``).

    First fusion, per level ``i`` (strides 8, 16, 32): the 3D map (stride
    ``stride_3d``) is brought to the level's resolution by
    ``ScaleTransfer(stride_3d / stride_i)``, concatenated with the 2D features
    and fused by two ConvModules (1x1 then 3x3; conv, BN, LeakyReLU).

    Second fusion, top-down (YOLOv3 style): at the coarsest level three convs
    (1x1, 3x3, 1x1); an UpSample (1x1 conv + nearest x2) carries the result to
    the next finer level, where it is concatenated with that level's fused map
    and again passed through three convs. DropBlock (§3.4.2) follows the 3x3
    conv of every three-conv block in training.

    With ``in_channels_3d=0`` the STM path is skipped, giving a 2D-only
    detector (used to measure what the 3D branch contributes).

    The default three levels (``C``: concatenation along channels; ``3
    convs``: 1x1, 3x3, DropBlock, 1x1; ``UpSample``: 1x1 conv, nearest x2)::

        feat_3d [B, C3d, H/32, W/32]
          |
          +--> STM(4) --+     +--> STM(2) --+     +--> STM(1) --+
                        |                   |                   |
        stride 8  ------C     stride 16 ----C     stride 32 ----C
                        |                   |                   |
                   1x1, 3x3            1x1, 3x3            1x1, 3x3
                        |                   |                   |
                        |                   |                3 convs
                        |                   |                   |--> out 32
                        |                   |                   |
                        |                   C <-- UpSample -----+
                        |                   |
                        |                3 convs --> out 16
                        |                   |
                        C <-- UpSample -----+
                        |
                     3 convs --> out 8

    Args:
        in_channels_2d (sequence[int]): Channels of the 2D levels, finest
            first.
        in_channels_3d (int): Channels of the (time-collapsed) 3D map; each
            STM scale squared must divide it. 0 disables the 3D input.
        out_channels (sequence[int]): Output channels per level, finest first.
        strides (sequence[int]): Strides of the 2D levels.
        stride_3d (int): Stride of the 3D map. Defaults to 32.
        drop_block_cfg (dict, optional): ``DropBlock`` arguments; ``None``
            disables it.
        norm_cfg (dict): Norm config. Defaults to BN.
        act_cfg (dict): Activation config. Defaults to LeakyReLU(0.1).
        init_cfg (dict, optional): Initialisation config.

    Example:
        >>> import torch
        >>> from mmyowo.models.necks import STMFusionFPN
        >>> neck = STMFusionFPN(in_channels_2d=(16, 32, 64),
        ...                     in_channels_3d=64,
        ...                     out_channels=(8, 16, 32)).eval()
        >>> feats_2d = [torch.rand(1, 16, 8, 8), torch.rand(1, 32, 4, 4),
        ...             torch.rand(1, 64, 2, 2)]
        >>> feat_3d = torch.rand(1, 64, 2, 2)  # stride 32, like the last
        >>> [tuple(out.shape) for out in neck(feats_2d, feat_3d)]
        [(1, 8, 8, 8), (1, 16, 4, 4), (1, 32, 2, 2)]
    """

    def __init__(self,
                 in_channels_2d: Sequence[int] = (256, 512, 1024),
                 in_channels_3d: int = 2048,
                 out_channels: Sequence[int] = (128, 256, 512),
                 strides: Sequence[int] = (8, 16, 32),
                 stride_3d: int = 32,
                 drop_block_cfg: Optional[dict] = dict(
                     drop_prob=0.1, block_size=3),
                 norm_cfg: dict = dict(type='BN', momentum=0.03, eps=0.001),
                 act_cfg: dict = dict(type='LeakyReLU', negative_slope=0.1),
                 init_cfg: Optional[Union[dict, list]] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        if not len(in_channels_2d) == len(out_channels) == len(strides):
            raise ValueError('in_channels_2d, out_channels and strides must '
                             'have one entry per level')
        self.in_channels_2d = tuple(in_channels_2d)
        self.in_channels_3d = in_channels_3d
        self.out_channels = tuple(out_channels)
        self.strides = tuple(strides)
        conv = dict(norm_cfg=norm_cfg, act_cfg=act_cfg)

        self.stms = nn.ModuleList()
        self.fuse_convs = nn.ModuleList()
        for c2d, stride in zip(in_channels_2d, strides):
            scale = stride_3d // stride
            if scale * stride != stride_3d:
                raise ValueError(f'stride_3d {stride_3d} is not a multiple of '
                                 f'level stride {stride}')
            if in_channels_3d % (scale * scale):
                raise ValueError(
                    f'3D channels {in_channels_3d} are not divisible by the '
                    f'STM scale {scale}^2 of stride {stride}; project them '
                    f'with I3DNeck(out_channels=...)')
            c3d = in_channels_3d // (scale * scale)
            self.stms.append(ScaleTransfer(scale))
            self.fuse_convs.append(
                nn.Sequential(
                    ConvModule(c2d + c3d, c2d, 1, **conv),
                    ConvModule(c2d, c2d, 3, padding=1, **conv)))

        n = len(strides)
        self.blocks = nn.ModuleList()
        self.upsamples = nn.ModuleList()
        for i in range(n - 1, -1, -1):  # coarsest first
            c_out = out_channels[i]
            c_in = in_channels_2d[i]
            if i < n - 1:
                c_in += out_channels[i + 1] // 2
            layers = [
                ConvModule(c_in, c_out, 1, **conv),
                ConvModule(c_out, c_out * 2, 3, padding=1, **conv),
            ]
            if drop_block_cfg is not None:
                layers.append(DropBlock(**drop_block_cfg))
            layers.append(ConvModule(c_out * 2, c_out, 1, **conv))
            self.blocks.append(nn.Sequential(*layers))
            if i > 0:
                self.upsamples.append(
                    nn.Sequential(
                        ConvModule(c_out, c_out // 2, 1, **conv),
                        nn.Upsample(scale_factor=2, mode='nearest')))

    def fuse(self, feats_2d: Sequence[torch.Tensor],
             feat_3d: Optional[torch.Tensor]) -> List[torch.Tensor]:
        """First fusion: STM-upsampled 3D map + each 2D level.

        Raises:
            ValueError: If the neck was built with a 3D input
                (``in_channels_3d > 0``) and ``feat_3d`` is ``None``, or the
                STM-scaled 3D map does not match a 2D level.
        """
        if self.in_channels_3d and feat_3d is None:
            raise ValueError('STMFusionFPN was built with a 3D input but '
                             'got feat_3d=None')
        # A 2D-only neck (in_channels_3d=0) ignores a 3D map.
        feat_3d = feat_3d if self.in_channels_3d else None
        fused = []
        for x2d, stm, convs in zip(feats_2d, self.stms, self.fuse_convs):
            if feat_3d is not None:
                x3d = stm(feat_3d)
                if x3d.shape[-2:] != x2d.shape[-2:]:
                    raise ValueError(
                        f'3D map {tuple(feat_3d.shape[-2:])} scaled by STM '
                        f'to {tuple(x3d.shape[-2:])} does not match the 2D '
                        f'level {tuple(x2d.shape[-2:])}; the input height '
                        'and width must be multiples of 32')
                x2d = torch.cat([x2d, x3d], dim=1)
            fused.append(convs(x2d))
        return fused

    def forward(self,
                feats_2d: Sequence[torch.Tensor],
                feat_3d: Optional[torch.Tensor] = None
                ) -> Tuple[torch.Tensor, ...]:
        """Fuse and aggregate.

        Args:
            feats_2d (sequence[Tensor]): 2D levels ``[B, C_i, H_i, W_i]``,
                finest first.
            feat_3d (Tensor, optional): ``[B, C3d, H/32, W/32]``; required
                unless ``in_channels_3d == 0``.

        Returns:
            tuple[Tensor]: One map per level, finest first.
        """
        if len(feats_2d) != len(self.strides):
            raise ValueError(f'expected {len(self.strides)} 2D levels, '
                             f'got {len(feats_2d)}')
        fused = self.fuse(feats_2d, feat_3d)
        outs = []
        x = None
        for k, i in enumerate(range(len(fused) - 1, -1, -1)):
            inp = fused[i] if x is None else torch.cat(
                [self.upsamples[k - 1](x), fused[i]], dim=1)
            x = self.blocks[k](inp)
            outs.append(x)
        return tuple(reversed(outs))
