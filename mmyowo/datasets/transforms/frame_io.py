"""Decoding single frame files and checking the frame sizes of a clip.

Two failure modes would otherwise pass silently or crash without naming a
file:

- A frame file that is empty, not an image, or truncated. OpenCV returns
  ``None`` for undecodable bytes (and mmcv's ``imfrombytes`` then fails
  inside ``cv2.cvtColor``), while libjpeg in many OpenCV builds decodes a
  truncated JPEG partially, with only a warning on stderr. :func:`
  decode_frame` checks the bytes first (a JPEG must end with its
  end-of-image marker, a PNG with its ``IEND`` chunk) and raises
  :class:`FrameDecodeError` naming the file.
- Frames whose size differs from the annotation's ``resolution`` (the boxes
  refer to that size, so training targets and evaluation would be
  misaligned), or one frame of a clip whose size differs from the others.
  :func:`check_clip_sizes` raises :class:`FrameSizeError` naming the video
  or the frame.
"""
from collections import Counter
from typing import Optional, Sequence, Tuple

import cv2
import mmcv
import numpy as np
from mmcv.image.io import imread_flags

JPEG_SOI = b'\xff\xd8'
JPEG_EOI = b'\xff\xd9'
JPEG_SOS = b'\xff\xda'
PNG_SIGNATURE = b'\x89PNG\r\n\x1a\n'
# The IEND chunk: its type and its (constant) CRC; nothing may follow.
PNG_IEND = b'IEND\xaeB`\x82'

# Where the annotation size comes from, for the hint of FrameSizeError.
CONVERTER_HINT = (
    'regenerate the annotations from the frames on disk '
    '(tools/data/convert_ucf24.py / convert_jhmdb21.py with --frames-root or '
    '--videos-root, or --frame-size W H for the on-disk frame size)')


class FrameDecodeError(ValueError):
    """A frame file exists but cannot be decoded as a complete image.

    Args:
        path: The frame file.
        problem: What is wrong with it.
    """

    def __init__(self, path: str, problem: str) -> None:
        super().__init__(f'{path}: {problem}')
        self.path = path


class FrameSizeError(ValueError):
    """A decoded frame does not have the size its clip or annotation needs.

    Args:
        path: The frame file, or the video file / rawframe folder.
        problem: What is wrong.
    """

    def __init__(self, path: str, problem: str) -> None:
        super().__init__(f'{path}: {problem}')
        self.path = path


def check_complete(data: bytes, path: str) -> None:
    """Raise if ``data`` is empty or a visibly truncated JPEG / PNG.

    A JPEG must have its end-of-image marker ``FF D9`` after its last
    start-of-scan marker (trailing data after it is allowed), a PNG must end
    with its ``IEND`` chunk (trailing NUL padding allowed). Other formats are
    left to the decoder.

    Args:
        data: The bytes of the file.
        path: The file, for the message.

    Raises:
        FrameDecodeError: If the file is empty or truncated.
    """
    if not data:
        raise FrameDecodeError(path, 'the file is empty')
    if data.startswith(JPEG_SOI):
        # Entropy-coded data stuffs every FF byte, so after the last
        # start-of-scan marker FF D9 can only be the end of the image; data
        # after it (camera trailers, padding) is allowed.
        complete = data.find(JPEG_EOI, data.rfind(JPEG_SOS)) >= 0
        name = 'JPEG end-of-image marker FF D9 after the image data'
    elif data.startswith(PNG_SIGNATURE):
        complete = data.rstrip(b'\x00').endswith(PNG_IEND)
        name = 'PNG IEND chunk at the end'
    else:
        return
    if not complete:
        raise FrameDecodeError(
            path, f'truncated image file ({len(data)} bytes, no {name})')


def decode_frame(data: bytes,
                 path: str,
                 flag: str = 'color',
                 channel_order: str = 'rgb',
                 backend: str = 'cv2') -> np.ndarray:
    """Decode the bytes of one frame file, as ``mmcv.imfrombytes`` does.

    With the ``'cv2'`` backend the decoding is mmcv's (``cv2.imdecode`` with
    mmcv's ``imread_flags``, then an in-place BGR->RGB conversion of colour
    images), but a failed decode raises instead of reaching
    ``cv2.cvtColor``. Other backends go through ``mmcv.imfrombytes``.

    Args:
        data: The bytes of the file.
        path: The file, for messages.
        flag: ``'color'``, ``'grayscale'`` ... (mmcv's ``imread_flags``).
        channel_order: ``'rgb'`` or ``'bgr'`` for colour images.
        backend: mmcv decoding backend (``'cv2'``, ``'pillow'``,
            ``'turbojpeg'``, ``'tifffile'``).

    Returns:
        The decoded image.

    Raises:
        FrameDecodeError: If the file is empty, truncated (see
            :func:`check_complete`) or not an image the backend can decode.
    """
    check_complete(data, path)
    if backend == 'cv2':
        cv_flag = imread_flags[flag]
        img = cv2.imdecode(np.frombuffer(data, np.uint8), cv_flag)
        if img is not None and cv_flag == cv2.IMREAD_COLOR \
                and channel_order == 'rgb':
            cv2.cvtColor(img, cv2.COLOR_BGR2RGB, img)
    else:
        try:
            img = mmcv.imfrombytes(data, flag, channel_order, backend)
        except (OSError, ValueError) as err:
            # Pillow raises OSError (UnidentifiedImageError, "image file is
            # truncated"), turbojpeg / tifffile OSError or ValueError.
            raise FrameDecodeError(
                path, f'{backend} cannot decode the file: {err}') from err
    if img is None:
        raise FrameDecodeError(
            path, f'{backend} cannot decode the file as an image '
            f'({len(data)} bytes; corrupt or not an image)')
    return img


def _size(shape: Sequence[int]) -> str:
    """``'HxW'`` of a shape."""
    return f'{int(shape[0])}x{int(shape[1])}'


def check_clip_sizes(shapes: Sequence[Tuple[int, int]],
                     sources: Sequence[str],
                     video: str,
                     ori_shape: Optional[Sequence[int]] = None,
                     video_id: Optional[str] = None) -> None:
    """Check that the frames of a clip agree in size with each other and with
    the annotation.

    Args:
        shapes: ``(h, w)`` of every decoded frame.
        sources: For every frame, what to name in a message (its file, or
            its position in the video).
        video: The video file or rawframe folder.
        ori_shape: ``(h, w)`` the annotation's boxes refer to (the dataset
            sets it from the ground truth's ``resolution``); ``None`` checks
            only that the frames agree with each other.
        video_id: The annotation's video id, for messages.

    Raises:
        FrameSizeError: If a frame's size differs from the others (the
            message names that frame) or the frames' size differs from
            ``ori_shape`` (the message names the video and both sizes).
    """
    sizes = [tuple(int(v) for v in shape[:2]) for shape in shapes]
    expected = None if ori_shape is None else \
        tuple(int(v) for v in ori_shape[:2])
    name = video if video_id is None else f'{video} (video {video_id!r})'
    counts = Counter(sizes)
    if len(counts) > 1:
        # The odd frame is the one that differs from the annotation, or
        # else from the most common size (ties: the first frame's).
        if expected is not None and expected in counts:
            usual = expected
        else:
            usual = max(
                counts, key=lambda size: (counts[size], -sizes.index(size)))
        odd = next(i for i, size in enumerate(sizes) if size != usual)
        raise FrameSizeError(
            sources[odd],
            f'frame of {_size(sizes[odd])} (h x w) among frames of '
            f'{_size(usual)} in {name}; every frame of a video must have '
            'the same size')
    if expected is not None and sizes and sizes[0] != expected:
        of_video = '' if video_id is None else f' of video {video_id!r}'
        raise FrameSizeError(
            video, f'the frames are {_size(sizes[0])} (h x w) but the '
            f'annotation resolution{of_video} is {_size(expected)}: its '
            f'boxes would not match the pixels; {CONVERTER_HINT}')
