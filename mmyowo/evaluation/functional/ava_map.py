"""AVA frame-AP@0.5 as the ActivityNet evaluator computes it.

:func:`ava_frame_map` gives the numbers of ActivityNet's
``Evaluation/get_ava_performance.py`` in its 2019 form (the one with
``-e`` excluded key frames, used for AVA v2.1 / v2.2 results), whose AP
functions (``compute_precision_recall``, ``compute_average_precision``)
and IoU (``np_box_ops.iou``) mmaction ships unchanged. Per key frame
(``video_id, timestamp``):

1. of the detection rows of evaluated classes, only the
   :data:`AVA_MAX_DETECTIONS` highest-scored are kept, over all classes
   together (a bounded min-heap of ``(score, action_id, y1, x1, y2, x2)``
   tuples: a row enters a full heap only with a score strictly above its
   least one, which leaves; among equal least scores the smallest tuple
   leaves first);
2. the kept rows are ordered by descending score, equal scores in the
   heap's array order (a stable sort of it, :func:`read_ava_detections`):
   they keep that order into the per-class score arrays the AP sorts;
3. invalid detection boxes (not ``y1 < y2`` and ``x1 < x2``: flat or
   inverted) are dropped, after the cut of 1 (they use up places);
4. each class's detections are matched greedily in that order, each to the
   ground-truth box of its class it overlaps most (the first of equal
   ones), a true positive where the IoU, computed in float64, is at least
   ``iou_thr`` and that box is still free;
5. the ground-truth boxes are used as read (float64, not clipped to
   ``[0, 1]``).

The score arrays of a class are concatenated frame by frame (in the order
of each frame's first kept row) before the AP sorts them, and the mAP is
``np.nanmean`` of an AP array indexed by action id, NaN for the classes
without ground truth, as the evaluator computes both. On random and edge
cases in the AVA CSV formats (dense frames, ties, invalid boxes, corners
outside ``[0, 1]``, excluded frames, frames without ground truth) the
per-class APs and the mAP equal the evaluator's bit for bit.

The class and frame handling is the official one too, where mmaction's
``ava_eval`` (:func:`ava_eval_mmaction`) differs:

- a class with ground truth but no detection has AP 0 (``ava_eval``
  leaves it out of the mean, raising the mAP);
- ground truth of excluded key frames does not count (``ava_eval`` counts
  it, so recall cannot reach 1 when the ground truth holds excluded
  frames);
- detections on a frame without evaluated ground truth are false
  positives (``ava_eval`` ignores such frames);
- a class with detections but no ground truth is left out (``ava_eval``
  calls ``np.NAN`` there, which numpy 2 removed: ``AttributeError``).

``ava_eval`` also differs in 1-4: it keeps every row, orders equal scores
by file order, counts flat detection boxes as false positives and raises
``ValueError`` on inverted ones, and computes the IoU of float32 boxes (a
match within about 1e-7 of the threshold can flip); like the official
evaluator it reads the ground truth as is. Where the official evaluator
fails with a bare error or a meaningless number, the readers here name the
file and the line: a malformed row, a non-finite number, an inverted
ground-truth box.

:func:`ava_eval_mmaction` runs mmaction's own ``ava_eval`` unchanged (to
compare with mmaction's model zoo), inside :func:`numpy_aliases`, which
restores the aliases numpy 2 removed for the time of the call only.
"""
import contextlib
import heapq
import math
import multiprocessing
from collections import OrderedDict, defaultdict
from functools import partial
from typing import (Any, Collection, Dict, Iterator, List, Optional, Sequence,
                    Tuple)

import numpy as np
from mmaction.evaluation.functional import ava_utils
from mmaction.evaluation.functional.ava_evaluation import metrics, np_box_ops

from mmyowo.datasets.ava_files import (AVAFileError, _parse, _rows,
                                       read_ava_boxes, read_ava_exclusions,
                                       read_ava_label_map)

#: Detection rows the ActivityNet evaluator keeps per key frame (over all
#: evaluated classes: the highest-scored ones).
AVA_MAX_DETECTIONS = 50
#: One detection row as the evaluator orders it: ``(score, action_id, y1,
#: x1, y2, x2)``.
Detection = Tuple[float, int, float, float, float, float]
#: A key frame: ``(video_id, timestamp)``.
FrameKey = Tuple[str, int]

#: Aliases numpy 2 removed that mmaction's AVA evaluation may reach.
REMOVED_NUMPY_ALIASES = {
    'NAN': np.nan,
    'NaN': np.nan,
    'Inf': np.inf,
    'float': float,
    'int': int,
}
#: mmaction's (and the ActivityNet evaluator's) groups of AVA action ids.
AVA_GROUPS = {
    'person_movement': lambda i: i <= 14,
    'object_manipulation': lambda i: 14 < i < 64,
    'person_interaction': lambda i: i >= 64,
}


@contextlib.contextmanager
def numpy_aliases() -> Iterator[List[str]]:
    """Provide the numpy aliases numpy 2 removed, only inside the block.

    Every name of :data:`REMOVED_NUMPY_ALIASES` that ``numpy`` lacks is set
    on entry and deleted on exit (also on an error), so code outside the
    block keeps numpy's own namespace; names numpy still has are left alone.
    The aliases are visible to every thread while the block runs.

    Yields:
        list[str]: The names that were added.
    """
    added = [name for name in REMOVED_NUMPY_ALIASES if not hasattr(np, name)]
    for name in added:
        setattr(np, name, REMOVED_NUMPY_ALIASES[name])
    try:
        yield added
    finally:
        for name in added:
            delattr(np, name)


def _evaluated_classes(label_file: str, custom_classes: Optional[Sequence[int]]
                       ) -> Dict[int, str]:
    """``{id: name}`` of the label map, narrowed to ``custom_classes``."""
    names = read_ava_label_map(label_file)
    if custom_classes is None:
        return names
    unknown = sorted(set(custom_classes) - set(names))
    if unknown:
        raise ValueError(f'{label_file}: custom_classes {unknown} are not in '
                         'the label map')
    return {i: names[i] for i in custom_classes}


def _by_key(records: Dict, classes: Dict[int, str]
            ) -> Dict[FrameKey, Tuple[np.ndarray, np.ndarray]]:
    """Ground truth per key frame: float64 yxyx boxes and their labels."""
    gt = {}
    for key, rows in records.items():
        rows = [row for row in rows if row['label'] in classes]
        if rows:
            gt[key] = (np.array(
                [row['entity_box'][[1, 0, 3, 2]] for row in rows],
                dtype=np.float64).reshape(-1, 4),
                       np.array([row['label'] for row in rows],
                                dtype=np.int64))
    return gt


def read_ava_detections(
    path: str,
    classes: Optional[Collection[int]] = None,
    max_per_frame: int = AVA_MAX_DETECTIONS,
) -> 'OrderedDict[FrameKey, List[Detection]]':
    """Read an AVA detection CSV the way the ActivityNet evaluator keeps it.

    Rows are ``video_id, timestamp, x1, y1, x2, y2, action_id[, score]``
    (normalised corners; a missing score is 1.0), as mmaction's
    ``results2csv`` writes them. Per key frame, rows of ``classes`` go
    through a min-heap of ``(score, action_id, y1, x1, y2, x2)`` bounded at
    ``max_per_frame`` rows: a row enters a full heap only with a score
    strictly above the heap's least, which it replaces (Python's tuple
    order: of equal least scores, the smallest action id, then ``y1``, ...
    leaves first). The kept rows come out by descending score, equal ones
    in the heap's array order.

    Args:
        path (str): The detection CSV.
        classes (collection[int], optional): Action ids to keep; rows of
            other ids take no place in the heap. None keeps every id.
        max_per_frame (int): Rows kept per key frame; 0 keeps all.

    Returns:
        OrderedDict: ``(video_id, timestamp) -> [(score, action_id, y1, x1,
        y2, x2)]`` ordered as above, the key frames in the order of their
        first kept row.

    Raises:
        AVAFileError: The file cannot be read, or a row (named by line) has
            a wrong number of columns, an empty video id, a field that is
            not a number, or a non-finite one.
    """
    if max_per_frame < 0:
        raise ValueError(f'max_per_frame must be >= 0, got {max_per_frame}')
    heaps: 'OrderedDict[FrameKey, List[Detection]]' = OrderedDict()
    for number, fields in _rows(path):
        if len(fields) not in (7, 8):
            raise AVAFileError(
                f'{path}, line {number}: expected 7 or 8 columns (video_id, '
                'timestamp, x1, y1, x2, y2, action_id[, score]), got '
                f'{len(fields)}: {",".join(fields)!r}')
        if not fields[0]:
            raise AVAFileError(f'{path}, line {number}: empty video id')
        timestamp = _parse(path, number, fields[1], int, 'timestamp')
        x1, y1, x2, y2 = (
            _parse(path, number, text, float, 'box corner')
            for text in fields[2:6])
        action = _parse(path, number, fields[6], int, 'action id')
        score = (
            _parse(path, number, fields[7], float, 'score')
            if len(fields) == 8 else 1.0)
        if not all(map(math.isfinite, (x1, y1, x2, y2, score))):
            raise AVAFileError(f'{path}, line {number}: non-finite box or '
                               f'score: {",".join(fields)!r}')
        if classes is not None and action not in classes:
            continue
        row = (score, action, y1, x1, y2, x2)
        heap = heaps.setdefault((fields[0], timestamp), [])
        if not max_per_frame or len(heap) < max_per_frame:
            heapq.heappush(heap, row)
        elif score > heap[0][0]:
            heapq.heapreplace(heap, row)
    # sorted() is stable: equal scores stay in the heap's array order.
    return OrderedDict((key, sorted(heap, key=lambda row: -row[0]))
                       for key, heap in heaps.items())


def _match_frame(
    frame: Tuple[np.ndarray, np.ndarray, List[Detection]],
    iou_thr: float,
) -> Tuple[Dict[int, np.ndarray], Dict[int, np.ndarray]]:
    """Scores and true-positive flags per detected class of one key frame.

    Args:
        frame (tuple): Ground-truth float64 yxyx boxes ``(m, 4)``, their
            labels ``(m,)``, and the kept detection rows in evaluation
            order (:func:`read_ava_detections`).
        iou_thr (float): Least IoU of a match.

    Returns:
        tuple[dict, dict]: ``{label: float64 scores}`` and ``{label: bool
        true positive}``, detections in evaluation order, for each label
        with a valid detection box.
    """
    gt_boxes, gt_labels, rows = frame
    scores = np.array([row[0] for row in rows], dtype=np.float64)
    labels = np.array([row[1] for row in rows], dtype=np.int64)
    boxes: np.ndarray = np.array([row[2:] for row in rows],
                                 dtype=np.float64).reshape(-1, 4)
    # Flat and inverted boxes are no detection at all (not a false
    # positive), as in the official per-image evaluation.
    valid = (boxes[:, 0] < boxes[:, 2]) & (boxes[:, 1] < boxes[:, 3])
    scores, labels, boxes = scores[valid], labels[valid], boxes[valid]
    class_scores: Dict[int, np.ndarray] = {}
    class_tps: Dict[int, np.ndarray] = {}
    for label in dict.fromkeys(labels.tolist()):
        mine = labels == label
        detected = boxes[mine]
        gt = gt_boxes[gt_labels == label]
        tps = np.zeros(len(detected), dtype=bool)
        if len(gt):
            iou = np_box_ops.iou(detected, gt)  # float64 in, float64 out
            best = iou.argmax(axis=1)
            free = np.ones(len(gt), dtype=bool)
            for i, gt_id in enumerate(best):
                if iou[i, gt_id] >= iou_thr and free[gt_id]:
                    tps[i], free[gt_id] = True, False
        class_scores[label], class_tps[label] = scores[mine], tps
    return class_scores, class_tps


def ava_frame_map(result_file: str,
                  label_file: str,
                  ann_file: str,
                  exclude_file: Optional[str] = None,
                  iou_thr: float = 0.5,
                  custom_classes: Optional[Sequence[int]] = None,
                  num_workers: int = 0,
                  max_detections: int = AVA_MAX_DETECTIONS) -> Dict:
    """Frame-AP per class and their mean, official AVA protocol.

    The protocol of ActivityNet's ``get_ava_performance.py`` (2019, with
    ``-e`` exclusions); the module docstring lists its steps and where
    mmaction's ``ava_eval`` differs.

    Args:
        result_file (str): Detections, one ``video_id, timestamp, x1, y1,
            x2, y2, action_id, score`` row per (box, class), normalised
            corners (mmaction's ``results2csv`` output).
        label_file (str): Label map of the evaluated classes (60 for AVA
            v2.2: ``ava_action_list_v2.2_for_activitynet_2019.pbtxt``).
        ann_file (str): Ground-truth CSV.
        exclude_file (str, optional): Excluded key frames.
        iou_thr (float): IoU threshold of a match.
        custom_classes (sequence[int], optional): Evaluate only these ids.
        num_workers (int): Processes for the per-frame matching; 0 matches
            in this process.
        max_detections (int): Detection rows kept per key frame, the
            highest-scored over all evaluated classes (50 officially); 0
            keeps all.

    Returns:
        dict: ``overall`` (mean AP over the evaluated classes that have
        ground truth), the mean of each AVA id group that has such a class
        (``person_movement`` <= 14, ``object_manipulation`` 15-63,
        ``person_interaction`` >= 64), and ``per_class`` ``{action_id:
        (name, AP, num_gt)}``.

    Raises:
        ValueError: A malformed file (named), or no evaluated class with
            ground truth.
    """
    classes = _evaluated_classes(label_file, custom_classes)
    records, _ = read_ava_boxes(
        ann_file,
        None,
        None,
        require_person_id=False,
        keep_empty_boxes=True,
        clip=False)
    excluded = read_ava_exclusions(exclude_file)
    gt = {
        k: v
        for k, v in _by_key(records, classes).items() if k not in excluded
    }
    detections = read_ava_detections(result_file, set(classes), max_detections)
    no_gt = (np.zeros((0, 4), np.float64), np.zeros(0, np.int64))
    frames = [
        gt.get(key, no_gt) + (rows, ) for key, rows in detections.items()
        if key not in excluded
    ]
    match = partial(_match_frame, iou_thr=iou_thr)
    if num_workers > 0 and len(frames) > 1:
        with multiprocessing.Pool(num_workers) as pool:
            matched = pool.map(match, frames)
    else:
        matched = [match(frame) for frame in frames]
    class_scores, class_tps = defaultdict(list), defaultdict(list)
    for frame_scores, frame_tps in matched:
        for label in frame_scores:
            class_scores[label].append(frame_scores[label])
            class_tps[label].append(frame_tps[label])
    num_gt: Dict[int, int] = defaultdict(int)
    for _, gt_labels in gt.values():
        for label in gt_labels.tolist():
            num_gt[label] += 1

    per_class = {}
    for label, name in classes.items():
        if not num_gt[label]:
            continue
        precision, recall = metrics.compute_precision_recall(
            np.concatenate(class_scores[label] or [np.zeros(0, np.float64)]),
            np.concatenate(class_tps[label] or [np.zeros(0, bool)]),
            num_gt[label])
        per_class[label] = (
            name, float(metrics.compute_average_precision(precision, recall)),
            num_gt[label])
    if not per_class:
        raise ValueError(f'{ann_file}: no ground truth of the '
                         f'{len(classes)} classes of {label_file} outside '
                         'the excluded key frames')
    # The official mean: np.nanmean over an AP array indexed by action id,
    # NaN where a class has no ground truth (the same number as a plain
    # mean up to the last bits, which the summation order decides).
    by_id = np.full(max(classes), np.nan)
    for label, (_, ap, _) in per_class.items():
        by_id[label - 1] = ap
    results: Dict[str, Any] = dict(overall=float(np.nanmean(by_id)))
    for group, member in AVA_GROUPS.items():
        aps = [ap for label, (_, ap, _) in per_class.items() if member(label)]
        if aps:
            results[group] = float(np.mean(aps))
    results['per_class'] = per_class
    return results


def ava_eval_mmaction(result_file: str,
                      label_file: str,
                      ann_file: str,
                      exclude_file: Optional[str] = None,
                      custom_classes: Optional[Sequence[int]] = None
                      ) -> Dict[str, float]:
    """mmaction's ``ava_eval`` as it is, safe under numpy 2.

    ``ava_eval`` prints its progress and per-class APs and matches in a
    pool of 32 processes.

    Args:
        result_file, label_file, ann_file, exclude_file: As
            :func:`ava_frame_map`.
        custom_classes (sequence[int], optional): Evaluated ids.

    Returns:
        dict: ``overall``, ``person_movement``, ``object_manipulation``,
        ``person_interaction`` (NaN for a group without class).
    """
    custom = None if custom_classes is None else [0] + list(custom_classes)
    with numpy_aliases():
        return ava_utils.ava_eval(
            result_file,
            'mAP',
            label_file,
            ann_file,
            exclude_file,
            verbose=False,
            ignore_empty_frames=True,
            custom_classes=custom)
