"""Convert one plain CSV of person boxes to canonical ground truth.

Input: a CSV whose header names the columns ``video, frame, x1, y1, x2, y2,
label`` and optionally ``track_id`` (and a split column, see
``--split-column``); a class list (one name a line, index = 0-based label);
the frames (``--frames-root``: rawframe folders ``{root}/{video}/00001.jpg``,
or numbered from ``00000.jpg`` with ``--start-index 0``) or videos
(``--videos-root``: ``{root}/{video}{--video-ext}``) on disk, from which
every video's frame count and size are read; the splits, from
``--train-list`` / ``--test-list`` (video ids, one a line; a listed video
without rows is a video without action; a video in both lists of one split
is an error) or from the split column.

What the file means is declared by flags, never guessed: ``--coords pixel``
(pixels of the frames on disk) or ``normalized``; ``--frame-base 0|1``;
``--label-by name`` or ``index`` with ``--index-base 0|1``; the number of
the first rawframe file, ``--start-index 0|1`` (a folder holding a frame
numbered before it is refused; the dataset config then needs the same
``start_index``). Several labels of one box: ``run;jump`` in one row, or
several rows with the identical box. The ground truth numbers frames from 1
whatever the files' numbering.

Output: the canonical dict of ``mmyowo.datasets.annotations`` (``.pkl`` or
``.json``), validated before it is written, and a report of what was
counted. Tubes: one per track and label with a ``track_id`` column, else one
per label and video; a gap of more than ``--max-gap`` frames starts a new
tube (:mod:`mmyowo.preparation.csv_tubes`). Every problem (an unknown
label, an index or frame off by one, a frame past the video, a box outside
its frame, ``x2 <= x1``, NaN, a missing column, a repeated row ...) is
reported with its CSV row (the header is row 1) and value, and the tool
exits with status 1 without writing the file.

Example::

    python tools/data/convert_csv.py data/my_actions/annotations.csv \\
        --classes data/my_actions/classes.txt --label-by name \\
        --frame-base 0 --coords pixel \\
        --frames-root data/my_actions/rawframes \\
        --train-list data/my_actions/train.txt \\
        --test-list data/my_actions/test.txt \\
        --out data/my_actions/annotations/my_actions_gt.pkl
"""
import argparse
import math
import sys
from typing import Dict, List, Optional, Sequence

from mmyowo.datasets.annotations import DEFAULT_BOX_TOLERANCE
from mmyowo.preparation.conversion import save_converted, split_videos
from mmyowo.preparation.csv_annotations import (CSVAnnotationError, CSVOptions,
                                                read_csv_annotations)
from mmyowo.preparation.csv_tubes import (build_ground_truth, read_class_list,
                                          read_video_list, splits_from_rows)
from mmyowo.preparation.media_probe import probe_media


def tolerance(text: str) -> float:
    """A ``--box-tolerance``: a finite number of pixels, at least 0."""
    value = float(text)
    # NaN compares false with everything: it would accept any box.
    if not (math.isfinite(value) and value >= 0):
        raise argparse.ArgumentTypeError(
            f'{text!r} is not a finite number of pixels >= 0 (to clip boxes '
            'lying outside by any distance, pass --clip-boxes)')
    return value


def check_disjoint_splits(train_lists: Sequence[Sequence[str]],
                          test_lists: Sequence[Sequence[str]],
                          train_paths: Sequence[str],
                          test_paths: Sequence[str]) -> None:
    """Refuse a video listed for both training and testing in one split.

    Raises:
        ValueError: Naming both list files and the shared videos.
    """
    problems: List[str] = []
    for split, (train, test) in enumerate(zip(train_lists, test_lists)):
        in_train = set(train)
        shared = [v for v in test if v in in_train]
        if shared:
            problems.append(f'split {split}: {len(shared)} video(s) in both '
                            f'{train_paths[split]} and {test_paths[split]}: '
                            f'{shared[:5]}{" ..." if len(shared) > 5 else ""}')
    if problems:
        raise ValueError('a video must be in the train list or the test list '
                         'of a split, not in both (it would be tested on '
                         'the boxes it was trained on):\n' +
                         '\n'.join(f'  {p}' for p in problems))


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Convert an annotation CSV to canonical ground truth.')
    parser.add_argument('csv', help='annotation CSV with a header row')
    parser.add_argument('--out', required=True, help='output .pkl or .json')
    parser.add_argument(
        '--classes', required=True, help='class names, one per line')
    parser.add_argument(
        '--label-by',
        choices=('name', 'index'),
        default='name',
        help='the label column holds class names (default) '
        'or indices into --classes')
    parser.add_argument(
        '--index-base',
        type=int,
        choices=(0, 1),
        help='with --label-by index: index of the first '
        'class (required)')
    parser.add_argument(
        '--frame-base',
        type=int,
        choices=(0, 1),
        required=True,
        help='number of the first frame of a video')
    parser.add_argument(
        '--coords',
        choices=('pixel', 'normalized'),
        required=True,
        help='boxes in pixels of the frames on disk, or as '
        'fractions of the frame width / height')
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument(
        '--frames-root', help='rawframes {root}/{video}/00001.jpg')
    source.add_argument('--videos-root', help='videos {root}/{video}{ext}')
    parser.add_argument('--filename-tmpl', default='{:05d}.jpg')
    parser.add_argument(
        '--start-index',
        type=int,
        choices=(0, 1),
        help='with --frames-root: number of the first rawframe file '
        '(default 1, 00001.jpg; give the dataset the same start_index)')
    parser.add_argument('--video-ext', default='.mp4')
    splits = parser.add_mutually_exclusive_group(required=True)
    splits.add_argument(
        '--split-column', help='CSV column holding train / test per row')
    splits.add_argument(
        '--train-list',
        action='append',
        help='video ids of a training split, one per line; repeat (with '
        '--test-list) for more splits')
    parser.add_argument(
        '--test-list',
        action='append',
        help='test split list; one per --train-list')
    parser.add_argument(
        '--box-tolerance',
        type=tolerance,
        default=DEFAULT_BOX_TOLERANCE,
        help='pixels a box may lie outside its frame; it is clipped')
    parser.add_argument(
        '--clip-boxes',
        action='store_true',
        help='clip boxes lying further outside their frame '
        '(counted) instead of refusing them')
    parser.add_argument(
        '--max-gap',
        type=int,
        default=0,
        help='missing frames a tube may skip; a longer gap '
        'starts a new tube')
    parser.add_argument(
        '--num-workers',
        type=int,
        default=1,
        help='processes measuring the media on disk')
    args = parser.parse_args(argv)
    if args.label_by == 'index' and args.index_base is None:
        parser.error('--label-by index needs --index-base 0 or 1')
    if args.label_by == 'name' and args.index_base is not None:
        parser.error('--index-base applies to --label-by index only')
    if args.train_list and len(args.train_list) != len(args.test_list or []):
        parser.error('give one --test-list per --train-list')
    if args.split_column and args.test_list:
        parser.error('--test-list goes with --train-list, not with '
                     '--split-column')
    if args.start_index is not None and not args.frames_root:
        parser.error('--start-index numbers rawframe files: it goes with '
                     '--frames-root')
    if args.start_index is None:
        args.start_index = 1
    return args


def main(argv: Optional[Sequence[str]] = None) -> Dict:
    """Run the conversion; return the canonical dict written to ``--out``."""
    args = parse_args(argv)
    classes = read_class_list(args.classes)
    options = CSVOptions(
        frame_base=args.frame_base,
        coords=args.coords,
        label_by=args.label_by,
        index_base=args.index_base,
        split_column=args.split_column,
        box_tolerance=args.box_tolerance,
        clip_boxes=args.clip_boxes,
        max_gap=args.max_gap)
    rows = read_csv_annotations(args.csv, classes, options)
    if args.split_column:
        train_lists, test_lists = splits_from_rows(rows, args.csv,
                                                   args.split_column)
    else:
        train_lists = [read_video_list(p) for p in args.train_list]
        test_lists = [read_video_list(p) for p in args.test_list]
        check_disjoint_splits(train_lists, test_lists, args.train_list,
                              args.test_list)
    media, absent = probe_media(
        split_videos(train_lists, test_lists),
        args.frames_root,
        args.videos_root,
        args.filename_tmpl,
        args.video_ext,
        num_workers=args.num_workers,
        start_index=args.start_index)
    if absent:
        where = (f'rawframe folders below {args.frames_root}'
                 if args.frames_root else
                 f'{args.videos_root}/<video>{args.video_ext}')
        raise FileNotFoundError(
            f'{len(absent)} video(s) of the splits not found as {where}, '
            f'e.g. {absent[:3]} (video ids carry no file suffix)')
    gt, report = build_ground_truth(rows, classes, train_lists, test_lists,
                                    media, options, args.csv)
    save_converted(gt, report, args.out)
    return gt


if __name__ == '__main__':
    try:
        main()
    except CSVAnnotationError as err:
        # The user's file, not the converter, is wrong: the listed problems
        # are the whole message, a traceback would bury them.
        sys.exit(str(err))
