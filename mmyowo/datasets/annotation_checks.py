"""Checks of canonical ground truth (see :mod:`.annotations`).

:func:`normalize_annotations` gives every field its canonical type and
refuses fields of the wrong type; :func:`validate_annotations` then checks
what the fields say (splits, tubes, frames, boxes). Both name the file and
the field or video of the first problem; ``load_annotations`` and
``save_annotations`` run both, and the module docstring there says why each
problem is refused.
"""
from typing import Any, Dict, Tuple

import numpy as np

REQUIRED_KEYS = ('labels', 'gttubes', 'nframes', 'resolution', 'train_videos',
                 'test_videos')
SPLIT_KEYS = ('train_videos', 'test_videos')
# A box may poke out of its frame by this many pixels before it is refused:
# enough for the rounding of third-party ground truth, far below any real
# mismatch between annotation and frame sizes.
DEFAULT_BOX_TOLERANCE = 1.0


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


def _sequence(value: Any, what: str) -> Any:
    """``value`` if it is a list, tuple or array; else ``ValueError``.

    Strings are sequences too, but one where a list is expected is a
    malformed file: iterated, ``'Run'`` would become the labels ``R, u, n``
    and a flat list of video ids a list of one-character splits.
    """
    if not isinstance(value, (list, tuple, np.ndarray)):
        raise ValueError(f'{what} must be a list, got '
                         f'{type(value).__name__} {value!r:.60}')
    return value


def _mapping(value: Any, what: str) -> Dict:
    """``value`` if it is a dict; else ``ValueError``."""
    if not isinstance(value, dict):
        raise ValueError(f'{what} must be a dict, got '
                         f'{type(value).__name__} {value!r:.60}')
    return value


def _integer(value: Any, what: str) -> int:
    """``value`` as an int if it is integral (``6``, ``np.int64(6)``, ``6.0``);
    a fraction such as ``6.7`` would otherwise be truncated."""
    if isinstance(value, (bool, np.bool_)):
        raise ValueError(f'{what} must be an integer, got {value!r}')
    try:
        number = float(value)
    except (TypeError, ValueError) as err:
        raise ValueError(f'{what} must be an integer, got {value!r:.60}') \
            from err
    except OverflowError as err:
        # An int beyond float's range: no frame count or size is that big.
        raise ValueError(f'{what} is out of range: {value!r:.60}') from err
    if not number.is_integer():
        raise ValueError(f'{what} must be an integer, got {value!r}')
    return int(number)


def normalize_annotations(gt: Dict[str, Any], source: str) -> Dict[str, Any]:
    """Give every field its canonical Python / numpy type.

    JSON files carry label keys as strings and arrays as lists; pickles from
    other tools may carry numpy integers. A field of the wrong type (a
    string where a list belongs, a list where a dict belongs, a fractional
    frame count or size) is refused here with the file and field named;
    other structure errors are left to :func:`validate_annotations`.
    """
    if not isinstance(gt, dict):
        raise ValueError(f'{source}: annotation file must hold a dict, got '
                         f'{type(gt).__name__}')
    out = dict(gt)
    try:
        if 'labels' in gt:
            out['labels'] = [
                str(name) for name in _sequence(gt['labels'], "'labels'")
            ]
        if 'nframes' in gt:
            out['nframes'] = {
                str(v): _integer(n, f'nframes of video {v!r}')
                for v, n in _mapping(gt['nframes'], "'nframes'").items()
            }
        if 'resolution' in gt:
            out['resolution'] = {
                str(v):
                tuple(
                    _integer(s, f'resolution of video {v!r}')
                    for s in _sequence(hw, f'resolution of video {v!r}'))
                for v, hw in _mapping(gt['resolution'],
                                      "'resolution'").items()
            }
        for key in SPLIT_KEYS:
            if key in gt:
                out[key] = [[
                    str(v) for v in _sequence(split, f'{key}[{index}]')
                ] for index, split in enumerate(
                    _sequence(gt[key], f'{key!r} (one list per split)'))]
        if 'gttubes' in gt:
            _mapping(gt['gttubes'], "'gttubes'")
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
                if not isinstance(tube_list, (list, tuple, np.ndarray)):
                    raise ValueError(
                        f'{where}: the tubes must be a list of (n, 5) '
                        f'arrays, got {type(tube_list).__name__}')
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
                _validate_tube(
                    tube, nframes[video], resolution[video], box_tolerance,
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
    for name, wrong in (('x2 <= x1', x2 <= x1), ('y2 <= y1', y2 <= y1)):
        if wrong.any():
            i = int(np.flatnonzero(wrong)[0])
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
