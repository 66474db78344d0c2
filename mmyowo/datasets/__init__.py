"""Datasets, annotations and pipeline transforms."""
from . import transforms  # noqa: F401
from .annotations import (load_annotations, save_annotations,
                          validate_annotations)
from .ava_dataset import YOWOAVADataset
from .jhmdb21 import JHMDB21Dataset
from .spatio_temporal_dataset import SpatioTemporalActionDataset
from .ucf24 import UCF24Dataset
from .window_dataset import WindowDataset, stream_windows, window_position

__all__ = [
    'JHMDB21Dataset', 'SpatioTemporalActionDataset', 'UCF24Dataset',
    'YOWOAVADataset', 'load_annotations', 'save_annotations', 'WindowDataset',
    'stream_windows', 'validate_annotations', 'window_position'
]
