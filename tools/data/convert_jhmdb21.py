"""Convert J-HMDB-21 per-frame label files to canonical GT.

Input: the YOWO family's layout, ``labels/{Class}/{video}/{00001}.txt``, one
line ``cls x1 y1 x2 y2`` per person (1-based class, pixel corners), plus
split lists (``trainlist.txt`` / ``testlist.txt``, one video or one label
file per line; pass one ``--train-list`` / ``--test-list`` pair per split).

Output: the canonical dict of ``mmyowo.datasets.annotations`` with the videos
of the split lists. The k-th line of a class in the label files of a video
forms that class's k-th tube (J-HMDB has one actor per video); a video whose
label files hold no box is refused. Boxes are clipped into the frame; boxes
narrower or lower than ``--min-size`` pixels after clipping are dropped and
counted in the final report. ``nframes`` and
the frame size come from the rawframes (``--frames-root``) when given, else
from the last labelled frame and ``--frame-size`` (default 320x240, the
J-HMDB resolution).

Example::

    python tools/data/convert_jhmdb21.py data/jhmdb/labels \\
        --train-list data/jhmdb/trainlist.txt \\
        --test-list data/jhmdb/testlist.txt \\
        --frames-root data/jhmdb/rgb-images --filename-tmpl '{:05d}.png' \\
        --out data/jhmdb/annotations/jhmdb21_gt.pkl
"""
import argparse
import os
import os.path as osp
from collections import Counter
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
from mmengine.utils import track_iter_progress

from mmyowo.datasets.jhmdb21 import JHMDB21_CLASSES
from mmyowo.preparation.conversion import (new_ground_truth, read_split_list,
                                           sanitize_tube, save_converted,
                                           split_videos, text_lines)
from mmyowo.preparation.media_probe import probe_media

FRAME_SIZE = (320, 240)  # (w, h) of every J-HMDB video

# {label (0-based): [[(frame, x1, y1, x2, y2), ...] per tube]}
VideoLabels = Dict[int, List[List[Tuple[float, ...]]]]


def read_label_dir(label_dir: str) -> VideoLabels:
    """Read the per-frame label files of one video.

    Raises:
        FileNotFoundError: If the folder does not exist or has no label file.
        ValueError: Naming the file and line for a malformed line (also a
            NaN or infinite coordinate, or a class that is not an integer),
            a class outside ``1..21`` or bytes that are not UTF-8 text;
            naming the folder when its label files hold no box.
    """
    if not osp.isdir(label_dir):
        raise FileNotFoundError(f'label folder not found: {label_dir}')
    names = sorted(n for n in os.listdir(label_dir) if n.endswith('.txt'))
    if not names:
        raise FileNotFoundError(f'{label_dir}: no label files (*.txt)')
    tubes: VideoLabels = {}
    for name in names:
        path = osp.join(label_dir, name)
        stem = osp.splitext(name)[0]
        if not (stem.isascii() and stem.isdigit()):
            raise ValueError(f'{path}: label files must be named by frame '
                             'number, e.g. 00001.txt')
        frame = int(stem)
        seen: Counter = Counter()
        for lineno, line in text_lines(path):
            if not line.strip():
                continue
            fields = line.split()
            try:
                if len(fields) != 5:
                    raise ValueError(f'{len(fields)} fields')
                # float() first: '1.0' is class 1; but int() would truncate
                # '1.5' and fail on 'inf' with an OverflowError.
                number = float(fields[0])
                if not number.is_integer():
                    raise ValueError(f'class {fields[0]!r} is not an integer')
                cls = int(number)
                box = tuple(float(v) for v in fields[1:])
                if not np.isfinite(box).all():
                    # float() reads 'nan' and 'inf'; clipping would
                    # turn an infinite side into the frame border.
                    raise ValueError('a coordinate is not finite')
            except ValueError as err:
                raise ValueError(
                    f'{path}:{lineno}: expected "cls x1 y1 x2 y2", got '
                    f'{line.strip()!r} ({err})') from err
            if not 1 <= cls <= len(JHMDB21_CLASSES):
                raise ValueError(f'{path}:{lineno}: class {cls} outside '
                                 f'1..{len(JHMDB21_CLASSES)}')
            label = cls - 1
            per_label = tubes.setdefault(label, [])
            if seen[label] == len(per_label):
                per_label.append([])
            per_label[seen[label]].append((frame, *box))
            seen[label] += 1
    if not tubes:
        # Neither nframes (the last labelled frame) nor a tube could come
        # from it: a video in the splits without its action.
        raise ValueError(f'{label_dir}: the label files hold no box (all '
                         f'{len(names)} are blank): remove the video from the '
                         'split lists')
    return tubes


def build_gt(labels: Dict[str, VideoLabels],
             train_lists: Sequence[Sequence[str]],
             test_lists: Sequence[Sequence[str]],
             disk: Dict[str, Tuple[int, int, int]],
             frame_size: Tuple[int, int] = FRAME_SIZE,
             min_size: float = 1.0) -> Tuple[Dict, Counter]:
    """Build the canonical dict from the label files read per video.

    Args:
        labels: ``{video: read_label_dir(...)}`` for every split video.
        train_lists: One video list per split.
        test_lists: Same for testing.
        disk: ``{video: (num_frames, h, w)}`` measured on disk; other videos
            get ``nframes`` = last labelled frame and ``frame_size``.
        frame_size: ``(w, h)`` for videos not in ``disk``.
        min_size: Minimum box width / height after clipping.

    Returns:
        ``(gt, report)`` with counts of videos, tubes, boxes and of the
        boxes clipped or dropped.

    Raises:
        ValueError: For a video without any box (see :func:`read_label_dir`).
    """
    report: Counter = Counter()
    gt, videos = new_ground_truth(JHMDB21_CLASSES, train_lists, test_lists)
    for video in videos:
        per_label: Dict[int, List[np.ndarray]] = {}
        frames = [
            row[0] for tubes in labels[video].values() for tube in tubes
            for row in tube
        ]
        if not frames:
            raise ValueError(f'video {video!r}: no box in its label files')
        last_frame = max(frames)
        if video in disk:
            nframes, h, w = disk[video]
        else:
            (w, h), nframes = frame_size, int(last_frame)
        for label, tubes in labels[video].items():
            for rows in tubes:
                array = np.asarray(rows, dtype=np.float64)
                tube = sanitize_tube(array[:, 0], array[:, 1:], (h, w),
                                     nframes, min_size, report)
                if tube is not None:
                    per_label.setdefault(label, []).append(tube)
        gt['gttubes'][video] = per_label
        gt['nframes'][video] = nframes
        gt['resolution'][video] = (h, w)
        report['videos'] += 1
    return gt, report


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Convert J-HMDB-21 label files to canonical GT.')
    parser.add_argument(
        'labels_root', help='folder with {Class}/{video}/00001.txt')
    parser.add_argument('--out', required=True, help='output .pkl or .json')
    parser.add_argument(
        '--train-list',
        action='append',
        required=True,
        help='train split list; repeat per split')
    parser.add_argument(
        '--test-list',
        action='append',
        required=True,
        help='test split list; one per --train-list')
    parser.add_argument(
        '--frames-root',
        help='rawframes {root}/{Class}/{video}/00001.png: '
        'frame counts and sizes are read from there')
    parser.add_argument('--filename-tmpl', default='{:05d}.png')
    parser.add_argument(
        '--frame-size',
        type=int,
        nargs=2,
        metavar=('W', 'H'),
        default=list(FRAME_SIZE),
        help='frame size without --frames-root')
    parser.add_argument(
        '--min-size',
        type=float,
        default=1.0,
        help='drop boxes narrower/lower than this (pixels)')
    parser.add_argument('--num-workers', type=int, default=1)
    args = parser.parse_args(argv)
    if len(args.train_list) != len(args.test_list):
        parser.error('give one --test-list per --train-list')
    return args


def main(argv: Optional[Sequence[str]] = None) -> Dict:
    """Run the conversion; return the canonical dict written to ``--out``."""
    args = parse_args(argv)
    train_lists = [read_split_list(p) for p in args.train_list]
    test_lists = [read_split_list(p) for p in args.test_list]
    videos = split_videos(train_lists, test_lists)
    labels = {
        video: read_label_dir(osp.join(args.labels_root, video))
        for video in track_iter_progress(videos)
    }
    disk: Dict[str, Tuple[int, int, int]] = {}
    if args.frames_root:
        disk, absent = probe_media(
            videos,
            frames_root=args.frames_root,
            filename_tmpl=args.filename_tmpl,
            num_workers=args.num_workers)
        if absent:
            raise FileNotFoundError(
                f'{len(absent)} split video(s) have no rawframes under '
                f'{args.frames_root}, e.g. {absent[:3]}')
    gt, report = build_gt(labels, train_lists, test_lists, disk,
                          tuple(args.frame_size), args.min_size)
    save_converted(gt, report, args.out)
    return gt


if __name__ == '__main__':
    main()
