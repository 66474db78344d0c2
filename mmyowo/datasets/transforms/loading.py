"""Decoding clip frames from video files.

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
Rawframe folders are decoded by
:class:`~.rawframe_decode.RawFrameDecodeKeepBoxes`. Measuring media on disk
for the converters is preparation code (``mmyowo/preparation/``), which
shares :func:`open_video_capture` with this module.
"""
import os.path as osp
from typing import Dict, List, Sequence

import cv2
import numpy as np
from mmaction.registry import TRANSFORMS
from mmcv.transforms import BaseTransform

from .frame_io import check_clip_sizes

try:
    import decord
except ImportError:  # decord has no wheels for some platforms: OpenCV only
    decord = None

BACKENDS = ('auto', 'decord', 'opencv')


class VideoDecodeError(RuntimeError):
    """A video file exists but cannot be opened or decoded."""


def check_video_exists(path: str) -> None:
    """Raise ``FileNotFoundError`` if ``path`` is absent."""
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
    """Decode ``positions`` with an open decord reader."""
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


def open_video_capture(path: str) -> cv2.VideoCapture:
    """Open ``path`` with OpenCV for sequential reading.

    Raises:
        VideoDecodeError: If OpenCV cannot open it (empty, corrupt or not a
            video file).
    """
    capture = cv2.VideoCapture(path)
    if not capture.isOpened():
        capture.release()
        raise VideoDecodeError(
            f'{path}: cannot open the video (empty, corrupt or not a video '
            'file)')
    return capture


def no_frame_error(path: str) -> VideoDecodeError:
    """The error of a video that opens but yields no frame."""
    return VideoDecodeError(
        f'{path}: no frame could be decoded (empty, corrupt or not a video '
        'file)')


def _decode_opencv(path: str, positions: np.ndarray) -> List[np.ndarray]:
    """Decode ``positions`` with OpenCV, reading forward."""
    capture = open_video_capture(path)
    try:
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
        raise no_frame_error(path)
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
    check_video_exists(path)
    indices = np.asarray(positions, dtype=np.int64).reshape(-1)
    if indices.size == 0:
        raise ValueError(f'{path}: no frame positions to decode')
    if indices.min() < 0:
        raise IndexError(f'{path}: negative frame index '
                         f'{int(indices.min())}')
    if backend in ('auto', 'decord'):
        reader = _open_decord(path, num_threads)
        if reader is None and backend == 'decord':
            raise VideoDecodeError(f'{path}: decord cannot open the video')
        if reader is not None:
            try:
                return _decode_decord(reader, path, indices)
            except VideoDecodeError:
                if backend == 'decord':
                    raise
    return _decode_opencv(path, indices)


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
