"""Frame-mAP: per-class AP of per-frame box detections (paper §4, Tab. 1-6).

A detection is a true positive when it overlaps, with IoU >= ``iou_thr``, a
not yet matched ground-truth box of its class in its frame (greedy by
descending score, see :mod:`.matching`); AP is the VOC all-point area
(:func:`.voc_average_precision`); frame-mAP is the mean over the classes
that have ground truth in the evaluated videos.

Two protocols decide which frames count:

* ``'annotated'`` (YOWO, YOWOv2, YOWO-Plus: the numbers the paper compares
  against): only frames carrying at least one ground-truth box (of any
  class) are evaluated; detections on other frames are ignored.
* ``'all'`` (ACT, MOC, MultiSports / mmaction2's ``frameAP``): every frame
  of the evaluated videos counts; a detection on a frame without ground
  truth of its class is a false positive.
"""
from typing import Any, Dict, Optional, Sequence

import numpy as np

from .average_precision import per_class_average_precision
from .box_ops import box_iou
from .inputs import (check_videos, flatten_ground_truth, frame_keys,
                     parse_detections)
from .matching import best_match, greedy_true_positives, pairs_by_key

PROTOCOLS = ('annotated', 'all')


def frame_map(detections: np.ndarray,
              gt: Dict[str, Any],
              videos: Sequence[str],
              iou_thr: float = 0.5,
              protocol: str = 'annotated',
              pixel_plus_one: bool = False,
              num_classes: Optional[int] = None) -> Dict[str, Any]:
    """Frame-mAP of detections against canonical ground truth.

    Args:
        detections: ``(N, 8)`` rows ``[video_index, frame (1-based), label
            (0-based), score, x1, y1, x2, y2]`` in original-frame pixels;
            ``video_index`` indexes ``videos``.
        gt: Canonical ground truth (``docs/architecture.md``).
        videos: The evaluated video ids (e.g. ``gt['test_videos'][split]``).
        iou_thr: Minimum IoU of a true positive.
        protocol: ``'annotated'`` or ``'all'`` (module docstring).
        pixel_plus_one: Use the ``+1`` pixel convention in box areas and
            intersections (VOC / ACT / original YOWO code); ``False`` uses
            continuous corners (mmaction2's MultiSports ``frameAP``).
        num_classes: Number of classes; defaults to ``len(gt['labels'])``.

    Returns:
        dict with

        * ``mAP``: mean AP over the classes with ground truth (in [0, 1]),
        * ``ap``: ``(C,)`` per-class AP, NaN for a class without ground
          truth,
        * ``precision``, ``recall``, ``scores``: per class, the curve points
          after each ranked detection and the ranked scores,
        * ``num_gt``, ``num_dets``, ``num_tp``: ``(C,)`` counts (of the
          evaluated detections),
        * ``num_frames``: number of evaluated frames,
        * ``iou_thr``, ``protocol``.

    Raises:
        ValueError: For an unknown protocol, an IoU threshold outside
            ``(0, 1]``, an evaluated video unknown to ``gt`` or a malformed
            detection row (see :func:`.parse_detections`).
    """
    if protocol not in PROTOCOLS:
        raise ValueError(f'protocol must be one of {PROTOCOLS}, got '
                         f'{protocol!r}')
    if not 0 < iou_thr <= 1:
        raise ValueError(f'iou_thr must be in (0, 1], got {iou_thr}')
    num_classes = len(gt['labels']) if num_classes is None else num_classes
    nframes = check_videos(gt, videos)
    dets = parse_detections(detections, videos, nframes, num_classes)
    gt_boxes = flatten_ground_truth(gt, videos)

    det_frame = frame_keys(dets.video, dets.frame, nframes)
    gt_frame = frame_keys(gt_boxes.video, gt_boxes.frame, nframes)
    if protocol == 'annotated':
        annotated = np.unique(gt_frame)
        dets = dets.select(np.isin(det_frame, annotated))
        det_frame = frame_keys(dets.video, dets.frame, nframes)
        num_frames = annotated.size
    else:
        num_frames = int(nframes.sum())

    # Candidates: ground truth of the detection's own class and frame.
    key_space = len(videos) * (int(nframes.max(initial=0)) + 1)
    query, ref = pairs_by_key(dets.label * key_space + det_frame,
                              gt_boxes.label * key_space + gt_frame)
    ious = box_iou(dets.boxes[query], gt_boxes.boxes[ref], pixel_plus_one)
    best_ref, best_iou = best_match(len(dets.score), query, ref, ious)
    true_positive = greedy_true_positives(dets.score, best_ref, best_iou,
                                          iou_thr)

    num_gt = np.bincount(gt_boxes.label, minlength=num_classes)
    result = per_class_average_precision(dets.label, dets.score,
                                         true_positive, num_gt)
    result.update(
        num_gt=num_gt,
        num_tp=np.bincount(
            dets.label[true_positive], minlength=num_classes),
        num_frames=num_frames,
        iou_thr=iou_thr,
        protocol=protocol)
    return result
