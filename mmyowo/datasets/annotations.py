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

``.pkl`` files are read through :class:`RestrictedUnpickler`, which admits
only numpy arrays / dtypes and builtin containers, so a pickle that tries to
run code (``os.system`` ...) is refused instead of executed. ``.json`` files
hold the same dict with arrays as nested lists (and label keys as strings,
JSON keys being strings).
"""
import builtins
import codecs
import io
import json
import os.path as osp
import pickle
from typing import Any, Dict, List, Tuple

import numpy as np

from mmyowo.utils.atomic_io import atomic_write_bytes
from .annotation_checks import (DEFAULT_BOX_TOLERANCE, normalize_annotations,
                                validate_annotations)

_BUILTIN_TYPES = frozenset({
    'bool', 'bytearray', 'bytes', 'complex', 'dict', 'float', 'frozenset',
    'int', 'list', 'set', 'slice', 'str', 'tuple'
})
# numpy >= 2 moved ``numpy.core`` to ``numpy._core`` (the old path survives as
# a deprecated alias); pickles written by either version name one of them.
_NUMPY_CORE_MODULES = ('numpy.core.multiarray', 'numpy._core.multiarray',
                       'numpy.core.numeric', 'numpy._core.numeric')
_NUMPY_CORE_NAMES = frozenset({'_reconstruct', 'scalar', '_frombuffer'})


class RestrictedUnpickler(pickle.Unpickler):
    """Unpickler admitting only numpy arrays / dtypes and builtin types.

    Any other global (a function such as ``os.system``, an arbitrary class)
    raises :class:`pickle.UnpicklingError` before it can be called.

    Args:
        file: Binary file object to read from.
        source: Name of the file, used in error messages.
    """

    def __init__(self, file: io.BufferedIOBase, source: str) -> None:
        # latin1 lets numpy arrays pickled by Python 2 (the original ACT
        # ground-truth files) load; it does not affect Python 3 pickles.
        super().__init__(file, encoding='latin1')
        self.source = source

    def find_class(self, module: str, name: str) -> Any:
        """Resolve ``module.name`` if it is on the allow-list, else refuse."""
        if module == 'builtins' and name in _BUILTIN_TYPES:
            return getattr(builtins, name)
        if module == '_codecs' and name == 'encode':
            # Protocol <= 2 pickles store bytes (e.g. array buffers) as
            # ``_codecs.encode(text, 'latin1')``; encoding runs no code.
            return codecs.encode
        if module == 'numpy' and name in ('ndarray', 'dtype'):
            return getattr(np, name)
        if module in _NUMPY_CORE_MODULES and name in _NUMPY_CORE_NAMES:
            core = getattr(np, '_core', None) or np.core
            return getattr(getattr(core, module.rsplit('.', 1)[1]), name)
        if module == 'numpy.dtypes' and name.endswith('DType'):
            return getattr(np.dtypes, name)
        raise pickle.UnpicklingError(
            f'{self.source}: refusing to unpickle global {module}.{name}: '
            'annotation pickles may hold only numpy arrays and builtin types '
            '(this file may be malicious or not an annotation file)')


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
            try:
                raw = RestrictedUnpickler(f, path).load()
            except pickle.UnpicklingError as err:
                if str(err).startswith(path):
                    raise ValueError(str(err)) from err
                raise ValueError(f'{path}: not a valid pickle: {err}') from err
            except (EOFError, AttributeError, ImportError, IndexError,
                    TypeError) as err:
                raise ValueError(f'{path}: not a valid pickle: {err}') from err
    elif suffix == '.json':
        with open(path, 'r', encoding='utf-8') as f:
            try:
                raw = json.load(f)
            except json.JSONDecodeError as err:
                raise ValueError(f'{path}: invalid JSON: {err}') from err
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
