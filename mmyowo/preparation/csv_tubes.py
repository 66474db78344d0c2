"""Turn checked CSV rows into canonical ground truth (``convert_csv.py``).

Preparation code: nothing at training or inference time imports it. The
rows come from :func:`.csv_annotations.read_csv_annotations`; here they
meet the class list, the splits (lists or the CSV's split column) and the
media on disk (frame counts and sizes from
:func:`.media_probe.probe_media`), and become tubes.

Checks (each problem names the CSV row and the value, all are raised
together as a :class:`~.csv_annotations.CSVAnnotationError`):

- a video in no split list; a frame past the last frame on disk (with a
  hint when the frame equals the frame count of a 0-based file);
- a box outside its frame by more than ``box_tolerance`` pixels (refused,
  or clipped and counted with ``clip_boxes``), or with no part inside it;
  boxes outside by at most the tolerance are clipped and counted;
- a repeated row (same video, frame, track and label); a track with two
  different boxes on one frame; without track ids, two boxes of one label
  on one frame, and two labels on nearly but not exactly the same box.

Tubes (the ACT-style ground truth of ``docs/architecture.md``). With a
``track_id`` column, the boxes of one track and one label make that
person's tube of the label; without it, the boxes of one label in one video
do, which is unambiguous only while each frame holds at most one box of the
label: a second one is an error asking for track ids, never a guess by
overlap. Either way a gap of more than ``max_gap`` missing frames ends a
tube, so an action that stops and starts again is two instances (as in
UCF101-24). Video-mAP compares tubes frame by frame: annotate every frame of
an action, or expect its ground-truth tubes to have holes.

Multi-label boxes: a box with several labels (``run;jump`` or several rows
with the identical box) is written as one tube per label carrying the
identical float32 box on each shared frame; the dataset merges identical
boxes of one frame into one box with several labels.
"""
import os.path as osp
from collections import Counter
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from .conversion import new_ground_truth, text_lines
from .csv_annotations import (LABEL_SEPARATOR, CSVAnnotationError, CSVOptions,
                              CSVRow)

#: Two different boxes of one frame overlapping more than this (IoU) with
#: different labels are taken for one person boxed twice.
NEAR_DUPLICATE_IOU = 0.95

#: ``(num_frames, height, width)`` of a video, as probe_media measures it.
Media = Tuple[int, int, int]
_Kept = Tuple[CSVRow, np.ndarray]


def build_ground_truth(rows: Sequence[CSVRow], classes: Sequence[str],
                       train_lists: Sequence[Sequence[str]],
                       test_lists: Sequence[Sequence[str]],
                       media: Dict[str, Media], options: CSVOptions,
                       source: str) -> Tuple[dict, Counter]:
    """Build the canonical dict from the rows of an annotation CSV.

    Args:
        rows: Checked rows (:func:`.csv_annotations.read_csv_annotations`).
        classes: Class names; index = 0-based label.
        train_lists: One video list per split.
        test_lists: Same for testing.
        media: ``{video: (num_frames, h, w)}`` on disk, for every video of
            the split lists.
        options: What the file means.
        source: The CSV file, named in errors.

    Returns:
        ``(gt, report)``: the canonical dict (every split video with a
        ``gttubes`` entry, ``{}`` for a video without rows) and counts of
        rows, videos, boxes, multi-label boxes, tubes and clipped boxes.

    Raises:
        KeyError: If a split video is missing from ``media``.
        CSVAnnotationError: Listing every problem with its row.
    """
    gt, videos = new_ground_truth(classes, train_lists, test_lists)
    listed = set(videos)
    report: Counter = Counter(rows=len(rows))
    problems: List[Tuple[int, str]] = []
    unlisted: Dict[str, int] = {}
    kept: List[_Kept] = []
    for row in rows:
        if row.video not in listed:
            unlisted.setdefault(row.video, row.row)
            continue
        try:
            kept.append(
                (row, _checked_box(row, media[row.video], options, report)))
        except _Refused as problem:
            problems.append((row.row, f'row {row.row}: {problem}'))
    for video, first in unlisted.items():
        problems.append((first, f'row {first}: video {video!r} is in no '
                         'split list (every video of the CSV must be in '
                         'one)'))
    problems.extend(_check_people(kept, classes))
    if problems:
        raise CSVAnnotationError(source, [p for _, p in sorted(problems)])

    for video in videos:
        num_frames, h, w = media[video]
        gt['nframes'][video] = num_frames
        gt['resolution'][video] = (h, w)
    tubes = _tubes(kept, options.max_gap)
    for video in videos:
        per_label = tubes.get(video, {})
        gt['gttubes'][video] = {
            label: per_label[label]
            for label in sorted(per_label)
        }
        report['tubes'] += sum(len(t) for t in per_label.values())
        if not per_label:
            report['videos without boxes (empty ground truth)'] += 1
    report['videos'] = len(videos)
    _count_boxes(kept, report)
    return gt, report


def read_class_list(path: str) -> List[str]:
    """Read class names, one per line (blank lines skipped).

    Raises:
        FileNotFoundError: If ``path`` does not exist.
        ValueError: Naming the file and line for an empty list, a
            duplicated name, a name holding :data:`LABEL_SEPARATOR` or bytes
            that are not UTF-8 text.
    """
    if not osp.isfile(path):
        raise FileNotFoundError(f'class list not found: {path}')
    names: Dict[str, int] = {}
    for lineno, line in text_lines(path):
        name = line.strip()
        if not name:
            continue
        if name in names:
            raise ValueError(f'{path}:{lineno}: class {name!r} already on '
                             f'line {names[name]}')
        if LABEL_SEPARATOR in name:
            raise ValueError(f'{path}:{lineno}: class {name!r} holds '
                             f'{LABEL_SEPARATOR!r}, which separates several '
                             'labels in the CSV')
        names[name] = lineno
    if not names:
        raise ValueError(f'{path}: no class names (one per line)')
    return list(names)


def read_video_list(path: str) -> List[str]:
    """Read video ids, one per line (blank lines and ``#`` comments skipped),
    each once, in file order.

    Raises:
        FileNotFoundError: If ``path`` does not exist.
        ValueError: Naming the file and line for bytes that are not UTF-8
            text.
    """
    if not osp.isfile(path):
        raise FileNotFoundError(f'video list not found: {path}')
    videos: Dict[str, None] = {}
    for _, line in text_lines(path):
        entry = line.split('#', 1)[0].strip()
        if entry:
            videos[entry] = None
    return list(videos)


def splits_from_rows(rows: Sequence[CSVRow], source: str,
                     column: str) -> Tuple[List[List[str]], List[List[str]]]:
    """One train and one test list from the split column (videos in order of
    first appearance).

    Raises:
        CSVAnnotationError: For a video whose rows name both splits.
    """
    first: Dict[str, CSVRow] = {}
    problems = []
    for row in rows:
        seen = first.setdefault(row.video, row)
        if seen.split != row.split:
            problems.append(
                f'row {row.row}: {column} {row.split!r} for video '
                f'{row.video!r}, which row {seen.row} puts in {seen.split!r}'
                ' (all rows of a video belong to one split)')
    if problems:
        raise CSVAnnotationError(source, problems)
    return ([[v for v, r in first.items() if r.split == 'train']],
            [[v for v, r in first.items() if r.split == 'test']])


class _Refused(Exception):
    """Why a row cannot be converted (see :func:`_checked_box`)."""


def _checked_box(row: CSVRow, media: Media, options: CSVOptions,
                 report: Counter) -> np.ndarray:
    """The row's box in on-disk pixels, clipped into the frame.

    Raises:
        _Refused: For a frame past the video or a box outside the frame.
    """
    num_frames, h, w = media
    base = options.frame_base
    if row.frame > num_frames:
        hint = ''
        if base == 0 and row.raw_frame == num_frames:
            hint = ': 1-based frame numbers? pass --frame-base 1'
        raise _Refused(f'frame {row.raw_frame} is past the last frame of '
                       f'video {row.video!r} ({num_frames} frames on disk, '
                       f'numbered {base}..{num_frames - 1 + base}){hint}')
    box = np.array(row.box, dtype=np.float64)
    given = f'box {list(row.box)}'
    if options.coords == 'normalized':
        box *= (w, h, w, h)
        given += f' (normalised; {np.round(box, 1).tolist()} px)'
    tol = options.box_tolerance
    beyond = bool(box[0] < -tol or box[1] < -tol or box[2] > w + tol
                  or box[3] > h + tol)
    if beyond and not options.clip_boxes:
        hint = ''
        if options.coords == 'normalized' and max(row.box) > 1.5:
            hint = ': pixel coordinates? pass --coords pixel'
        raise _Refused(f'{given} lies outside the {w}x{h} frame of video '
                       f'{row.video!r} by more than {tol:g} px (pass '
                       f'--clip-boxes to clip such boxes into the frame)'
                       f'{hint}')
    clipped = box.clip(0, (w, h, w, h))
    if clipped[2] <= clipped[0] or clipped[3] <= clipped[1]:
        raise _Refused(f'{given} has no part inside the {w}x{h} frame of '
                       f'video {row.video!r}')
    if (clipped != box).any():
        key = ('boxes clipped into the frame (--clip-boxes)' if beyond else
               f'boxes clipped into the frame (within {tol:g} px)')
        report[key] += 1
    return clipped.astype(np.float32)


def _check_people(kept: Sequence[_Kept],
                  classes: Sequence[str]) -> List[Tuple[int, str]]:
    """``(row, problem)`` of repeated rows and of boxes that cannot be told
    apart."""
    problems = []
    labels_seen: Dict[tuple, Tuple[int, np.ndarray]] = {}
    person_box: Dict[tuple, Tuple[int, np.ndarray]] = {}
    frame_boxes: Dict[tuple, List[Tuple[int, np.ndarray]]] = {}
    for row, box in kept:
        where = f'frame {row.raw_frame} of video {row.video!r}'
        if row.track is not None:
            where = f'track {row.track!r} on {where}'
            first = person_box.setdefault((row.video, row.track, row.frame),
                                          (row.row, box))
            if not np.array_equal(first[1], box):
                problems.append(
                    (row.row,
                     (f'row {row.row}: {where} has box {box.tolist()} but row '
                      f'{first[0]} gives it {first[1].tolist()} (one person '
                      'has one box per frame)')))
                continue
        else:
            problem = _near_duplicate(row, box, frame_boxes, where)
            if problem:
                problems.append((row.row, problem))
                continue
        for label in row.labels:
            key = (row.video, row.track, row.frame, label)
            first = labels_seen.setdefault(key, (row.row, box))
            if first[0] == row.row:
                continue
            if np.array_equal(first[1], box):
                problems.append(
                    (row.row, (f'row {row.row}: repeats row {first[0]} (label '
                               f'{classes[label]!r} on {where})')))
            else:
                problems.append(
                    (row.row,
                     (f'row {row.row}: a second box of label '
                      f'{classes[label]!r} on {where} (row {first[0]} has the '
                      'first): without a track_id column a label may have one '
                      'box per frame; add track_id to tell the people apart')))
    return problems


def _near_duplicate(row: CSVRow, box: np.ndarray,
                    frame_boxes: Dict[tuple, List[Tuple[int, np.ndarray]]],
                    where: str) -> Optional[str]:
    """Refuse a box almost equal to another box of the frame: labels of one
    person need the identical box to become one multi-label box."""
    others = frame_boxes.setdefault((row.video, row.frame), [])
    for other_row, other in others:
        if np.array_equal(other, box):
            return None
        iou = _iou(other, box)
        if iou > NEAR_DUPLICATE_IOU:
            return (f'row {row.row}: box {box.tolist()} nearly coincides '
                    f'with box {other.tolist()} of row {other_row} on '
                    f'{where} (IoU {iou:.3f}): if this is one person, give '
                    'both rows the identical box (or both labels in one '
                    'row, "a;b")')
    others.append((row.row, box))
    return None


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    """IoU of two xyxy boxes of positive area (plain corners)."""
    inter_w = min(a[2], b[2]) - max(a[0], b[0])
    inter_h = min(a[3], b[3]) - max(a[1], b[1])
    inter = max(inter_w, 0.0) * max(inter_h, 0.0)
    union = ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) -
             inter)
    return float(inter / union)


def _tubes(kept: Sequence[_Kept],
           max_gap: int) -> Dict[str, Dict[int, List[np.ndarray]]]:
    """``{video: {label: [(n, 5) tube, ...]}}`` by the module's rule."""
    groups: Dict[tuple, Dict[int, np.ndarray]] = {}
    for row, box in kept:
        for label in row.labels:
            groups.setdefault((row.video, label, row.track),
                              {})[row.frame] = box
    tubes: Dict[str, Dict[int, List[np.ndarray]]] = {}
    for (video, label, _), per_frame in groups.items():
        frames = sorted(per_frame)
        cuts = [
            i + 1 for i in range(len(frames) - 1)
            if frames[i + 1] - frames[i] - 1 > max_gap
        ]
        for run in np.split(np.asarray(frames), cuts):
            tube = np.array([[f, *per_frame[int(f)]] for f in run],
                            dtype=np.float32)
            tubes.setdefault(video, {}).setdefault(label, []).append(tube)
    return tubes


def _count_boxes(kept: Sequence[_Kept], report: Counter) -> None:
    """Count distinct person boxes and those with several labels."""
    labels: Dict[tuple, set] = {}
    for row, box in kept:
        person = row.track if row.track is not None else box.tobytes()
        labels.setdefault((row.video, row.frame, person),
                          set()).update(row.labels)
    report['boxes'] = len(labels)
    report['multi-label boxes'] = sum(len(v) > 1 for v in labels.values())
