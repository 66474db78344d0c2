"""Losses of the YOWO-Plus head (paper §3.3)."""
from .binary_focal_loss import BinaryFocalLoss, binary_focal_loss
from .ciou_loss import CIoULoss, ciou_loss
from .utils import WeightedLoss, reduce_loss, weight_reduce_loss

__all__ = [
    'BinaryFocalLoss', 'CIoULoss', 'WeightedLoss', 'binary_focal_loss',
    'ciou_loss', 'reduce_loss', 'weight_reduce_loss'
]
