"""Save / load detection results (the input of ``tools/analysis``).

A results file is an ``.npz`` archive (no pickled objects) holding

* ``detections``: ``(N, 8)`` float64 rows ``[video_index, frame, label,
  score, x1, y1, x2, y2]``,
* ``videos``: the evaluated video ids (``video_index`` indexes them),
* ``class_names``, ``ann_file`` (str) and ``split`` (int).
"""
import os.path as osp
from typing import Any, Dict, Sequence

import numpy as np

from mmyowo.utils.atomic_io import atomic_writer
from .inputs import DETECTION_COLUMNS

RESULT_KEYS = ('detections', 'videos', 'class_names', 'ann_file', 'split')


def save_detection_results(path: str, detections: np.ndarray,
                           videos: Sequence[str], class_names: Sequence[str],
                           ann_file: str, split: int) -> None:
    """Write a results file (module docstring); parent folders are made.

    Raises:
        ValueError: If ``path`` does not end in ``.npz`` or ``detections``
            is not ``(N, 8)``.
    """
    if not path.endswith('.npz'):
        raise ValueError(f'{path}: results files are .npz archives')
    detections = np.asarray(detections, dtype=np.float64)
    if detections.ndim != 2 or detections.shape[1] != len(DETECTION_COLUMNS):
        raise ValueError(f'{path}: detections must be (N, 8), got '
                         f'{detections.shape}')
    # Atomically: a failed write keeps a previous results file intact.
    with atomic_writer(path) as f:
        np.savez_compressed(
            f,
            detections=detections,
            videos=np.array(list(videos), dtype=str),
            class_names=np.array(list(class_names), dtype=str),
            ann_file=np.array(ann_file, dtype=str),
            split=np.array(split, dtype=np.int64))


def load_detection_results(path: str) -> Dict[str, Any]:
    """Read a results file written by :func:`save_detection_results`.

    Returns:
        dict with ``detections`` (ndarray), ``videos`` and ``class_names``
        (lists of str), ``ann_file`` (str) and ``split`` (int).

    Raises:
        FileNotFoundError: If ``path`` does not exist.
        ValueError: If it is not such an archive.
    """
    if not osp.isfile(path):
        raise FileNotFoundError(f'results file not found: {path}')
    try:
        with np.load(path, allow_pickle=False) as data:
            contents = {key: data[key] for key in data.files}
    except (OSError, EOFError, ValueError) as err:
        raise ValueError(f'{path}: cannot read results archive: {err}') \
            from err
    missing = [key for key in RESULT_KEYS if key not in contents]
    if missing:
        raise ValueError(f'{path}: not a detection results file (missing '
                         f'{missing})')
    return dict(
        detections=contents['detections'],
        videos=[str(v) for v in contents['videos']],
        class_names=[str(c) for c in contents['class_names']],
        ann_file=str(contents['ann_file']),
        split=int(contents['split']))
