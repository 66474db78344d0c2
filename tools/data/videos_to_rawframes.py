"""Extract every frame of a set of videos to rawframe folders (OpenCV).

Frames are written as ``{out_root}/{video_id}/{filename_tmpl}`` numbered from
1, the layout ``SpatioTemporalActionDataset`` reads with
``data_prefix=dict(img=out_root)``. Videos are decoded front to back, so raw
streams without an index (e.g. the ucf24-mini ``.mp4`` files) work too. After
writing, the frames on disk are counted: the count must equal the number of
frames OpenCV decoded, or the video is reported as failed.

Skipping and resuming. A folder counts as done only when it holds the
completion record :data:`DONE_FILE`, written atomically after its last frame
was written and counted, and exactly the frames that record names: a rerun
skips such folders (unless ``--overwrite``) and extracts every other one
again from the start, so a run killed mid-extraction is resumed by running
it again. A folder holding frames without the record (an interrupted
extraction, or frames from elsewhere) is re-extracted, and its status says
so.

A video whose decoding stops before the frame count its container (AVI,
MP4, ...) announces is truncated or corrupt: its decodable frames are
written, and it is reported as ``truncated`` (counted in the summary and
listed with the frame where decoding stopped; a warning, not a failure,
since the annotation converters then count the boxes past its last frame).
Raw streams announce no count, so their truncation cannot be detected.

Video ids come from ``--video-list`` (``Class/video`` per line, any split
list format of ``convert_ucf24.py``) or, without it, from every file with a
``--ext`` suffix below the video root (id = relative path without suffix).
One id names one video: two files of one id (``a.avi`` and ``a.mp4``) are an
error, since both would be extracted into the same folder.

Example::

    python tools/data/videos_to_rawframes.py data/ucf24/videos \\
        data/ucf24/rawframes --ext .avi --num-workers 8
"""
import argparse
import json
import os
import os.path as osp
from typing import Dict, List, Optional, Sequence, Tuple

import cv2
import numpy as np
from mmengine.utils import track_parallel_progress, track_progress

from mmyowo.datasets.transforms.loading import VideoDecodeError, video_path
from mmyowo.preparation.conversion import read_split_list
from mmyowo.preparation.media_probe import parse_frame_number
from mmyowo.utils.atomic_io import (atomic_write_text, load_json,
                                    remove_stale_temporaries)
from mmyowo.utils.image_io import write_image

# (video id, video path, output folder, filename template, JPEG quality,
#  overwrite)
Task = Tuple[str, str, str, str, int, bool]

#: Completion record of a rawframe folder (hidden, so that no frame
#: template matches it): ``{"frames": N, "filename_tmpl": ..., "video":
#: ..., "announced": ...}``, written last.
DONE_FILE = '.extracted.json'


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


def completed_frames(frame_dir: str, filename_tmpl: str) -> Optional[int]:
    """The frame count of a finished extraction into ``frame_dir``, or
    ``None``.

    Finished means: :data:`DONE_FILE` is there and readable, names this
    ``filename_tmpl``, and the frame files on disk are exactly the ones it
    records (``1..N``): a folder changed after the extraction is not
    finished either.
    """
    record = osp.join(frame_dir, DONE_FILE)
    try:
        done = load_json(record, ValueError)
        frames = int(done['frames'])
        same_tmpl = done['filename_tmpl'] == filename_tmpl
    except (OSError, ValueError, KeyError, TypeError, OverflowError):
        # Missing or unreadable (OverflowError: int() of a huge float):
        # not done, so extracted again.
        return None
    if not same_tmpl or frames < 1:
        return None
    on_disk = {
        parse_frame_number(filename_tmpl, name)
        for name in os.listdir(frame_dir)
    } - {None}
    return frames if on_disk == set(range(1, frames + 1)) else None


def write_frame(target: str, frame: np.ndarray, quality: int) -> None:
    """Write one BGR frame as an image file (JPEG for ``.jpg``), atomically
    (:func:`~mmyowo.utils.image_io.write_image`).

    Raises:
        OSError: Naming ``target``, when the frame cannot be encoded (e.g. a
            ``--filename-tmpl`` without an image suffix) or written.
    """
    write_image(target, frame, [cv2.IMWRITE_JPEG_QUALITY, quality])


def extract_frames(task: Task) -> Tuple[str, str]:
    """Write all frames of one video; return ``(video_id, status)``.

    ``status`` is ``'ok: N frames'`` (with a note when it replaced frames
    of an unfinished extraction), ``'truncated: ...'`` (N frames written,
    fewer than the container announces), ``'skipped: ...'`` (a finished
    extraction, see :func:`completed_frames`) or ``'error: ...'`` (errors
    are returned, not raised, so that one bad video does not stop a
    parallel run; :func:`main` reports them all and fails).
    """
    video_id, path, out_dir, filename_tmpl, quality, overwrite = task
    replaced = 0
    if osp.isdir(out_dir):
        done = completed_frames(out_dir, filename_tmpl)
        if done is not None and not overwrite:
            return video_id, (f'skipped: {done} frames of a finished '
                              'extraction exist (use --overwrite)')
        replaced = count_frames_on_disk(out_dir, filename_tmpl)
        # The record goes first: a kill while the old frames are removed
        # or the new ones written must not leave a folder marked done.
        record = osp.join(out_dir, DONE_FILE)
        if osp.exists(record):
            os.remove(record)
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
            write_frame(
                osp.join(out_dir, filename_tmpl.format(decoded)), frame,
                quality)
    except (OSError, VideoDecodeError) as err:
        return video_id, f'error: {err}'
    finally:
        capture.release()
    # The frames' writes leave it out: once per folder is enough.
    remove_stale_temporaries(out_dir)
    if decoded == 0:
        return video_id, (f'error: {path}: no frame could be decoded (empty, '
                          'corrupt or not a video file)')
    written = count_frames_on_disk(out_dir, filename_tmpl)
    if written != decoded:
        return video_id, (f'error: {out_dir}: {written} frame files on disk '
                          f'but {decoded} frames decoded from {path}')
    # Last, and atomically: only a folder whose every frame was written and
    # counted is ever marked done.
    atomic_write_text(
        json.dumps(
            dict(
                frames=decoded,
                filename_tmpl=filename_tmpl,
                video=path,
                announced=announced)), osp.join(out_dir, DONE_FILE))
    note = (f' (replaced {replaced} frame files of an unfinished or '
            'changed extraction)' if replaced and not overwrite else '')
    if decoded < announced:
        return video_id, (
            f'truncated: {decoded} frames written{note}; {path}: decoding '
            f'stopped at frame {decoded} (0-based) of the {announced} frames '
            'the container announces: the file is truncated or corrupt')
    return video_id, f'ok: {decoded} frames{note}'


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
        help='re-extract videos whose folder holds a finished '
        'extraction too (unfinished ones are always re-extracted)')
    return parser.parse_args(argv)


def _locate(video_root: str, video_id: str, exts: Sequence[str],
            flat: bool) -> str:
    """The file of ``video_id``: the one file with a suffix of ``exts``.

    Raises:
        FileNotFoundError: If there is none.
        ValueError: If there are several (``a.avi`` and ``a.mp4``).
    """
    found = [
        path for path in (video_path(video_root, video_id, ext, flat)
                          for ext in exts) if osp.isfile(path)
    ]
    if not found:
        raise FileNotFoundError(
            f'video {video_id!r} not found as '
            f'{video_path(video_root, video_id, "|".join(exts), flat)}')
    _refuse_ambiguous_ids([(video_id, path) for path in found])
    return found[0]


def _refuse_ambiguous_ids(videos: Sequence[Tuple[str, str]]) -> None:
    """Refuse an id given by several files: they would share one folder.

    Raises:
        ValueError: Naming every such id and its files.
    """
    paths: Dict[str, List[str]] = {}
    for video_id, path in videos:
        paths.setdefault(video_id, []).append(path)
    clashes = {v: p for v, p in paths.items() if len(p) > 1}
    if clashes:
        listed = '\n'.join(f'  {v}: {", ".join(p)}'
                           for v, p in sorted(clashes.items()))
        raise ValueError(
            f'{len(clashes)} video id(s) name several files, whose frames '
            'would go to one folder (one id must name one video: remove or '
            f'rename the extra files, or pass --ext with one suffix):\n'
            f'{listed}')


def main(argv: Optional[Sequence[str]] = None) -> List[Tuple[str, str]]:
    """Extract the videos; return ``(video_id, status)`` per video.

    Raises:
        FileNotFoundError: If a listed video or every video is missing.
        ValueError: If one video id names several files.
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
        _refuse_ambiguous_ids(videos)
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
