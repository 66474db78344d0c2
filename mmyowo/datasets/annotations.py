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
(:func:`mmyowo.datasets.conversion.clip_boxes`), so the loader can refuse

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
import os
import os.path as osp
import pickle
from typing import Any, Dict, List, Tuple

import numpy as np

REQUIRED_KEYS = ('labels', 'gttubes', 'nframes', 'resolution', 'train_videos',
                 'test_videos')
SPLIT_KEYS = ('train_videos', 'test_videos')
# A box may poke out of its frame by this many pixels before it is refused:
# enough for the rounding of third-party ground truth, far below any real
# mismatch between annotation and frame sizes.
DEFAULT_BOX_TOLERANCE = 1.0

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


def _tube_array(tube: Any, where: str) -> np.ndarray:
    """One tube as a float32 ``(n, 5)`` array (``(0, 5)`` if empty)."""
    try:
        array = np.asarray(tube, dtype=np.float32)
    except (TypeError, ValueError) as err:
        raise ValueError(f'{where}: a tube is not a numeric (n, 5) array: '
                         f'{err}') from err
    if array.size == 0:
        return np.zeros((0, 5), np.float32)
    if array.ndim != 2 or array.shape[1] != 5:
        raise ValueError(f'{where}: a tube has shape {array.shape}, expected '
                         '(n, 5) rows (frame, x1, y1, x2, y2)')
    return array


def _normalize(gt: Dict[str, Any], source: str) -> Dict[str, Any]:
    """Give every field its canonical Python / numpy type.

    JSON files carry label keys as strings and arrays as lists; pickles from
    other tools may carry numpy integers. Structure errors are left to
    :func:`validate_annotations` unless a conversion itself fails.
    """
    if not isinstance(gt, dict):
        raise ValueError(f'{source}: annotation file must hold a dict, got '
                         f'{type(gt).__name__}')
    out = dict(gt)
    try:
        if 'labels' in gt:
            out['labels'] = [str(name) for name in gt['labels']]
        if 'nframes' in gt:
            out['nframes'] = {str(v): int(n) for v, n in gt['nframes'].items()}
        if 'resolution' in gt:
            out['resolution'] = {
                str(v): tuple(int(s) for s in hw)
                for v, hw in gt['resolution'].items()
            }
        for key in SPLIT_KEYS:
            if key in gt:
                out[key] = [[str(v) for v in split] for split in gt[key]]
    except (TypeError, ValueError, AttributeError) as err:
        raise ValueError(f'{source}: malformed annotation field: {err}') \
            from err
    if 'gttubes' in gt:
        tubes_out = {}
        for video, tubes in gt['gttubes'].items():
            if not isinstance(tubes, dict):
                raise ValueError(
                    f'{source}: video {video!r}: gttubes entry must be a '
                    f'dict label -> list of tubes, got {type(tubes).__name__}')
            per_label = {}
            for label, tube_list in tubes.items():
                where = f'{source}: video {video!r}: label {label!r}'
                if not str(label).lstrip('-').isdigit():
                    raise ValueError(f'{where}: labels must be integers')
                per_label[int(label)] = [
                    _tube_array(t, where) for t in tube_list
                ]
            tubes_out[str(video)] = per_label
        out['gttubes'] = tubes_out
    return out


def validate_annotations(gt: Dict[str, Any],
                         source: str,
                         box_tolerance: float = DEFAULT_BOX_TOLERANCE) -> None:
    """Check a canonical ground-truth dict; raise on the first problem.

    Args:
        gt: Canonical ground truth (already normalised: int label keys,
            ``(n, 5)`` float arrays).
        source: Name of the file the dict came from, used in every message.
        box_tolerance: How many pixels a box may lie outside its frame.

    Raises:
        ValueError: Naming ``source`` and the video, for a missing key, a
            video in a split list unknown to ``nframes`` / ``resolution``,
            split videos without a ``gttubes`` entry (their count and the
            first few are named; an empty entry ``{}`` is a video without
            action and is accepted), a tube video without ``nframes`` /
            ``resolution``, a label out of range, a frame < 1 or > nframes,
            a duplicated frame in one tube, a box of zero or negative area
            (``x2 <= x1`` or ``y2 <= y1``), a non-finite value, or a box
            outside the frame by more than ``box_tolerance``.
    """
    for key in REQUIRED_KEYS:
        if key not in gt:
            raise ValueError(f'{source}: missing key {key!r} (a canonical '
                             f'annotation needs {", ".join(REQUIRED_KEYS)})')
    num_labels = len(gt['labels'])
    nframes, resolution = gt['nframes'], gt['resolution']
    for video, n in nframes.items():
        if n < 1:
            raise ValueError(f'{source}: video {video!r}: nframes must be '
                             f'>= 1, got {n}')
    for video, hw in resolution.items():
        if len(hw) != 2 or min(hw) < 1:
            raise ValueError(f'{source}: video {video!r}: resolution must be '
                             f'(h, w) with positive sizes, got {hw}')
    if len(gt['train_videos']) != len(gt['test_videos']):
        raise ValueError(
            f'{source}: train_videos has {len(gt["train_videos"])} splits '
            f'but test_videos has {len(gt["test_videos"])}')
    for key in SPLIT_KEYS:
        for split, videos in enumerate(gt[key]):
            for video in videos:
                if video not in nframes:
                    raise ValueError(
                        f'{source}: video {video!r} in {key}[{split}] is '
                        'unknown to nframes')
                if video not in resolution:
                    raise ValueError(
                        f'{source}: video {video!r} in {key}[{split}] has no '
                        'resolution')
    _check_split_videos_have_tubes(gt, source)
    for video, tubes in gt['gttubes'].items():
        if video not in nframes or video not in resolution:
            raise ValueError(f'{source}: video {video!r} has gttubes but no '
                             'nframes / resolution entry')
        for label, tube_list in tubes.items():
            if not 0 <= label < num_labels:
                raise ValueError(
                    f'{source}: video {video!r}: label {label} outside '
                    f'[0, {num_labels}) (labels has {num_labels} names)')
            for index, tube in enumerate(tube_list):
                _validate_tube(tube, nframes[video], resolution[video],
                               box_tolerance,
                               f'{source}: video {video!r}: label {label} '
                               f'tube {index}')


def _check_split_videos_have_tubes(gt: Dict[str, Any], source: str) -> None:
    """Refuse split videos whose key is absent from ``gttubes``.

    Absent is not empty: ``{}`` states that a video has no action, a missing
    key is a gap in the file (see the module docstring).
    """
    missing: Dict[str, str] = {}
    for key in SPLIT_KEYS:
        for split, videos in enumerate(gt[key]):
            for video in videos:
                if video not in gt['gttubes']:
                    missing.setdefault(video, f'{key}[{split}]')
    if missing:
        examples = ', '.join(f'{video!r} ({where})'
                             for video, where in list(missing.items())[:3])
        raise ValueError(
            f'{source}: {len(missing)} split video(s) have no gttubes entry, '
            f'e.g. {examples}; every listed video needs one (an empty dict '
            '{} for a video without action)')


def _validate_tube(tube: np.ndarray, nframes: int, hw: Tuple[int, int],
                   tolerance: float, where: str) -> None:
    """Check one ``(n, 5)`` tube array (see :func:`validate_annotations`)."""
    if tube.ndim != 2 or tube.shape[1] != 5:
        raise ValueError(f'{where}: expected an (n, 5) array, got shape '
                         f'{tube.shape}')
    if not np.isfinite(tube).all():
        raise ValueError(f'{where}: contains NaN or infinite values')
    frames = tube[:, 0]
    if (frames != np.round(frames)).any():
        raise ValueError(f'{where}: frame numbers must be integers')
    bad = np.flatnonzero((frames < 1) | (frames > nframes))
    if bad.size:
        raise ValueError(f'{where}: frame {int(frames[bad[0]])} outside '
                         f'[1, nframes={nframes}]')
    if np.unique(frames).size != frames.size:
        raise ValueError(f'{where}: a frame appears twice in one tube')
    x1, y1, x2, y2 = tube[:, 1], tube[:, 2], tube[:, 3], tube[:, 4]
    # Zero-area boxes are refused too: augmentation drops them and their key
    # frame would train as background (module docstring).
    for name, bad in (('x2 <= x1', x2 <= x1), ('y2 <= y1', y2 <= y1)):
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise ValueError(f'{where}: frame {int(frames[i])}: box '
                             f'{tube[i, 1:].tolist()} has zero or negative '
                             f'area ({name})')
    h, w = hw
    outside = ((x1 < -tolerance) | (y1 < -tolerance) | (x2 > w + tolerance)
               | (y2 > h + tolerance))
    if outside.any():
        i = int(np.flatnonzero(outside)[0])
        raise ValueError(
            f'{where}: frame {int(frames[i])}: box {tube[i, 1:].tolist()} '
            f'lies outside the {w}x{h} frame (tolerance {tolerance} px); are '
            'the boxes scaled to the frames on disk?')


def load_annotations(
        path: str,
        box_tolerance: float = DEFAULT_BOX_TOLERANCE) -> Dict[str, Any]:
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
    gt = _normalize(raw, path)
    validate_annotations(gt, path, box_tolerance=box_tolerance)
    return gt


def save_annotations(gt: Dict[str, Any], path: str) -> None:
    """Validate ``gt`` and write it as ``.pkl`` or ``.json`` (by suffix).

    Args:
        gt: Canonical ground truth.
        path: Output file; parent folders are created.

    Raises:
        ValueError: For an unknown suffix or invalid ground truth.
    """
    suffix = osp.splitext(path)[1].lower()
    if suffix not in ('.pkl', '.json'):
        raise ValueError(f'{path}: unknown annotation format {suffix!r} '
                         '(expected .pkl or .json)')
    gt = _normalize(gt, path)
    validate_annotations(gt, path)
    parent = osp.dirname(osp.abspath(path))
    os.makedirs(parent, exist_ok=True)
    if suffix == '.pkl':
        with open(path, 'wb') as f:
            pickle.dump(gt, f, protocol=pickle.HIGHEST_PROTOCOL)
    else:
        with open(path, 'w', encoding='utf-8') as f:
            json.dump(_to_builtin(gt), f)


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
