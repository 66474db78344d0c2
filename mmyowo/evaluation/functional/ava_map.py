"""AVA frame-AP@0.5 (the ActivityNet protocol) on mmaction's AVA tools.

mmaction ships the AVA evaluation of the ActivityNet challenge
(``mmaction.evaluation.functional.ava_utils`` with the TensorFlow object
detection ``metrics``): its CSV reader, per-frame matching
(``tpfp_single``: greedy in descending score, IoU >= 0.5, one detection per
ground truth) and VOC-style AP (``compute_average_precision``).
:func:`ava_frame_map` runs those pieces with the class and frame handling
of the official evaluator (ActivityNet ``get_ava_performance.py``,
``PascalDetectionEvaluator``), where mmaction's ``ava_eval`` differs:

1. a class with ground truth but no detection has AP 0 (``ava_eval``
   leaves it out of the mean, raising the mAP);
2. ground truth of excluded key frames does not count (``ava_eval`` counts
   it, so recall cannot reach 1 when the ground truth holds excluded
   frames);
3. detections on a frame without evaluated ground truth are false
   positives (``ava_eval`` ignores such frames);
4. a class with detections but no ground truth is left out (``ava_eval``
   calls ``np.NAN`` there, which numpy 2 removed: ``AttributeError``).

:func:`ava_eval_mmaction` runs mmaction's own ``ava_eval`` unchanged (to
compare with mmaction's model zoo), inside :func:`numpy_aliases`, which
restores the aliases numpy 2 removed for the time of the call only.
"""
import contextlib
import multiprocessing
from collections import defaultdict
from functools import partial
from typing import Any, Dict, Iterator, List, Optional, Sequence

import numpy as np
from mmaction.evaluation.functional import ava_utils
from mmaction.evaluation.functional.ava_evaluation import metrics

from mmyowo.datasets.ava_files import (read_ava_boxes, read_ava_exclusions,
                                       read_ava_label_map)

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


def _by_key(records: Dict, classes: Dict[int, str]) -> Dict[str, tuple]:
    """Ground truth as ``tpfp_single`` takes it: yxyx boxes per key."""
    gt = {}
    for (video, timestamp), rows in records.items():
        rows = [row for row in rows if row['label'] in classes]
        if rows:
            gt[ava_utils.make_image_key(video, timestamp)] = ([
                row['entity_box'][[1, 0, 3, 2]].tolist() for row in rows
            ], [row['label'] for row in rows])
    return gt


def ava_frame_map(result_file: str,
                  label_file: str,
                  ann_file: str,
                  exclude_file: Optional[str] = None,
                  iou_thr: float = 0.5,
                  custom_classes: Optional[Sequence[int]] = None,
                  num_workers: int = 0) -> Dict:
    """Frame-AP per class and their mean, official AVA protocol.

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
        ann_file, None, None, require_person_id=False, keep_empty_boxes=True)
    excluded = {
        ava_utils.make_image_key(*key)
        for key in read_ava_exclusions(exclude_file)
    }
    gt = {
        k: v
        for k, v in _by_key(records, classes).items() if k not in excluded
    }
    with open(result_file) as handle:
        boxes, labels, scores = ava_utils.read_csv(handle, set(classes))
    frames = [(gt.get(key, ([], []))[0], gt.get(key, ([], []))[1], boxes[key],
               labels[key], scores[key]) for key in boxes
              if key not in excluded]
    match = partial(ava_utils.tpfp_single, threshold=iou_thr)
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
        for label in gt_labels:
            num_gt[label] += 1

    per_class = {}
    for label, name in classes.items():
        if not num_gt[label]:
            continue
        precision, recall = metrics.compute_precision_recall(
            np.concatenate(class_scores[label] or [np.zeros(0, np.float32)]),
            np.concatenate(class_tps[label] or [np.zeros(0, bool)]),
            num_gt[label])
        per_class[label] = (
            name, float(metrics.compute_average_precision(precision, recall)),
            num_gt[label])
    if not per_class:
        raise ValueError(f'{ann_file}: no ground truth of the '
                         f'{len(classes)} classes of {label_file} outside '
                         'the excluded key frames')
    results: Dict[str, Any] = dict(
        overall=float(np.mean([ap for _, ap, _ in per_class.values()])))
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
