"""Measure videos and rawframe folders on disk, for the converters.

Preparation code (``tools/data``): the converters take the frame count and
size of every video from here, so that the ground truth they write agrees
with the media the datasets will decode. Decoding at training and inference
time is :mod:`mmyowo.datasets.transforms.loading`, whose OpenCV opening
(:func:`~mmyowo.datasets.transforms.loading.open_video_capture`) and error
messages this module shares.
"""
import os
import os.path as osp
from typing import Dict, List, Optional, Sequence, Tuple, Union

from mmengine.utils import track_parallel_progress, track_progress

from ..datasets.transforms.frame_io import decode_frame
from ..datasets.transforms.loading import (VideoDecodeError,
                                           check_video_exists, no_frame_error,
                                           open_video_capture, video_path)


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
    check_video_exists(path)
    capture = open_video_capture(path)
    try:
        ok, frame = capture.read()
        if not ok:
            raise no_frame_error(path)
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

    Frames are counted from ``start_index`` up to the first missing number;
    a file numbered after that gap, or before ``start_index`` (``00000.jpg``
    where frames start at ``00001.jpg``: counting from 1 would lose a frame
    and put every box one frame late), is an error, since frames on disk
    must agree with the video they came from.

    Returns:
        ``(num_frames, height, width)``.

    Raises:
        FileNotFoundError: If the folder or its first frame is missing.
        ValueError: If frame files are numbered with a gap, or from a
            number below ``start_index``.
        FrameDecodeError: If the first frame is empty, truncated or not an
            image.
    """
    if not osp.isdir(frame_dir):
        raise FileNotFoundError(f'rawframe folder not found: {frame_dir}')
    names = set(os.listdir(frame_dir))
    numbers = sorted(
        n for n in (parse_frame_number(filename_tmpl, name) for name in names)
        if n is not None)
    if numbers and numbers[0] < start_index:
        lowest = numbers[0]
        raise ValueError(
            f'{frame_dir}: frame {filename_tmpl.format(lowest)} is numbered '
            f'before the first frame {filename_tmpl.format(start_index)} '
            f'(start index {start_index}): the frames are numbered from '
            f'{lowest}; declare it (convert_csv.py --start-index {lowest}, '
            f'and start_index={lowest} in the dataset config) or renumber '
            f'them from {start_index}')
    index = start_index
    while filename_tmpl.format(index) in names:
        index += 1
    num_frames = index - start_index
    first = osp.join(frame_dir, filename_tmpl.format(start_index))
    if num_frames == 0:
        raise FileNotFoundError(f'{frame_dir}: first frame {first} not found')
    # A frame numbered past the first missing one means a gap.
    after_gap = [n for n in numbers if n > index]
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


#: A video for :func:`_probe_one`: ``(video_id, file)`` for a video file,
#: ``(video_id, (folder, filename_tmpl, start_index))`` for rawframes.
ProbeTask = Tuple[str, Union[str, Tuple[str, str, int]]]


def _probe_one(task: ProbeTask) -> Tuple[str, object]:
    """Probe one video for :func:`probe_media`; failures are returned."""
    video_id, source = task
    try:
        if isinstance(source, tuple):
            return video_id, probe_rawframes(*source)
        return video_id, probe_video(source)
    except (OSError, ValueError, VideoDecodeError) as err:
        return video_id, err


def probe_media(video_ids: Sequence[str],
                frames_root: Optional[str] = None,
                videos_root: Optional[str] = None,
                filename_tmpl: str = '{:05d}.jpg',
                video_ext: str = '.avi',
                flat_video_dir: bool = False,
                num_workers: int = 1,
                start_index: int = 1
                ) -> Tuple[Dict[str, Tuple[int, int, int]], List[str]]:
    """Measure ``(num_frames, h, w)`` of many videos on disk.

    Exactly one of ``frames_root`` (rawframe folders ``{root}/{video_id}``,
    numbered from ``start_index``, see :func:`probe_rawframes`) or
    ``videos_root`` (see
    :func:`~mmyowo.datasets.transforms.loading.video_path`) is read.

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
    tasks: List[ProbeTask] = []
    absent: List[str] = []
    for video_id in video_ids:
        if frames_root is not None:
            frame_dir = osp.join(frames_root, video_id)
            if osp.isdir(frame_dir):
                tasks.append(
                    (video_id, (frame_dir, filename_tmpl, start_index)))
                continue
        elif videos_root is not None:
            path = video_path(videos_root, video_id, video_ext, flat_video_dir)
            if osp.isfile(path):
                tasks.append((video_id, path))
                continue
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
