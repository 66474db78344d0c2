"""Necks: the 3D-branch neck and the STM fusion + FPN neck."""
from .i3d_neck import I3DNeck, TemporalPoolNeck
from .stm_fusion_fpn import ScaleTransfer, STMFusionFPN

__all__ = ['I3DNeck', 'ScaleTransfer', 'STMFusionFPN', 'TemporalPoolNeck']
