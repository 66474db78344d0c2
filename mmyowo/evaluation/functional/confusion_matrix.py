"""Detection confusion matrix (paper §4.4, Fig. 12-13)."""
from typing import Any, Dict, Optional, Sequence

import numpy as np

from .box_ops import box_iou
from .inputs import (check_videos, flatten_ground_truth, frame_keys,
                     parse_detections)
from .matching import pairs_by_key


def detection_confusion_matrix(detections: np.ndarray,
                               gt: Dict[str, Any],
                               videos: Sequence[str],
                               score_thr: float = 0.5,
                               iou_thr: float = 0.4,
                               pixel_plus_one: bool = False,
                               num_classes: Optional[int] = None
                               ) -> np.ndarray:
    """Count, per ground-truth box, the class it is detected as.

    As in §4.4 (confidence 0.5, IoU 0.4): a ground-truth box is predicted
    as the label of the highest-scoring detection of its frame with score
    ``>= score_thr`` and IoU ``>= iou_thr`` (any class; ties go to the larger
    IoU, then the earlier row), and is *missed* when there is none. Each
    ground-truth box counts once, so a row sums to the number of boxes of
    that class.

    Args:
        detections: ``(N, 8)`` detection rows (``docs/architecture.md``).
        gt: Canonical ground truth.
        videos: Evaluated video ids (``video_index`` indexes them).
        score_thr: Least detection score.
        iou_thr: Least IoU with the ground-truth box.
        pixel_plus_one: Box-area convention (:func:`.box_iou`).
        num_classes: Defaults to ``len(gt['labels'])``.

    Returns:
        ``(C, C + 1)`` int64 counts: rows ground-truth classes, columns
        predicted classes, the last column the missed boxes.
    """
    num_classes = len(gt['labels']) if num_classes is None else num_classes
    nframes = check_videos(gt, videos)
    dets = parse_detections(detections, videos, nframes, num_classes)
    dets = dets.select(dets.score >= score_thr)
    gt_boxes = flatten_ground_truth(gt, videos)
    query, ref = pairs_by_key(
        frame_keys(dets.video, dets.frame, nframes),
        frame_keys(gt_boxes.video, gt_boxes.frame, nframes))
    ious = box_iou(dets.boxes[query], gt_boxes.boxes[ref], pixel_plus_one)
    hit = ious >= iou_thr
    query, ref, ious = query[hit], ref[hit], ious[hit]
    order = np.lexsort((query, -ious, -dets.score[query], ref))
    first = np.ones(order.size, dtype=bool)
    first[1:] = ref[order][1:] != ref[order][:-1]
    chosen = order[first]
    predicted = np.full(len(gt_boxes.label), num_classes, dtype=np.int64)
    predicted[ref[chosen]] = dets.label[query[chosen]]
    matrix = np.zeros((num_classes, num_classes + 1), dtype=np.int64)
    np.add.at(matrix, (gt_boxes.label, predicted), 1)
    return matrix
