"""Extract every frame of a set of videos to rawframe folders (OpenCV).

Frames are written as ``{out_root}/{video_id}/{filename_tmpl}`` numbered from
1, the layout ``SpatioTemporalActionDataset`` reads with
``data_prefix=dict(img=out_root)``. Videos are decoded front to back, so raw
streams without an index (e.g. the ucf24-mini ``.mp4`` files) work too. After
writing, the frames on disk are counted: the count must equal the number of
frames OpenCV decoded, or the video is reported as failed.

A video whose decoding stops before the frame count its container (AVI,
MP4, ...) announces is truncated or corrupt: its decodable frames are
written, and it is reported as ``truncated`` (counted in the summary and
listed with the frame where decoding stopped; a warning, not a failure,
since the annotation converters then count the boxes past its last frame).
Raw streams announce no count, so their truncation cannot be detected.

Video ids come from ``--video-list`` (``Class/video`` per line, any split
list format of ``convert_ucf24.py``) or, without it, from every file with a
``--ext`` suffix below the video root (id = relative path without suffix).

Example::

    python tools/data/videos_to_rawframes.py data/ucf24/videos \\
        data/ucf24/rawframes --ext .avi --num-workers 8
"""
import argparse
import os
import os.path as osp
from typing import List, Optional, Sequence, Tuple

import cv2
import numpy as np
from mmengine.utils import track_parallel_progress, track_progress

from mmyowo.datasets.transforms.loading import VideoDecodeError, video_path
from mmyowo.preparation.conversion import read_split_list
from mmyowo.preparation.media_probe import parse_frame_number

# (video id, video path, output folder, filename template, JPEG quality,
#  overwrite)
Task = Tuple[str, str, str, str, int, bool]


def find_videos(video_root: str, exts: Sequence[str]) -> List[Tuple[str, str]]:
    """``(video id, path)`` of the video files below a root, sorted.

    The id is the path relative to the root without the suffix.
    """
    found = []
    for folder, _, files in os.walk(video_root):
        for name in files:
            stem, ext = osp.splitext(name)
            if ext.lower() in exts:
                rel = osp.relpath(osp.join(folder, stem), video_root)
                found.append((rel.replace(os.sep, '/'), osp.join(folder,
                                                                 name)))
    return sorted(found)


def count_frames_on_disk(frame_dir: str, filename_tmpl: str) -> int:
    """Number of files in ``frame_dir`` named by ``filename_tmpl``."""
    return sum(
        parse_frame_number(filename_tmpl, name) is not None
        for name in os.listdir(frame_dir))


def extract_frames(task: Task) -> Tuple[str, str]:
    """Write all frames of one video; return ``(video_id, status)``.

    ``status`` is ``'ok: N frames'``, ``'truncated: ...'`` (N frames written,
    fewer than the container announces), ``'skipped: ...'`` or
    ``'error: ...'`` (errors are returned, not raised, so that one bad video
    does not stop a parallel run; :func:`main` reports them all and fails).
    """
    video_id, path, out_dir, filename_tmpl, quality, overwrite = task
    if osp.isdir(out_dir) and count_frames_on_disk(out_dir, filename_tmpl):
        if not overwrite:
            return video_id, 'skipped: frames exist (use --overwrite)'
        for name in os.listdir(out_dir):
            if parse_frame_number(filename_tmpl, name) is not None:
                os.remove(osp.join(out_dir, name))
    os.makedirs(out_dir, exist_ok=True)
    capture = cv2.VideoCapture(path)
    decoded = 0
    try:
        if not capture.isOpened():
            raise VideoDecodeError(f'{path}: cannot open the video (empty, '
                                   'corrupt or not a video file)')
        # As VideoReader: raw streams report a meaningless (negative) count.
        count = capture.get(cv2.CAP_PROP_FRAME_COUNT)
        announced = int(count) if np.isfinite(count) and count > 0 else 0
        while True:
            ok, frame = capture.read()
            if not ok:
                break
            decoded += 1
            target = osp.join(out_dir, filename_tmpl.format(decoded))
            if not cv2.imwrite(target, frame,
                               [cv2.IMWRITE_JPEG_QUALITY, quality]):
                raise OSError(f'{target}: cannot write frame')
    except (OSError, VideoDecodeError) as err:
        return video_id, f'error: {err}'
    finally:
        capture.release()
    if decoded == 0:
        return video_id, (f'error: {path}: no frame could be decoded (empty, '
                          'corrupt or not a video file)')
    written = count_frames_on_disk(out_dir, filename_tmpl)
    if written != decoded:
        return video_id, (f'error: {out_dir}: {written} frame files on disk '
                          f'but {decoded} frames decoded from {path}')
    if decoded < announced:
        return video_id, (
            f'truncated: {decoded} frames written; {path}: decoding stopped '
            f'at frame {decoded} (0-based) of the {announced} frames the '
            'container announces: the file is truncated or corrupt')
    return video_id, f'ok: {decoded} frames'


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Extract video frames to rawframe folders.')
    parser.add_argument('video_root')
    parser.add_argument('out_root')
    parser.add_argument(
        '--video-list',
        help='video ids to extract (default: every video '
        'below video_root)')
    parser.add_argument(
        '--ext',
        nargs='+',
        default=['.avi', '.mp4'],
        help='video suffixes (default .avi .mp4)')
    parser.add_argument(
        '--flat-video-dir',
        action='store_true',
        help='with --video-list: videos lie in '
        '{root}/{video}{ext}, without class folders')
    parser.add_argument('--filename-tmpl', default='{:05d}.jpg')
    parser.add_argument('--quality', type=int, default=95, help='JPEG quality')
    parser.add_argument('--num-workers', type=int, default=1)
    parser.add_argument(
        '--overwrite',
        action='store_true',
        help='re-extract videos whose folder has frames')
    return parser.parse_args(argv)


def _locate(video_root: str, video_id: str, exts: Sequence[str],
            flat: bool) -> str:
    """The file of ``video_id`` with the first suffix of ``exts`` found."""
    for ext in exts:
        path = video_path(video_root, video_id, ext, flat)
        if osp.isfile(path):
            return path
    raise FileNotFoundError(
        f'video {video_id!r} not found as '
        f'{video_path(video_root, video_id, "|".join(exts), flat)}')


def main(argv: Optional[Sequence[str]] = None) -> List[Tuple[str, str]]:
    """Extract the videos; return ``(video_id, status)`` per video.

    Raises:
        RuntimeError: Listing every video that failed.
    """
    args = parse_args(argv)
    exts = [
        e.lower() if e.startswith('.') else '.' + e.lower() for e in args.ext
    ]
    if args.video_list:
        videos = [(v, _locate(args.video_root, v, exts, args.flat_video_dir))
                  for v in read_split_list(args.video_list)]
    else:
        videos = find_videos(args.video_root, exts)
    if not videos:
        raise FileNotFoundError(f'no video with suffix {exts} found below '
                                f'{args.video_root}')
    tasks = [(v, p, osp.join(args.out_root, v), args.filename_tmpl,
              args.quality, args.overwrite) for v, p in videos]
    if args.num_workers > 1:
        results = track_parallel_progress(extract_frames, tasks,
                                          args.num_workers)
    else:
        results = track_progress(extract_frames, tasks)
    failed = [(v, s) for v, s in results if s.startswith('error')]
    truncated = [(v, s) for v, s in results if s.startswith('truncated')]
    skipped = sum(s.startswith('skipped') for _, s in results)
    print(f'\n{len(results) - len(failed) - skipped} extracted '
          f'({len(truncated)} truncated), {skipped} skipped, '
          f'{len(failed)} failed')
    for video_id, status in truncated:
        print(f'WARNING: {video_id}: {status}')
    if failed:
        raise RuntimeError('frame extraction failed for:\n' +
                           '\n'.join(f'{v}: {s}' for v, s in failed))
    return results


if __name__ == '__main__':
    main()
