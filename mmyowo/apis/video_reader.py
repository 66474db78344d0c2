"""Sequential frame sources for video inference.

Inference reads a video front to back, as a stream arrives: OpenCV's
``VideoCapture`` decodes files that decord cannot open (raw MPEG-4 elementary
streams such as the ucf24-mini videos carry no seek index) and cameras alike.
Frames come out as ``(H, W, 3)`` RGB ``uint8`` arrays, the layout of the
training pipeline (decord and ``VideoDecode`` decode RGB).

Truncated files: a container (AVI, MP4, ...) announces its frame count in its
header, so a file cut short (an interrupted copy or download) decodes fewer
frames than announced. Decoding then simply stops, as OpenCV gives no other
sign; :class:`VideoReader` compares the two and issues a
:class:`VideoTruncatedWarning` naming the file, the frame where decoding
stopped and the announced count, and sets :attr:`VideoReader.truncated`, so
that the results are never silently those of a shorter video. Raw elementary
streams (such as the ucf24-mini ``.mp4`` files, MPEG-4 Part 2 without a
container) and cameras announce no count (OpenCV reports a meaningless
number, stored as 0): for them a truncated file cannot be told from a short
one and no warning is possible.
"""
import os.path as osp
import warnings
from pathlib import Path
from typing import Iterable, Iterator, Optional, Union

import cv2
import numpy as np

from mmyowo.datasets.transforms.loading import VideoDecodeError

#: Anything :func:`iter_frames` accepts: a video file, a camera index or an
#: iterable of ``(H, W, 3)`` RGB ``uint8`` frames.
VideoLike = Union[str, Path, int, Iterable[np.ndarray]]


class VideoTruncatedWarning(UserWarning):
    """A video file decoded fewer frames than its container announces."""


class VideoReader:
    """Iterate over the RGB frames of a video file or a camera.

    Args:
        source (str | Path | int): Video file, or a camera index.

    Raises:
        FileNotFoundError: If the file does not exist.
        ValueError: If a camera index is negative.
        VideoDecodeError: If OpenCV cannot open the file or camera, or (while
            iterating) not a single frame can be decoded.

    Warns:
        VideoTruncatedWarning: When a file's decoding stops before the frame
            count its container announces (see the module docstring).

    Attributes:
        name (str): The file path, or ``'camera <index>'``.
        fps (float): Frame rate reported by the container; 0 if unknown.
        frame_count (int): Frame count announced by the container; 0 if
            unknown (cameras, raw streams: OpenCV reports a meaningless
            negative number for those).
        frame_size (tuple[int, int]): ``(width, height)`` as reported.
        is_camera (bool): Whether the source is a camera.
        frames_read (int): Frames decoded so far.
        exhausted (bool): Whether decoding has reached the end (or the point
            where the file stops decoding).
    """

    def __init__(self, source: Union[str, Path, int]) -> None:
        if isinstance(source, bool) or not isinstance(source,
                                                      (str, Path, int)):
            raise TypeError('source must be a video path or a camera index, '
                            f'got {type(source).__name__}')
        self.is_camera = isinstance(source, int)
        if isinstance(source, int):
            if source < 0:
                # OpenCV crashes the process (segfault) on some negative
                # indices instead of failing to open.
                raise ValueError(f'camera index must be >= 0, got {source}')
            self.name = f'camera {source}'
        else:
            self.name = str(source)
            if not osp.isfile(self.name):
                raise FileNotFoundError(f'video file not found: {self.name}')
        self._capture = cv2.VideoCapture(
            source if isinstance(source, int) else self.name)
        if not self._capture.isOpened():
            self._capture.release()
            raise VideoDecodeError(
                f'{self.name}: cannot open the video (empty, corrupt, not a '
                'video file or no such camera)')
        fps = self._capture.get(cv2.CAP_PROP_FPS)
        self.fps = float(fps) if np.isfinite(fps) and fps > 0 else 0.0
        count = self._capture.get(cv2.CAP_PROP_FRAME_COUNT)
        self.frame_count = int(count) if (np.isfinite(count) and count > 0
                                          and not self.is_camera) else 0
        self.frame_size = (int(self._capture.get(cv2.CAP_PROP_FRAME_WIDTH)),
                           int(self._capture.get(cv2.CAP_PROP_FRAME_HEIGHT)))
        self.frames_read = 0
        self.exhausted = False
        self._started = False

    @property
    def truncated(self) -> bool:
        """Whether decoding ended before the announced :attr:`frame_count`.

        Always ``False`` while frames remain to be read and for sources
        without an announced count.
        """
        return self.exhausted and 0 < self.frames_read < self.frame_count

    def __iter__(self) -> Iterator[np.ndarray]:
        """Yield the frames as ``(H, W, 3)`` RGB ``uint8`` arrays.

        A reader is a stream: it can be iterated once.
        """
        if self._started:
            raise RuntimeError(f'{self.name}: a VideoReader can be iterated '
                               'only once; open a new one')
        self._started = True
        try:
            while True:
                ok, frame = self._capture.read()
                if not ok:
                    self.exhausted = True
                    break
                self.frames_read += 1
                yield cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
        finally:
            self.close()
        if self.frames_read == 0:
            raise VideoDecodeError(
                f'{self.name}: no frame could be decoded (empty, corrupt or '
                'not a video file)')
        if self.truncated:
            # A warning, not an error: the frames before the cut are valid
            # and a partial result (e.g. the demo's annotated video) is
            # still useful; callers check ``truncated`` to be strict.
            warnings.warn(
                f'{self.name}: decoding stopped at frame {self.frames_read} '
                f'(0-based) of the {self.frame_count} frames the container '
                f'announces: the file is truncated or corrupt; only frames '
                f'0..{self.frames_read - 1} were read', VideoTruncatedWarning)

    def close(self) -> None:
        """Release the capture (idempotent)."""
        self._capture.release()

    def __enter__(self) -> 'VideoReader':
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def source_name(video: VideoLike) -> str:
    """A human-readable name of a frame source, for error messages."""
    if isinstance(video, VideoReader):
        return video.name
    if isinstance(video, (str, Path)):
        return str(video)
    if isinstance(video, int) and not isinstance(video, bool):
        return f'camera {video}'
    return f'<{type(video).__name__} of frames>'


def check_frame(frame: np.ndarray, index: int, name: str) -> np.ndarray:
    """Validate one frame: an ``(H, W, 3)`` ``uint8`` array.

    Args:
        frame (np.ndarray): The frame.
        index (int): Its 0-based position in the video (for the message).
        name (str): The source's name (for the message).

    Returns:
        np.ndarray: ``frame`` itself.

    Raises:
        ValueError: Naming the source and frame if the frame is malformed.
    """
    if not isinstance(frame, np.ndarray):
        raise ValueError(f'{name}: frame {index} is a '
                         f'{type(frame).__name__}, expected an (H, W, 3) '
                         'uint8 numpy array')
    if frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8:
        raise ValueError(f'{name}: frame {index} has shape '
                         f'{tuple(frame.shape)} and dtype {frame.dtype}, '
                         'expected (H, W, 3) uint8 RGB')
    if frame.shape[0] == 0 or frame.shape[1] == 0:
        raise ValueError(f'{name}: frame {index} is empty '
                         f'({tuple(frame.shape)})')
    return frame


def iter_frames(video: VideoLike,
                name: Optional[str] = None) -> Iterator[np.ndarray]:
    """Lazily yield validated RGB frames from any :data:`VideoLike`.

    Files and camera indices are opened at once with :class:`VideoReader`
    (so a missing or unreadable file fails here, not at the first frame); an
    iterable (a generator, a list, a ``(T, H, W, 3)`` array) is consumed one
    frame at a time. Nothing is buffered here.

    Args:
        video (VideoLike): The frame source.
        name (str, optional): Name for error messages. Defaults to
            :func:`source_name`.

    Raises:
        FileNotFoundError, VideoDecodeError: See :class:`VideoReader`.
        TypeError: If ``video`` is a bool (neither a camera index nor
            frames).
        ValueError: While iterating, if the source yields no frame at all or
            a malformed one.
    """
    name = name or source_name(video)
    if isinstance(video, bool):
        raise TypeError(f'video must be a file path, a camera index or an '
                        f'iterable of frames, got {video!r}')
    if isinstance(video, (str, Path, int)):
        video = VideoReader(video)
    return _checked_frames(video, name)


def _checked_frames(frames: Iterable[np.ndarray],
                    name: str) -> Iterator[np.ndarray]:
    """Yield the checked frames; raise if there was none."""
    count = 0
    for count, frame in enumerate(frames, 1):
        yield check_frame(frame, count - 1, name)
    if count == 0:
        raise ValueError(f'{name}: the video has no frames')
