"""Task modules: YOLO box coding and the multi-level top-k assigner."""
from .multi_level_topk_assigner import MultiLevelTopKAssigner, shape_iou
from .yolo_coder import MAX_LOG_WH_RATIO, make_grid_priors, yolo_decode

__all__ = [
    'MAX_LOG_WH_RATIO', 'MultiLevelTopKAssigner', 'make_grid_priors',
    'shape_iou', 'yolo_decode'
]
