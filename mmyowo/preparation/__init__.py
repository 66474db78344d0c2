"""Data preparation: converters' helpers, media probing, synthetic sets.

What ``tools/data`` (and the tests) use to *make* the files that the
datasets read: the helpers of the ground-truth converters
(:mod:`.conversion`, :mod:`.csv_annotations`, :mod:`.csv_tubes`), the
measuring of videos and rawframe folders on disk (:mod:`.media_probe`) and
the synthetic motion datasets in the canonical and the AVA layout
(:mod:`.synthetic`, :mod:`.synthetic_ava`).

A top-level package rather than ``mmyowo/datasets/preparation``: runtime
packages (``datasets``, ``models``, ``evaluation``, ``engine``, ``apis``)
hold what training and inference import, and ``import mmyowo`` loads only
those, never this package. Preparation code depends on the runtime
(it writes through :func:`mmyowo.datasets.save_annotations` and opens
videos as the decoding transforms do), never the other way round; tools and
tests import it explicitly.
"""
from .conversion import (clip_boxes, new_ground_truth, read_split_list,
                         sanitize_tube, save_converted, split_videos)
from .csv_annotations import (CSVAnnotationError, CSVOptions, CSVRow,
                              read_csv_annotations)
from .media_probe import (parse_frame_number, probe_media, probe_rawframes,
                          probe_video)
from .synthetic import generate_synthetic_dataset
from .synthetic_ava import AVA_SYNTHETIC_ACTIONS, generate_synthetic_ava
from .synthetic_scene import SYNTHETIC_CLASSES, SyntheticConfig

__all__ = [
    'AVA_SYNTHETIC_ACTIONS', 'CSVAnnotationError', 'CSVOptions', 'CSVRow',
    'SYNTHETIC_CLASSES', 'SyntheticConfig', 'clip_boxes',
    'generate_synthetic_ava', 'generate_synthetic_dataset', 'new_ground_truth',
    'parse_frame_number', 'probe_media', 'probe_rawframes', 'probe_video',
    'read_csv_annotations', 'read_split_list', 'sanitize_tube',
    'save_converted', 'split_videos'
]
