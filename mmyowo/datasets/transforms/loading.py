"""Decoding clip frames from video files, and measuring media on disk.

- :class:`VideoDecode`: video files, read with decord (random access),
  falling back to OpenCV, read sequentially, where decord cannot open a file:
  raw MPEG-4 elementary streams (such as the ucf24-mini videos) carry no
  index that decord could seek with, while OpenCV decodes them front to back.
  Unlike mmaction's ``DecordDecode`` it leaves ``gt_bboxes`` alone (canonical
  boxes are in pixels, docs/architecture.md) and checks the frame size
  against the annotation's.

Every failure names the file: a missing video, a file no backend can open or
decode (empty, truncated, not a video), a frame index past the last
decodable frame, and frames whose size differs from the annotation's.
Helpers to measure videos and rawframe folders on disk (used by the
converters under ``tools/data``) live here too. Rawframe folders are decoded
by :class:`~.rawframe_decode.RawFrameDecodeKeepBoxes`.
"""
import os
import os.path as osp
from typing import Dict, List, Optional, Sequence, Tuple

import cv2
import numpy as np
from mmcv.transforms import BaseTransform
from mmengine.utils import track_parallel_progress, track_progress

from mmaction.registry import TRANSFORMS
from .frame_io import check_clip_sizes, decode_frame

try:
    import decord
except ImportError:  # decord has no wheels for some platforms: OpenCV only
    decord = None

BACKENDS = ('auto', 'decord', 'opencv')


class VideoDecodeError(RuntimeError):
    """A video file exists but cannot be opened or decoded."""


def _check_exists(path: str) -> None:
    if not osp.isfile(path):
        raise FileNotFoundError(f'video file not found: {path}')


def _open_decord(path: str, num_threads: int):
    """Open ``path`` with decord; return ``None`` where decord cannot.

    ``None`` (rather than an exception) lets ``backend='auto'`` fall back to
    OpenCV; decord being absent counts as "cannot" too.
    """
    if decord is None:
        return None
    try:
        reader = decord.VideoReader(path, num_threads=num_threads)
    except (decord.DECORDError, RuntimeError):
        # DECORDError: broken metadata (e.g. raw streams); RuntimeError:
        # a file ffmpeg cannot open at all.
        return None
    if len(reader) == 0:
        return None
    return reader


def _decode_decord(reader, path: str,
                   positions: np.ndarray) -> List[np.ndarray]:
    num_frames = len(reader)
    if positions.max() >= num_frames:
        raise IndexError(
            f'{path}: frame index {int(positions.max())} is past the end of '
            f'the video ({num_frames} frames)')
    unique = np.unique(positions)
    try:
        batch = reader.get_batch(unique.tolist()).asnumpy()  # RGB
    except decord.DECORDError as err:
        # e.g. decord 0.6 fails on some frame widths (48 px) it opened fine
        raise VideoDecodeError(f'{path}: decord cannot decode frames '
                               f'{unique.tolist()}: {err}') from err
    return _in_order(dict(zip(unique.tolist(), batch)), positions)


def _decode_opencv(path: str, positions: np.ndarray) -> List[np.ndarray]:
    capture = cv2.VideoCapture(path)
    try:
        if not capture.isOpened():
            raise VideoDecodeError(
                f'{path}: cannot open the video (empty, corrupt or not a '
                'video file)')
        wanted = set(positions.tolist())
        last = int(positions.max())
        frames: Dict[int, np.ndarray] = {}
        position = 0
        # Sequential reading is the only exact way for streams without an
        # index; seeking (CAP_PROP_POS_FRAMES) lands on key frames there.
        while position <= last:
            ok, frame = capture.read()
            if not ok:
                break
            if position in wanted:
                frames[position] = cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
            position += 1
    finally:
        capture.release()
    if position == 0:
        raise VideoDecodeError(
            f'{path}: no frame could be decoded (empty, corrupt or not a '
            'video file)')
    if position <= last:
        raise IndexError(f'{path}: frame index {last} is past the end of the '
                         f'video ({position} decodable frames)')
    return _in_order(frames, positions)


def _in_order(frames: Dict[int, np.ndarray],
              positions: np.ndarray) -> List[np.ndarray]:
    """Frames in ``positions`` order, repeated positions as copies.

    Copies (as ``RawFrameDecode`` makes) keep an in-place transform from
    changing two frames of the clip at once.
    """
    out, seen = [], set()
    for position in positions.tolist():
        img = frames[position]
        out.append(img.copy() if position in seen else img)
        seen.add(position)
    return out


def read_video_frames(path: str,
                      positions: Sequence[int],
                      backend: str = 'auto',
                      num_threads: int = 1) -> List[np.ndarray]:
    """Decode the frames at 0-based ``positions`` of a video.

    Args:
        path: Video file.
        positions: 0-based frame positions, in any order, repeats allowed.
        backend: ``'decord'``, ``'opencv'`` or ``'auto'`` (decord, falling
            back to OpenCV where decord cannot open or decode the file).
        num_threads: Decoder threads for decord.

    Returns:
        One ``(H, W, 3)`` RGB uint8 array per position, in the given order.

    Raises:
        FileNotFoundError: If ``path`` does not exist.
        VideoDecodeError: If no backend can open or decode the file.
        IndexError: If a position is negative or past the last frame.
    """
    if backend not in BACKENDS:
        raise ValueError(f'backend must be one of {BACKENDS}, got {backend!r}')
    _check_exists(path)
    positions = np.asarray(positions, dtype=np.int64).reshape(-1)
    if positions.size == 0:
        raise ValueError(f'{path}: no frame positions to decode')
    if positions.min() < 0:
        raise IndexError(f'{path}: negative frame index '
                         f'{int(positions.min())}')
    if backend in ('auto', 'decord'):
        reader = _open_decord(path, num_threads)
        if reader is None and backend == 'decord':
            raise VideoDecodeError(f'{path}: decord cannot open the video')
        if reader is not None:
            try:
                return _decode_decord(reader, path, positions)
            except VideoDecodeError:
                if backend == 'decord':
                    raise
    return _decode_opencv(path, positions)


def probe_video(path: str) -> Tuple[int, int, int]:
    """Count the decodable frames of a video and read its frame size.

    OpenCV decodes the whole file, since container frame counts are estimates
    (and garbage for raw streams).

    Returns:
        ``(num_frames, height, width)``.

    Raises:
        FileNotFoundError: If ``path`` does not exist.
        VideoDecodeError: If no frame can be decoded.
    """
    _check_exists(path)
    capture = cv2.VideoCapture(path)
    try:
        if not capture.isOpened():
            raise VideoDecodeError(
                f'{path}: cannot open the video (empty, corrupt or not a '
                'video file)')
        ok, frame = capture.read()
        if not ok:
            raise VideoDecodeError(
                f'{path}: no frame could be decoded (empty, corrupt or not a '
                'video file)')
        height, width = frame.shape[:2]
        num_frames = 1
        while capture.grab():
            num_frames += 1
    finally:
        capture.release()
    return num_frames, height, width


def probe_rawframes(frame_dir: str,
                    filename_tmpl: str = '{:05d}.jpg',
                    start_index: int = 1) -> Tuple[int, int, int]:
    """Count the frames of a rawframe folder and read their size.

    Frames are counted from ``start_index`` up to the first missing number,
    and a file numbered after that gap is an error (frames on disk must
    agree with the video they came from).

    Returns:
        ``(num_frames, height, width)``.

    Raises:
        FileNotFoundError: If the folder or its first frame is missing.
        ValueError: If frame files are numbered with a gap.
        FrameDecodeError: If the first frame is empty, truncated or not an
            image.
    """
    if not osp.isdir(frame_dir):
        raise FileNotFoundError(f'rawframe folder not found: {frame_dir}')
    names = set(os.listdir(frame_dir))
    index = start_index
    while filename_tmpl.format(index) in names:
        index += 1
    num_frames = index - start_index
    first = osp.join(frame_dir, filename_tmpl.format(start_index))
    if num_frames == 0:
        raise FileNotFoundError(f'{frame_dir}: first frame {first} not found')
    # A frame numbered past the first missing one means a gap.
    numbers = (parse_frame_number(filename_tmpl, name) for name in names)
    after_gap = sorted(n for n in numbers if n is not None and n > index)
    if after_gap:
        raise ValueError(
            f'{frame_dir}: frame {filename_tmpl.format(index)} is missing but '
            f'{filename_tmpl.format(after_gap[0])} exists')
    with open(first, 'rb') as file:
        image = decode_frame(file.read(), first)
    return num_frames, image.shape[0], image.shape[1]


def parse_frame_number(filename_tmpl: str, name: str) -> Optional[int]:
    """The frame number ``name`` was formatted with, or ``None``."""
    prefix, _, suffix = filename_tmpl.partition('{')
    suffix = suffix.partition('}')[2]
    if not (name.startswith(prefix) and name.endswith(suffix)):
        return None
    digits = name[len(prefix):len(name) - len(suffix)]
    if not digits.isdigit() or filename_tmpl.format(int(digits)) != name:
        return None
    return int(digits)


def video_path(video_root: str,
               video_id: str,
               video_ext: str = '.avi',
               flat: bool = False) -> str:
    """Path of video ``Class/name``: ``{root}/{Class}/{name}{ext}``.

    With ``flat``, ``{root}/{name}{ext}`` (videos without class folders, as
    in ucf24-mini).
    """
    name = osp.basename(video_id) if flat else video_id
    return osp.join(video_root, name + video_ext)


def _probe_one(task: Tuple[str, str, str]) -> Tuple[str, object]:
    """Probe one video for :func:`probe_media`; failures are returned."""
    video_id, kind, path = task
    try:
        if kind == 'frames':
            return video_id, probe_rawframes(*path)
        return video_id, probe_video(path)
    except (OSError, ValueError, VideoDecodeError) as err:
        return video_id, err


def probe_media(video_ids: Sequence[str],
                frames_root: Optional[str] = None,
                videos_root: Optional[str] = None,
                filename_tmpl: str = '{:05d}.jpg',
                video_ext: str = '.avi',
                flat_video_dir: bool = False,
                num_workers: int = 1
                ) -> Tuple[Dict[str, Tuple[int, int, int]], List[str]]:
    """Measure ``(num_frames, h, w)`` of many videos on disk.

    Exactly one of ``frames_root`` (rawframe folders ``{root}/{video_id}``,
    numbered from 1) or ``videos_root`` (see :func:`video_path`) is read.

    Returns:
        ``(found, absent)``: sizes of the videos found, and the ids whose
        folder / file does not exist.

    Raises:
        ValueError: If both or neither root is given, or a video exists but
            cannot be measured (corrupt video, gap in the frames); the
            message lists every such video.
    """
    if (frames_root is None) == (videos_root is None):
        raise ValueError('give exactly one of frames_root / videos_root')
    tasks, absent = [], []
    for video_id in video_ids:
        if frames_root is not None:
            frame_dir = osp.join(frames_root, video_id)
            exists, path = osp.isdir(frame_dir), (frame_dir, filename_tmpl)
            kind = 'frames'
        else:
            path = video_path(videos_root, video_id, video_ext,
                              flat_video_dir)
            exists, kind = osp.isfile(path), 'video'
        if exists:
            tasks.append((video_id, kind, path))
        else:
            absent.append(video_id)
    if not tasks:
        results = []
    elif num_workers > 1:
        results = track_parallel_progress(_probe_one, tasks, num_workers)
    else:
        results = track_progress(_probe_one, tasks)
    errors = [str(r) for _, r in results if isinstance(r, Exception)]
    if errors:
        raise ValueError(f'{len(errors)} video(s) cannot be measured:\n' +
                         '\n'.join(errors))
    return dict(results), absent


@TRANSFORMS.register_module()
class VideoDecode(BaseTransform):
    """Decode the sampled clip frames from a video file.

    The video counterpart of mmaction's ``RawFrameDecode``: frame positions
    follow the same convention, ``frame_inds = 0-based position +
    start_index`` (``start_index`` is 0 for video datasets).

    The decoded frames must all have one size and, when ``results`` carry
    the ``ori_shape`` the dataset took from the annotation's ``resolution``,
    that size (boxes refer to it).

    Required Keys:

    - filename
    - frame_inds
    - start_index (optional, default 0)
    - ori_shape (optional, ``(h, w)`` the boxes refer to)
    - video_id (optional, named in messages)

    Added Keys:

    - imgs (list of ``(H, W, 3)`` RGB uint8 arrays, one per frame index)
    - original_shape
    - img_shape

    Args:
        backend: ``'auto'`` (decord, falling back to sequential OpenCV
            reading where decord cannot open the file), ``'decord'`` or
            ``'opencv'``.
        num_threads: Decoder threads for decord.

    Raises:
        FileNotFoundError, VideoDecodeError, IndexError: See
            :func:`read_video_frames`.
        FrameSizeError: The frames differ in size from each other or from
            ``ori_shape`` (the message names the video, the video id and both
            sizes).
    """

    def __init__(self, backend: str = 'auto', num_threads: int = 1) -> None:
        if backend not in BACKENDS:
            raise ValueError(
                f'backend must be one of {BACKENDS}, got {backend!r}')
        self.backend = backend
        self.num_threads = num_threads

    def transform(self, results: Dict) -> Dict:
        """Decode ``results['frame_inds']`` of ``results['filename']``."""
        positions = np.asarray(results['frame_inds'], dtype=np.int64)
        positions = positions.reshape(-1) - results.get('start_index', 0)
        filename = results['filename']
        imgs = read_video_frames(filename, positions, self.backend,
                                 self.num_threads)
        check_clip_sizes([img.shape for img in imgs],
                         [f'{filename} (frame {p})' for p in positions],
                         filename, results.get('ori_shape'),
                         results.get('video_id'))
        results['imgs'] = imgs
        results['original_shape'] = imgs[0].shape[:2]
        results['img_shape'] = imgs[0].shape[:2]
        return results

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(backend={self.backend!r}, '
                f'num_threads={self.num_threads})')
