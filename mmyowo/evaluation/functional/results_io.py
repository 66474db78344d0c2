"""Save / load detection results (the input of ``tools/analysis``).

A results file is an ``.npz`` archive (no pickled objects) holding

* ``detections``: ``(N, 8)`` float64 rows ``[video_index, frame, label,
  score, x1, y1, x2, y2]``,
* ``videos``: the evaluated video ids (``video_index`` indexes them),
* ``class_names``, ``ann_file`` (str) and ``split`` (int).

Results files are untrusted input: :func:`load_detection_results` reads
them without unpickling, bounds what their records may expand to
(:data:`MAX_EXPANSION`, :data:`MIN_BUDGET`) and checks every member and row
before returning, raising :class:`ResultsFileError` (a ValueError) that
names the file.
"""
import os.path as osp
import zipfile
import zlib
from typing import IO, Any, Dict, Sequence, Tuple

import numpy as np

from mmyowo.utils.atomic_io import atomic_writer
from .inputs import DETECTION_COLUMNS, parse_detections


class ResultsFileError(ValueError):
    """A results file that cannot be read; the message names the file."""


RESULT_KEYS = ('detections', 'videos', 'class_names', 'ann_file', 'split')
#: Per member: ``(ndim, dtype kinds, what)``, as the writer stores them.
MEMBER_FORMATS: Dict[str, Tuple[int, str, str]] = {
    'detections': (2, 'fiu', 'a numeric (N, 8) array'),
    'videos': (1, 'U', 'a 1-D array of str'),
    'class_names': (1, 'U', 'a 1-D array of str'),
    'ann_file': (0, 'U', 'a str scalar'),
    'split': (0, 'iu', 'an int scalar'),
}
#: Bytes the members may declare uncompressed, as a multiple of the file
#: size: real results compress about 2-10x (boxes repeat once per class),
#: deflate at most about 1000x, so a small file cannot expand to gigabytes.
MAX_EXPANSION = 64.0
#: Bytes the members may declare in any case.
MIN_BUDGET = 64 << 20
# What np.savez / np.savez_compressed write.
_COMPRESSIONS = (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED)
# Damaged archives: a truncated or foreign file (BadZipFile), a record that
# fails its CRC (BadZipFile) or its compression (zlib.error, EOFError), a
# bad .npy header or short data (ValueError).
_READ_ERRORS = (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError)


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
    """Read and check a results file of :func:`save_detection_results`.

    Returns:
        dict with ``detections`` (``(N, 8)`` float64 ndarray), ``videos``
        and ``class_names`` (lists of str), ``ann_file`` (str) and ``split``
        (int).

    Raises:
        FileNotFoundError: If ``path`` does not exist.
        ResultsFileError: A ValueError naming the file: not a readable zip
            archive (truncated, corrupt, encrypted), records declaring more
            than the size budget, a missing member, a member of another
            shape or dtype (pickled objects included), a negative
            ``split``, or a detection row that
            :func:`~.inputs.parse_detections` refuses (non-finite, video
            index or label out of range, ...).
    """
    if not osp.isfile(path):
        raise FileNotFoundError(f'results file not found: {path}')
    try:
        with zipfile.ZipFile(path) as archive:
            contents = _read_members(archive, path, osp.getsize(path))
    except ResultsFileError:
        raise
    except _READ_ERRORS as err:
        raise ResultsFileError(
            f'{path}: cannot read results archive: {err}') from None
    if contents['split'] < 0:
        raise ResultsFileError(f'{path}: split must be >= 0, got '
                               f'{int(contents["split"])}')
    videos = [str(v) for v in contents['videos']]
    class_names = [str(c) for c in contents['class_names']]
    detections = contents['detections'].astype(np.float64)
    try:
        parse_detections(detections, videos, None, len(class_names))
    except ValueError as err:
        raise ResultsFileError(f'{path}: {err}') from None
    return dict(
        detections=detections,
        videos=videos,
        class_names=class_names,
        ann_file=str(contents['ann_file']),
        split=int(contents['split']))


def _read_members(archive: zipfile.ZipFile, path: str,
                  size: int) -> Dict[str, np.ndarray]:
    """The :data:`RESULT_KEYS` members, checked against :data:`MEMBER_FORMATS`
    before their data is read; other members are ignored."""
    infos = {info.filename: info for info in archive.infolist()}
    missing = [key for key in RESULT_KEYS if f'{key}.npy' not in infos]
    if missing:
        raise ResultsFileError(f'{path}: not a detection results file '
                               f'(missing {missing})')
    records = [infos[f'{key}.npy'] for key in RESULT_KEYS]
    declared = sum(info.file_size for info in records)
    budget = max(MIN_BUDGET, MAX_EXPANSION * size)
    if declared > budget:
        raise ResultsFileError(
            f'{path}: its members declare {declared} bytes, over '
            f'{MAX_EXPANSION:g}x the file size ({size} bytes; limit '
            f'{int(budget)} bytes): a zip bomb or not a results file')
    contents = {}
    for key, info in zip(RESULT_KEYS, records):
        if info.flag_bits & 0x1:
            raise ResultsFileError(f'{path}: member {key} is encrypted')
        if info.compress_type not in _COMPRESSIONS:
            raise ResultsFileError(
                f'{path}: member {key} uses compression method '
                f'{info.compress_type}, not stored or deflate')
        with archive.open(info) as f:
            _check_header(f, key, info.file_size, path)
        with archive.open(info) as f:
            contents[key] = np.lib.format.read_array(f, allow_pickle=False)
    return contents


def _check_header(f: IO[bytes], key: str, record_size: int, path: str) -> None:
    """Refuse a member whose ``.npy`` header gives another shape or dtype than
    :data:`MEMBER_FORMATS`, or more data than its record holds (so nothing is
    allocated for a header's claim alone)."""
    version = np.lib.format.read_magic(f)
    if version == (1, 0):
        shape, _, dtype = np.lib.format.read_array_header_1_0(f)
    elif version == (2, 0):
        shape, _, dtype = np.lib.format.read_array_header_2_0(f)
    else:
        raise ResultsFileError(f'{path}: member {key} has .npy format version '
                               f'{version}, not 1.0 or 2.0')
    ndim, kinds, what = MEMBER_FORMATS[key]
    if dtype.kind not in kinds or dtype.hasobject:
        raise ResultsFileError(
            f'{path}: {key} must be {what}, got dtype {dtype}')
    if len(shape) != ndim or (key == 'detections'
                              and shape[1] != len(DETECTION_COLUMNS)):
        raise ResultsFileError(
            f'{path}: {key} must be {what}, got shape {shape}')
    nbytes = int(np.prod(shape, dtype=object)) * dtype.itemsize
    if nbytes > record_size:
        raise ResultsFileError(
            f'{path}: {key} declares {nbytes} bytes, its record '
            f'holds {record_size}')
