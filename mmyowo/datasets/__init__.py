"""Datasets, annotations and pipeline transforms."""
from . import transforms  # noqa: F401
from .annotations import (load_annotations, save_annotations,  # noqa: F401
                          validate_annotations)
from .jhmdb21 import JHMDB21Dataset  # noqa: F401
from .spatio_temporal_dataset import SpatioTemporalActionDataset  # noqa: F401
from .ucf24 import UCF24Dataset  # noqa: F401
