"""Canonical spatio-temporal ground truth: load, save, validate.

The canonical ground truth is the ACT-style dict described in
``docs/architecture.md``::

    {
      'labels': [name, ...],                     # index = 0-based label
      'gttubes': {video: {label: [ndarray (n, 5) float32
                                  (frame (1-based), x1, y1, x2, y2)]}},
      'nframes': {video: int},
      'resolution': {video: (h, w)},
      'train_videos': [[video, ...], ...],        # one list per split
      'test_videos': [[video, ...], ...],
    }

Boxes are plain float corners in pixels of the frames on disk. The converters
under ``tools/data`` clip boxes into the frame and drop degenerate ones
(:func:`mmyowo.preparation.conversion.clip_boxes`), so the loader can refuse

- any box that lies outside its frame by more than a small tolerance: such a
  box means the annotation and the frames on disk disagree (e.g. boxes in
  320x240 for 340x256 frames);
- any box of zero or negative area (``x2 <= x1`` or ``y2 <= y1``): its IoU
  with any box is 0 and the training augmentation (``RandomZoomJitter``)
  drops it, so a key frame holding only such boxes would train as
  background, with zero box and class loss;
- a video listed in a split without a ``gttubes`` entry: ACT-style ground
  truth lists every video's tubes, so a missing key means a truncated or
  mismatched file; read as "no action", it would drop that video's boxes
  from training and count its ground truth as absent in evaluation. A video
  without any action must say so with an explicitly empty entry ``{}``.

``.pkl`` files are read by :func:`mmyowo.fileio.load_data_pickle`, which
runs the pickle without importing or calling anything the file names: it
builds builtin containers and numpy arrays of numeric or text dtypes from
their raw bytes, so a pickle that names ``os.system`` (or any other class or
function) is refused instead of executed, and crafted dtypes, sizes or
codecs cannot corrupt memory or exhaust it. ``.json`` files hold the same
dict with arrays as nested lists (and label keys as strings, JSON keys being
strings).
"""
import json
import os.path as osp
import pickle
from typing import Any, Dict, List, Tuple

import numpy as np

from mmyowo.fileio import load_data_pickle
from mmyowo.utils.atomic_io import atomic_write_bytes, load_json
from .annotation_checks import (DEFAULT_BOX_TOLERANCE, normalize_annotations,
                                validate_annotations)


def _to_builtin(obj: Any) -> Any:
    """Turn numpy containers/scalars into JSON-serialisable builtins."""
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, dict):
        return {str(k): _to_builtin(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_to_builtin(v) for v in obj]
    return obj


def load_annotations(path: str,
                     box_tolerance: float = DEFAULT_BOX_TOLERANCE
                     ) -> Dict[str, Any]:
    """Load and validate canonical ground truth from ``.pkl`` or ``.json``.

    Args:
        path: File to read; the suffix selects the format.
        box_tolerance: See :func:`validate_annotations`.

    Returns:
        The canonical dict, with int label keys, float32 ``(n, 5)`` tubes,
        ``(h, w)`` int tuples as resolutions.

    Raises:
        FileNotFoundError: If ``path`` does not exist.
        ValueError: For an unknown suffix, a refused / unreadable pickle,
            invalid JSON or any problem found by :func:`validate_annotations`.
    """
    if not osp.isfile(path):
        raise FileNotFoundError(f'annotation file not found: {path}')
    suffix = osp.splitext(path)[1].lower()
    if suffix == '.pkl':
        with open(path, 'rb') as f:
            data = f.read()
        # PickleRefusedError is a ValueError naming the file.
        raw, _ = load_data_pickle(data, path)
    elif suffix == '.json':
        raw = load_json(path, ValueError)
    else:
        raise ValueError(f'{path}: unknown annotation format {suffix!r} '
                         '(expected .pkl or .json)')
    gt = normalize_annotations(raw, path)
    validate_annotations(gt, path, box_tolerance=box_tolerance)
    return gt


def save_annotations(gt: Dict[str, Any], path: str) -> None:
    """Validate ``gt`` and write it as ``.pkl`` or ``.json`` (by suffix).

    Args:
        gt: Canonical ground truth.
        path: Output file; parent folders are created. It is written
            atomically (:func:`mmyowo.utils.atomic_io.atomic_write_bytes`):
            a failed write leaves the previous file intact.

    Raises:
        ValueError: For an unknown suffix or invalid ground truth.
    """
    suffix = osp.splitext(path)[1].lower()
    if suffix not in ('.pkl', '.json'):
        raise ValueError(f'{path}: unknown annotation format {suffix!r} '
                         '(expected .pkl or .json)')
    gt = normalize_annotations(gt, path)
    validate_annotations(gt, path)
    # Atomically: a full disk or a kill while overwriting an existing file
    # keeps its previous content instead of leaving it truncated.
    if suffix == '.pkl':
        data = pickle.dumps(gt, protocol=pickle.HIGHEST_PROTOCOL)
    else:
        data = json.dumps(_to_builtin(gt)).encode('utf-8')
    atomic_write_bytes(data, path)


def group_boxes_by_frame(
    gttubes: Dict[int, List[np.ndarray]]
) -> Dict[int, Tuple[np.ndarray, np.ndarray]]:
    """Group one video's tubes by frame.

    Args:
        gttubes: ``{label: [(n, 5) tube, ...]}`` of one video.

    Returns:
        ``{frame: (boxes (k, 4) float32, labels (k,) int64)}`` for every
        frame that has at least one box, boxes ordered by label then tube.
    """
    boxes: Dict[int, List[np.ndarray]] = {}
    labels: Dict[int, List[int]] = {}
    for label in sorted(gttubes):
        for tube in gttubes[label]:
            for row in tube:
                frame = int(row[0])
                boxes.setdefault(frame, []).append(row[1:5])
                labels.setdefault(frame, []).append(label)
    return {
        frame: (np.asarray(boxes[frame], dtype=np.float32).reshape(-1, 4),
                np.asarray(labels[frame], dtype=np.int64))
        for frame in boxes
    }
