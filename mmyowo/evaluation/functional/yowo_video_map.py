"""Video-mAP, protocol ``'yowo'``: the YOWO family's ``video_mAP``.

The paper compares its video-mAP (§4.3, Tab. 5-6) with YOWO's, which comes
from YOWO's ``video_mAP.py``. Learned from ``wei-tim/YOWO``
(``video_mAP.py``, ``core/eval_results.py``, ``core/utils.py``) and
``yjh0410/YOWOv2`` (``evaluator/cal_video_mAP.py``, ``evaluator/utils.py``),
which agree:

1. **Linking**, per video and class (``link_bbxes_between_frames``): the
   candidates of a frame are that class's detections on it; a frame without
   any borrows those of the nearest frame that has some (the earlier one on
   a tie); a video without any gets no tube. A Viterbi path runs through
   *every* frame of the video, the edge between consecutive boxes scoring
   ``IoU + (s_i + s_j) + 0.5 * s_i * s_j`` (IoU with continuous corners);
   the boxes of the best path are removed and the search repeats until 3
   paths are found or a frame runs out of boxes. There is no temporal
   trimming: every tube spans the whole video.
2. **Tube score**: the mean of its per-frame scores.
3. **3D NMS** per video and class (``nms_3d(..., 0.3)``): a tube whose
   spatio-temporal IoU with a higher-scoring kept tube exceeds 0.3 is
   dropped.
4. **Matching** (``video_ap_one_class``): the tubes of a class by
   descending score; each takes, among the ground-truth tubes of its class
   and video that are *still unmatched*, the one of largest spatio-temporal
   IoU (the first on ties) and is a true positive, matching it, if that IoU
   reaches the threshold; otherwise a false positive. (The ``'st'``
   protocol's VOC rule instead makes a tube whose best ground truth is
   taken a false positive.)
5. **AP**: VOC all-point area; video-mAP is the mean over the classes.

Spatio-temporal IoU (``iou3dt``): temporal IoU with ``+1`` frame counts times
the mean ``+1``-pixel box IoU over the common span, and 0 when the spans
share at most one frame (YOWO's ``tmax <= tmin``).

Departures, none of which changes UCF101-24 or J-HMDB-21 numbers beyond
1e-5: recall is ``tp / num_gt`` (YOWO divides by ``num_gt + 1e-5``, which
lowers an AP by a relative 1e-5 / num_gt at most); the mean runs over the
classes with ground truth (YOWO averages over all classes, one without test
tubes counting 0; every class of both test splits has tubes); equal scores
keep the input order (YOWO's ``argsort`` leaves it to quicksort); the
candidates of a frame are ranked by score, so a one-frame video takes its
best box (YOWO its first). The linking is in :mod:`.yowo_linking`.
"""
from typing import Any, Dict, List, Optional, Sequence

import numpy as np

from .inputs import check_videos
from .matching import rank_order
from .tube_linking import Tube
from .video_map import (VIDEO_IOU_THRS, TubeOverlaps, check_iou_thrs,
                        tube_average_precision, tube_overlaps)
from .yowo_linking import link_tubes_yowo, yowo_tube_iou


def yowo_video_ap(tubes: Dict[int, List[Tube]],
                  gt: Dict[str, Any],
                  videos: Sequence[str],
                  iou_thrs: Sequence[float] = VIDEO_IOU_THRS,
                  pixel_plus_one: bool = True,
                  num_classes: Optional[int] = None) -> Dict[float, Dict]:
    """Video AP of tubes with YOWO's matching (steps 4-5).

    Args:
        tubes: ``{label: [(video id, score, tube (n, 5+)), ...]}``.
        gt: Canonical ground truth.
        videos: Evaluated video ids; every tube's video must be one of them.
        iou_thrs: Spatio-temporal IoU thresholds.
        pixel_plus_one: Box-area convention of :func:`yowo_tube_iou`.
        num_classes: Defaults to ``len(gt['labels'])``.

    Returns:
        As :func:`.video_ap`.

    Raises:
        ValueError: As :func:`.video_ap`.
    """
    num_classes = len(gt['labels']) if num_classes is None else num_classes
    check_iou_thrs(iou_thrs)
    overlaps = tube_overlaps(
        tubes, gt, videos, num_classes,
        lambda gt_tube, tube: yowo_tube_iou(gt_tube, tube, pixel_plus_one))
    return {
        thr: tube_average_precision(overlaps, _match_unmatched(overlaps, thr),
                                    thr)
        for thr in iou_thrs
    }


def _match_unmatched(overlaps: TubeOverlaps, iou_thr: float) -> np.ndarray:
    """True-positive flags: best still-unmatched ground truth (step 4)."""
    num_refs = max((int(c.max()) + 1 for c in overlaps.candidates if c.size),
                   default=0)
    matched = np.zeros(num_refs, dtype=bool)
    true_positive = np.zeros(len(overlaps.scores), dtype=bool)
    # One ranking for all classes: ground-truth ids are per class, and the
    # ranking within a class is that of per_class_average_precision.
    for i in rank_order(overlaps.scores):
        free = ~matched[overlaps.candidates[i]]
        if not free.any():
            continue
        ious = np.where(free, overlaps.ious[i], -np.inf)
        best = int(np.argmax(ious))
        if ious[best] >= iou_thr:
            matched[overlaps.candidates[i][best]] = True
            true_positive[i] = True
    return true_positive


def yowo_video_map(detections: np.ndarray,
                   gt: Dict[str, Any],
                   videos: Sequence[str],
                   iou_thrs: Sequence[float] = VIDEO_IOU_THRS,
                   *,
                   link_cfg: Optional[Dict[str, Any]] = None,
                   pixel_plus_one: bool = True,
                   num_classes: Optional[int] = None) -> Dict[float, Dict]:
    """Video-mAP with the YOWO family's protocol (module docstring).

    Needs detections on every frame of the test videos (a frame without
    any borrows its neighbour's).

    Args:
        detections, gt, videos, iou_thrs, num_classes: As
            :func:`.video_map` (the options are keyword-only).
        pixel_plus_one: Box-area convention of the tube IoUs (NMS and
            matching; the linking uses continuous corners, as YOWO).
        link_cfg: Options of :func:`link_tubes_yowo` (``max_tubes``,
            ``top_k``, ``nms_thr``).

    Returns:
        As :func:`.video_ap`, each result also holding ``num_tubes``.
    """
    num_classes = len(gt['labels']) if num_classes is None else num_classes
    check_iou_thrs(iou_thrs)
    nframes = check_videos(gt, videos)
    cfg = dict(link_cfg or {})
    cfg.setdefault('pixel_plus_one', pixel_plus_one)
    tubes = link_tubes_yowo(detections, videos, num_classes, nframes, **cfg)
    results = yowo_video_ap(tubes, gt, videos, iou_thrs, pixel_plus_one,
                            num_classes)
    num_tubes = sum(len(t) for t in tubes.values())
    for result in results.values():
        result['num_tubes'] = num_tubes
    return results
