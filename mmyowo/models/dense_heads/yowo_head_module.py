"""Convolutions of the YOWO-Plus head (paper §3.2, §3.4.1).

The loss and prediction logic on their outputs is
:class:`~.yowo_head.YOWOHead`.
"""
import math
from typing import List, Optional, Sequence, Union

import torch.nn as nn
from mmaction.registry import MODELS
from mmcv.cnn import ConvModule
from mmengine.model import BaseModule
from torch import Tensor

from ..layers import SELayer


@MODELS.register_module()
class YOWOHeadModule(BaseModule):
    """Convolutions of the YOWO-Plus head.

    Per level: a 3x3 ConvModule integrating the fused features, SE channel
    attention (§3.4.1) and a 1x1 conv to ``A * (5 + num_classes)`` channels,
    laid out per anchor as ``[tx, ty, tw, th, conf, cls_1 .. cls_C]`` (§3.2).
    The conf and class biases start at ``-log((1 - pi) / pi)`` with
    ``pi = prior_prob`` (§3.3, after eq. 10) so that every prior starts as a
    confident negative.

    Args:
        num_classes (int): Number of action classes.
        in_channels (sequence[int]): Input channels per level, finest first.
        feat_channels (sequence[int], optional): Channels of the 3x3 conv per
            level. Defaults to twice ``in_channels``.
        num_base_priors (int): Anchors per level. Defaults to 3.
        se_ratio (int, optional): SE reduction ratio; ``None`` disables SE.
        prior_prob (float): ``pi`` of the bias initialisation.
        norm_cfg (dict): Norm config. Defaults to BN.
        act_cfg (dict): Activation config. Defaults to LeakyReLU(0.1).
        init_cfg (dict, optional): Initialisation config.
    """

    def __init__(self,
                 num_classes: int,
                 in_channels: Sequence[int] = (128, 256, 512),
                 feat_channels: Optional[Sequence[int]] = None,
                 num_base_priors: int = 3,
                 se_ratio: Optional[int] = 16,
                 prior_prob: float = 0.01,
                 norm_cfg: dict = dict(type='BN', momentum=0.03, eps=0.001),
                 act_cfg: dict = dict(type='LeakyReLU', negative_slope=0.1),
                 init_cfg: Optional[Union[dict, list]] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        if not 0.0 < prior_prob < 1.0:
            raise ValueError(f'prior_prob must be in (0, 1), got {prior_prob}')
        self.num_classes = num_classes
        self.num_base_priors = num_base_priors
        self.prior_prob = prior_prob
        self.num_attrib = 5 + num_classes
        feat_channels = feat_channels or [2 * c for c in in_channels]
        self.convs = nn.ModuleList()
        self.attentions = nn.ModuleList()
        self.preds = nn.ModuleList()
        for c_in, c_feat in zip(in_channels, feat_channels):
            self.convs.append(
                ConvModule(
                    c_in,
                    c_feat,
                    3,
                    padding=1,
                    norm_cfg=norm_cfg,
                    act_cfg=act_cfg))
            self.attentions.append(
                SELayer(c_feat, se_ratio) if se_ratio else nn.Identity())
            self.preds.append(
                nn.Conv2d(c_feat, num_base_priors * self.num_attrib, 1))

    def init_weights(self) -> None:
        """Initialise, then set the conf/class biases of §3.3."""
        super().init_weights()
        bias_value = -math.log((1 - self.prior_prob) / self.prior_prob)
        for pred in self.preds:
            bias = pred.get_parameter('bias').data.view(
                self.num_base_priors, self.num_attrib)
            bias[:, :4].zero_()
            bias[:, 4:].fill_(bias_value)

    def forward(self, feats: Sequence[Tensor]) -> List[Tensor]:
        """Return one ``[B, A * (5 + C), H, W]`` map per level."""
        return [
            pred(att(conv(x))) for x, conv, att, pred in zip(
                feats, self.convs, self.attentions, self.preds)
        ]
