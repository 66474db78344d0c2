"""Convert UCF101-24 annotations (``finalAnnots.mat``) to canonical GT.

Input: the YOWO family's layout, i.e. ``finalAnnots.mat`` (a struct array
``annot`` with one entry per video: ``name`` (or ``videoName``)
``Class/v_Class_gXX_cYY``, ``num_imgs`` and ``tubes``, each tube with 1-based
``sf`` / ``ef`` frames, 1-based ``class`` and ``boxes`` ``[x, y, w, h]`` in
320x240 pixels) plus split lists (``trainlist.txt`` / ``testlist.txt``: one
video per line, or one annotated frame per line as in YOWO's lists).

Output: the canonical dict of ``mmyowo.datasets.annotations`` with the videos
of the split lists. Boxes become xyxy ``(x, y, x + w, y + h)`` rescaled from
the annotation size to the size of the frames on disk, read from the
rawframes (``--frames-root``) or videos (``--videos-root``) or given with
``--frame-size``. They are then clipped into the frame; boxes narrower or
lower than ``--min-size`` pixels after clipping are dropped. With frames on
disk, ``nframes`` is the number of frames there and boxes past it are
dropped; every change is counted in the final report.

Example::

    python tools/data/convert_ucf24.py data/ucf24/finalAnnots.mat \\
        --train-list data/ucf24/trainlist.txt \\
        --test-list data/ucf24/testlist_video.txt \\
        --frames-root data/ucf24/rawframes \\
        --out data/ucf24/annotations/ucf24_gt.pkl
"""
import argparse
import os.path as osp
import zlib
from collections import Counter
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np

from mmyowo.datasets.ucf24 import UCF24_CLASSES
from mmyowo.preparation.conversion import (new_ground_truth, read_split_list,
                                           sanitize_tube, save_converted,
                                           split_videos)
from mmyowo.preparation.media_probe import probe_media

ANNOT_SIZE = (320, 240)  # (w, h) of the boxes in finalAnnots.mat

# One parsed tube: (0-based label, first frame, (n, 4) xywh float64 boxes).
Tube = Tuple[int, int, np.ndarray]


def _shown(values: Any) -> str:
    """A .mat field's values for an error message (a count when many)."""
    values = np.asarray(values).reshape(-1)
    if values.size > 4:
        return f'{values.size} values'
    return str(values.tolist())


def _integer(value: Any) -> Optional[int]:
    """The one integer a .mat field holds, or None for no value, several
    values, NaN, infinity, a fraction or something else than a number (which
    int() would truncate, or fail on without naming the field)."""
    values = np.asarray(value).reshape(-1)
    if values.size != 1:
        return None
    try:
        number = float(values[0])
    except (TypeError, ValueError):
        return None
    return int(number) if number.is_integer() else None


def parse_final_annots(path: str) -> Dict[str, Tuple[int, List[Tube]]]:
    """Read ``finalAnnots.mat`` into ``{video: (num_imgs, [tube, ...])}``.

    Raises:
        FileNotFoundError: If ``path`` does not exist.
        ValueError: Naming the file for a file scipy cannot read as a .mat
            (empty, truncated, corrupt, not a .mat v5 file), and the file
            and video for a malformed entry (no ``annot`` struct, a video
            name that is not one string, a ``num_imgs`` that is not one
            positive integer, ``sf`` / ``ef`` / ``class`` that are not one
            integer each, boxes that are not an ``(n, 4)`` array, a tube
            whose box count differs from ``ef - sf + 1``, a non-finite box
            coordinate, a class outside 1..24 or one that contradicts the
            class folder of the video).
    """
    from scipy.io import loadmat
    from scipy.io.matlab import MatReadError
    if not osp.isfile(path):
        raise FileNotFoundError(f'annotation file not found: {path}')
    try:
        mat = loadmat(path)
    except (MatReadError, ValueError, TypeError, IndexError, OSError,
            zlib.error, NotImplementedError) as err:
        # What scipy raises for damaged files, measured: MatReadError
        # (empty), ValueError (text / random bytes), IndexError / OSError /
        # zlib.error / TypeError (truncated or corrupted records),
        # NotImplementedError (v7.3 HDF5 files).
        raise ValueError(
            f'{path}: cannot be read as a MATLAB .mat file (empty, '
            f'truncated, corrupt or not a v5 .mat): {type(err).__name__}: '
            f'{err}') from err
    if 'annot' not in mat:
        raise ValueError(f'{path}: no "annot" struct array (keys: '
                         f'{[k for k in mat if not k.startswith("__")]})')
    entries = np.asarray(mat['annot']).reshape(-1)
    fields = entries.dtype.names or ()
    name_field = 'name' if 'name' in fields else 'videoName'
    for field in (name_field, 'num_imgs', 'tubes'):
        if field not in fields:
            raise ValueError(f'{path}: annot entries lack field {field!r} '
                             f'(fields: {fields})')
    videos = {}
    for number, entry in enumerate(entries):
        name = np.asarray(entry[name_field]).reshape(-1)
        if name.size != 1 or not str(name[0]):
            raise ValueError(f'{path}: annot entry {number}: {name_field} '
                             'must be one video id "Class/video", got '
                             f'{_shown(name)}')
        video = str(name[0])
        num_imgs = _integer(entry['num_imgs'])
        if num_imgs is None or num_imgs < 1:
            raise ValueError(
                f'{path}: video {video!r}: num_imgs must be one '
                f'positive integer, got {_shown(entry["num_imgs"])}')
        tubes_field = np.asarray(entry['tubes']).reshape(-1)
        tubes = []
        if tubes_field.dtype.names:
            missing = [
                f for f in ('sf', 'ef', 'class', 'boxes')
                if f not in tubes_field.dtype.names
            ]
            if missing:
                raise ValueError(f'{path}: video {video!r}: tubes lack '
                                 f'field(s) {missing} (fields: '
                                 f'{tubes_field.dtype.names})')
            for index, tube in enumerate(tubes_field):
                tubes.append(_parse_tube(tube, path, video, index))
        elif tubes_field.size:
            # Videos without tubes hold []; anything else would be read as
            # a video without action.
            raise ValueError(f'{path}: video {video!r}: tubes is not a '
                             f'struct array (got {_shown(tubes_field)})')
        videos[video] = (num_imgs, tubes)
    return videos


def _parse_tube(tube: np.void, path: str, video: str, index: int) -> Tube:
    where = f'{path}: video {video!r} tube {index}'
    start, end, label = (_integer(tube[f]) for f in ('sf', 'ef', 'class'))
    if start is None or end is None or label is None:
        raise ValueError(f'{where}: sf, ef and class must be integers, got '
                         f'{_shown(tube["sf"])}, {_shown(tube["ef"])} and '
                         f'{_shown(tube["class"])}')
    label -= 1
    boxes = np.asarray(tube['boxes'])
    if boxes.ndim != 2 or boxes.shape[1] != 4:
        # reshape(-1, 4) would read 3 boxes of 4 columns from 4 boxes of 3.
        raise ValueError(f'{where}: boxes must be an (n, 4) array of x, y, '
                         f'w, h, got shape {boxes.shape}')
    try:
        # Boxes are uint8/uint16 in the file: widen before x + w can
        # overflow.
        boxes = boxes.astype(np.float64)
    except (TypeError, ValueError) as err:
        raise ValueError(f'{where}: boxes are not numbers ({err})') from None
    if boxes.shape[0] != end - start + 1:
        raise ValueError(f'{where}: {boxes.shape[0]} boxes for frames '
                         f'{start}..{end}')
    finite = np.isfinite(boxes).all(1)
    if not finite.all():
        # Clipping would turn an infinite side into the frame border and
        # the converter's report would count a NaN box as degenerate.
        row = int(np.flatnonzero(~finite)[0])
        raise ValueError(f'{where}: frame {start + row}: box '
                         f'{boxes[row].tolist()} is not finite')
    if not 0 <= label < len(UCF24_CLASSES):
        raise ValueError(f'{where}: class {label + 1} outside 1..'
                         f'{len(UCF24_CLASSES)}')
    folder = video.split('/')[0]
    if folder != UCF24_CLASSES[label]:
        raise ValueError(f'{where}: class {label + 1} '
                         f'({UCF24_CLASSES[label]}) contradicts the class '
                         f'folder {folder!r}')
    return label, start, boxes


def build_gt(annots: Dict[str, Tuple[int, List[Tube]]],
             train_lists: Sequence[Sequence[str]],
             test_lists: Sequence[Sequence[str]],
             disk: Dict[str, Tuple[int, int, int]],
             annot_size: Tuple[int, int] = ANNOT_SIZE,
             frame_size: Optional[Tuple[int, int]] = None,
             min_size: float = 1.0) -> Tuple[Dict, Counter]:
    """Build the canonical dict from parsed annotations.

    Args:
        annots: Output of :func:`parse_final_annots`.
        train_lists: One video list per split (already restricted to the
            videos to convert).
        test_lists: Same for testing.
        disk: ``{video: (num_frames, h, w)}`` measured on disk; videos
            absent from it use ``num_imgs`` and ``frame_size``.
        annot_size: ``(w, h)`` the boxes are given in.
        frame_size: ``(w, h)`` of the frames of videos not in ``disk``
            (default: ``annot_size``).
        min_size: Minimum box width / height after clipping.

    Returns:
        ``(gt, report)`` where ``report`` counts videos, tubes, boxes and
        every box that was clipped or dropped.
    """
    frame_size = frame_size or annot_size
    report: Counter = Counter()
    gt, videos = new_ground_truth(UCF24_CLASSES, train_lists, test_lists)
    for video in videos:
        num_imgs, tubes = annots[video]
        if video in disk:
            nframes, h, w = disk[video]
            if nframes != num_imgs:
                report['videos whose frame count differs from num_imgs'] += 1
        else:
            (w, h), nframes = frame_size, num_imgs
        scale = np.array([w / annot_size[0], h / annot_size[1]] * 2)
        gt['nframes'][video] = nframes
        gt['resolution'][video] = (h, w)
        per_label: Dict[int, List[np.ndarray]] = {}
        for label, start, xywh in tubes:
            frames = np.arange(start, start + len(xywh))
            xyxy = np.concatenate([xywh[:, :2], xywh[:, :2] + xywh[:, 2:]], 1)
            tube = sanitize_tube(frames, xyxy * scale, (h, w), nframes,
                                 min_size, report)
            if tube is not None:
                per_label.setdefault(label, []).append(tube)
        gt['gttubes'][video] = per_label
        report['videos'] += 1
    return gt, report


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Convert UCF101-24 finalAnnots.mat to canonical GT.')
    parser.add_argument('mat', help='finalAnnots.mat')
    parser.add_argument('--out', required=True, help='output .pkl or .json')
    parser.add_argument(
        '--train-list',
        action='append',
        required=True,
        help='train split list; repeat (with --test-list) for more splits')
    parser.add_argument(
        '--test-list',
        action='append',
        required=True,
        help='test split list; one per --train-list')
    source = parser.add_mutually_exclusive_group()
    source.add_argument(
        '--frames-root',
        help='rawframes {root}/{Class}/{video}/00001.jpg: '
        'frame counts and sizes are read from there')
    source.add_argument(
        '--videos-root',
        help='videos {root}/{Class}/{video}{ext}: frame '
        'counts and sizes are decoded from there')
    parser.add_argument('--filename-tmpl', default='{:05d}.jpg')
    parser.add_argument('--video-ext', default='.avi')
    parser.add_argument(
        '--flat-video-dir',
        action='store_true',
        help='videos lie in {root}/{video}{ext}')
    parser.add_argument(
        '--frame-size',
        type=int,
        nargs=2,
        metavar=('W', 'H'),
        help='on-disk frame size when no frames/videos root is given '
        '(default: the annotation size)')
    parser.add_argument(
        '--annot-size',
        type=int,
        nargs=2,
        metavar=('W', 'H'),
        default=list(ANNOT_SIZE),
        help='size the mat boxes refer to (default 320 240)')
    parser.add_argument(
        '--min-size',
        type=float,
        default=1.0,
        help='drop boxes narrower/lower than this (pixels)')
    parser.add_argument(
        '--on-disk-only',
        action='store_true',
        help='drop split videos missing under the frames/videos root '
        '(default: a missing video is an error)')
    parser.add_argument(
        '--num-workers',
        type=int,
        default=1,
        help='processes probing the videos on disk')
    args = parser.parse_args(argv)
    if len(args.train_list) != len(args.test_list):
        parser.error('give one --test-list per --train-list')
    if args.on_disk_only and not (args.frames_root or args.videos_root):
        parser.error('--on-disk-only needs --frames-root or --videos-root')
    return args


def main(argv: Optional[Sequence[str]] = None) -> Dict:
    """Run the conversion; return the canonical dict written to ``--out``."""
    args = parse_args(argv)
    annots = parse_final_annots(args.mat)
    train_lists = [read_split_list(p) for p in args.train_list]
    test_lists = [read_split_list(p) for p in args.test_list]
    for path, videos in zip(args.train_list + args.test_list,
                            train_lists + test_lists):
        missing = [v for v in videos if v not in annots]
        if missing:
            raise ValueError(f'{path}: {len(missing)} video(s) not in '
                             f'{args.mat}, e.g. {missing[:3]}')
    wanted = split_videos(train_lists, test_lists)
    disk: Dict[str, Tuple[int, int, int]] = {}
    if args.frames_root or args.videos_root:
        disk, absent = probe_media(wanted, args.frames_root, args.videos_root,
                                   args.filename_tmpl, args.video_ext,
                                   args.flat_video_dir, args.num_workers)
        if absent and not args.on_disk_only:
            raise FileNotFoundError(
                f'{len(absent)} split video(s) not found on disk, e.g. '
                f'{absent[:3]} (pass --on-disk-only to skip them)')
        if absent:
            print(f'skipping {len(absent)} split video(s) not on disk')
            train_lists = [[v for v in vs if v in disk] for vs in train_lists]
            test_lists = [[v for v in vs if v in disk] for vs in test_lists]
    gt, report = build_gt(annots, train_lists, test_lists, disk,
                          tuple(args.annot_size),
                          tuple(args.frame_size) if args.frame_size else None,
                          args.min_size)
    save_converted(gt, report, args.out)
    return gt


if __name__ == '__main__':
    main()
