"""Frame-mAP: per-class AP of per-frame box detections (paper §4, Tab. 1-6).

The defaults reproduce the frame-mAP of the YOWO family, whose numbers the
paper compares against (YOWO: ``wei-tim/YOWO``, ``core/optimization.py`` and
``evaluation_ucf24_jhmdb/``; YOWOv2: ``yjh0410/YOWOv2``,
``evaluator/ucf_jhmdb_evaluator.py`` and ``evaluator/cal_frame_mAP.py``;
both run Padilla's Object-Detection-Metrics ``GetPascalVOCMetrics``):

* Which frames count: the annotated frames (one ground-truth file per frame
  carrying boxes), which are also the frames the YOWO test lists predict;
  detections on other frames are ignored (``protocol='annotated'``).
* Boxes: the detection corners are rounded to whole pixels (the YOWO
  family writes them with ``round``, half to even) and IoU uses the ``+1``
  pixel convention on areas and intersections; boxes that do not touch
  overlap 0 (``Evaluator.iou``, ``_boxesIntersect``).
* Matching: per class, detections by descending score; a detection takes
  the ground-truth box of its class and frame it overlaps most (the first
  on ties) and is a true positive iff that IoU reaches ``iou_thr`` and that
  box is not matched yet; otherwise (a duplicate included) a false positive.
* AP: VOC all-point area (``CalculateAveragePrecision``,
  :func:`.voc_average_precision`); mAP: mean over the classes with ground
  truth (``validClasses``).

Equal scores keep the input order of the detection rows (Padilla's stable
sort keeps the order of its files, i.e. frame names).

``protocol='all'`` (ACT, MOC, MultiSports / mmaction2's ``frameAP``, with
``pixel_plus_one=False, round_boxes=False``) counts every frame of the
evaluated videos; a detection on a frame without ground truth of its class
is a false positive.

``frames`` restricts both the ground truth and the detections to the frames
that were predicted, e.g. every 4th annotated frame during validation; the
YOWO family always predicts every annotated test frame, where the two agree.
"""
from typing import Any, Dict, Optional, Sequence

import numpy as np

from .average_precision import per_class_average_precision
from .box_ops import box_iou, boxes_intersect
from .inputs import (check_videos, flatten_ground_truth, frame_keys,
                     parse_detections, parse_frames)
from .matching import best_match, greedy_true_positives, pairs_by_key

PROTOCOLS = ('annotated', 'all')


def frame_map(detections: np.ndarray,
              gt: Dict[str, Any],
              videos: Sequence[str],
              iou_thr: float = 0.5,
              protocol: str = 'annotated',
              pixel_plus_one: bool = True,
              num_classes: Optional[int] = None,
              round_boxes: bool = True,
              frames: Optional[np.ndarray] = None) -> Dict[str, Any]:
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
            intersections (YOWO family, VOC, ACT); ``False`` uses continuous
            corners (mmaction2's MultiSports ``frameAP``).
        num_classes: Number of classes; defaults to ``len(gt['labels'])``.
        round_boxes: Round the detection corners to whole pixels first, as
            the YOWO family does when it writes its detection files.
        frames: Optional ``(M, 2)`` rows ``[video_index, frame]``: the
            frames that were predicted. Only ground truth and detections on
            them count (under ``'annotated'`` only the annotated ones among
            them); a detection on another frame is an error. ``None``: every
            frame of ``videos`` was predicted.

    Returns:
        dict with

        * ``mAP``: mean AP over the classes with ground truth (in [0, 1]),
        * ``ap``: ``(C,)`` per-class AP, NaN for a class without ground
          truth,
        * ``precision``, ``recall``, ``scores``: per class, the curve points
          after each ranked detection and the ranked scores,
        * ``num_gt``, ``num_dets``, ``num_tp``: ``(C,)`` counts (of the
          evaluated ground truth and detections),
        * ``num_frames``: number of evaluated frames,
        * ``num_annotated_frames``: frames of ``videos`` with ground truth,
        * ``iou_thr``, ``protocol``.

    Raises:
        ValueError: For an unknown protocol, an IoU threshold outside
            ``(0, 1]``, an evaluated video unknown to ``gt``, a malformed
            detection or ``frames`` row (see :func:`.parse_detections`,
            :func:`.parse_frames`) or a detection outside ``frames``.

    Example:
        >>> import numpy as np
        >>> from mmyowo.evaluation.functional import frame_map
        >>> gt = dict(labels=['run', 'jump'], nframes={'v1': 2}, gttubes={
        ...     'v1': {0: [np.array([[1, 10, 10, 50, 90],
        ...                          [2, 12, 10, 52, 90]])]}})
        >>> dets = np.array([[0, 1, 0, 0.9, 10, 10, 50, 90],   # hit
        ...                  [0, 2, 0, 0.8, 60, 10, 99, 90],   # miss
        ...                  [0, 2, 0, 0.7, 12, 10, 52, 90]])  # hit
        >>> result = frame_map(dets, gt, ['v1'])
        >>> # recall 1/2 at precision 1, then 2/2 at 2/3: AP = 0.5 + 0.5 * 2/3
        >>> round(result['mAP'], 4), result['num_tp'].tolist()
        (0.8333, [2, 0])
        >>> result['ap']  # no ground truth of 'jump'
        array([0.83333333,        nan])
    """
    if protocol not in PROTOCOLS:
        raise ValueError(f'protocol must be one of {PROTOCOLS}, got '
                         f'{protocol!r}')
    if not 0 < iou_thr <= 1:
        raise ValueError(f'iou_thr must be in (0, 1], got {iou_thr}')
    num_classes = len(gt['labels']) if num_classes is None else num_classes
    nframes = check_videos(gt, videos)
    dets = parse_detections(detections, videos, nframes, num_classes)
    if round_boxes:
        dets = dets._replace(boxes=np.round(dets.boxes))
    gt_boxes = flatten_ground_truth(gt, videos)

    det_frame = frame_keys(dets.video, dets.frame, nframes)
    gt_frame = frame_keys(gt_boxes.video, gt_boxes.frame, nframes)
    annotated = np.unique(gt_frame)
    if frames is not None:
        predicted = parse_frames(frames, videos, nframes)
        _check_inside(dets, np.isin(det_frame, predicted), videos)
        in_frames = np.isin(gt_frame, predicted)
        gt_boxes, gt_frame = gt_boxes.select(in_frames), gt_frame[in_frames]
    if protocol == 'annotated':
        scored = np.unique(gt_frame)
        dets = dets.select(np.isin(det_frame, scored))
        det_frame = frame_keys(dets.video, dets.frame, nframes)
        num_frames = scored.size
    else:
        num_frames = int(nframes.sum()) if frames is None else predicted.size

    # Candidates: ground truth of the detection's own class and frame.
    key_space = len(videos) * (int(nframes.max(initial=0)) + 1)
    query, ref = pairs_by_key(dets.label * key_space + det_frame,
                              gt_boxes.label * key_space + gt_frame)
    det_pairs, gt_pairs = dets.boxes[query], gt_boxes.boxes[ref]
    ious = np.where(
        boxes_intersect(det_pairs, gt_pairs),
        box_iou(det_pairs, gt_pairs, pixel_plus_one), 0.0)
    best_ref, best_iou = best_match(len(dets.score), query, ref, ious)
    true_positive = greedy_true_positives(dets.score, best_ref, best_iou,
                                          iou_thr)

    num_gt = np.bincount(gt_boxes.label, minlength=num_classes)
    result = per_class_average_precision(dets.label, dets.score, true_positive,
                                         num_gt)
    result.update(
        num_gt=num_gt,
        num_tp=np.bincount(dets.label[true_positive], minlength=num_classes),
        num_frames=num_frames,
        num_annotated_frames=annotated.size,
        iou_thr=iou_thr,
        protocol=protocol)
    return result


def _check_inside(dets: Any, inside: np.ndarray,
                  videos: Sequence[str]) -> None:
    """Raise for the first detection on a frame missing from ``frames``."""
    if not inside.all():
        row = int(np.flatnonzero(~inside)[0])
        raise ValueError(
            f'detections row {row} is on {videos[dets.video[row]]!r} frame '
            f'{dets.frame[row]}, which is not among the evaluated frames')
