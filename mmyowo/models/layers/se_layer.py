"""Squeeze-and-excitation channel attention (paper §3.4.1, Fig. 5)."""
from typing import Optional, Sequence, Union

import torch
import torch.nn as nn
from mmaction.registry import MODELS
from mmcv.cnn import ConvModule

from ..utils import InitCfgModule


@MODELS.register_module()
class SELayer(InitCfgModule):
    """Squeeze-and-excitation layer (Hu et al., 2018).

    Compression: global average pooling; excitation: a two-layer bottleneck
    (implemented with 1x1 convolutions, equivalent to fully connected layers on
    the pooled vector) whose sigmoid output re-weights the channels.

    Args:
        channels (int): Input (and output) channels.
        ratio (int): Bottleneck reduction ratio. Defaults to 16.
        act_cfg (sequence[dict]): Activations of the two layers.
            Defaults to ReLU then Sigmoid.
        init_cfg (dict, optional): Initialisation config.
    """

    def __init__(self,
                 channels: int,
                 ratio: int = 16,
                 act_cfg: Sequence[dict] = (dict(type='ReLU'),
                                            dict(type='Sigmoid')),
                 init_cfg: Optional[Union[dict, list]] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        if len(act_cfg) != 2:
            raise ValueError(f'act_cfg needs two entries, got {act_cfg}')
        hidden = max(1, channels // ratio)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.squeeze = ConvModule(channels, hidden, 1, act_cfg=act_cfg[0])
        self.excite = ConvModule(hidden, channels, 1, act_cfg=act_cfg[1])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Re-weight the channels of ``x`` ([B, C, H, W])."""
        return x * self.excite(self.squeeze(self.pool(x)))
