"""Video-mAP, spatio-temporal protocol ``'st'`` (paper §4.3, Tab. 5-6).

Tubes come from :func:`.link_tubes` (Viterbi linking with gap bridging and
temporal trimming, or any linker with the same output). A detected tube
takes the ground-truth tube of its class and video it overlaps most in
spatio-temporal IoU and is a true positive when that IoU reaches the
threshold and that tube is not matched yet (the VOC rule of ACT and
mmaction2's ``videoAP``, greedy by descending tube score,
:mod:`.matching`); AP is the VOC all-point area; video-mAP is the mean over
the classes with ground truth. The YOWO family's protocol is in
:mod:`.yowo_video_map`.
"""
from typing import (Any, Callable, Dict, List, NamedTuple, Optional, Sequence,
                    Tuple)

import numpy as np

from .average_precision import per_class_average_precision
from .box_ops import box_iou
from .inputs import check_videos
from .matching import greedy_true_positives
from .tube_linking import Tube, link_tubes

#: Video-mAP thresholds of the paper's Tables 5 and 6 (and the YOWO family).
VIDEO_IOU_THRS = (0.2, 0.5, 0.75)


def spatiotemporal_iou(tube1: np.ndarray,
                       tube2: np.ndarray,
                       pixel_plus_one: bool = False,
                       temporal_plus_one: bool = True) -> float:
    """Temporal IoU times the mean spatial IoU over the common time span.

    As in ACT and mmaction2's ``iou3dt_voc``: with ``[t_min, t_max]`` the
    intersection of the two temporal extents, the temporal IoU is
    ``(t_max - t_min + 1) / (union span + 1)`` and the spatial term is the
    mean per-frame box IoU over ``[t_min, t_max]``. For tubes with missing
    frames the mean runs over the frames of that span present in either
    tube, a frame present in only one counting IoU 0 (for gap-free tubes
    this is exactly ACT's definition).

    Args:
        tube1, tube2: ``(n, 5+)`` rows ``frame, x1, y1, x2, y2, ...`` with
            increasing frames.
        pixel_plus_one: Box-area convention (:func:`.box_iou`).
        temporal_plus_one: Count a span ``[a, b]`` as ``b - a + 1`` frames
            (ACT, YOWO); ``False`` uses ``b - a`` like mmaction2's
            MultiSports port (two identical one-frame spans then have
            temporal IoU 1).

    Returns:
        The spatio-temporal IoU in ``[0, 1]``.
    """
    frames1, frames2 = tube1[:, 0], tube2[:, 0]
    t_min = max(frames1[0], frames2[0])
    t_max = min(frames1[-1], frames2[-1])
    if t_max < t_min:
        return 0.0
    offset = 1.0 if temporal_plus_one else 0.0
    union = max(frames1[-1], frames2[-1]) - min(frames1[0],
                                                frames2[0]) + offset
    temporal = (t_max - t_min + offset) / union if union > 0 else 1.0
    in1 = (frames1 >= t_min) & (frames1 <= t_max)
    in2 = (frames2 >= t_min) & (frames2 <= t_max)
    common, idx1, idx2 = np.intersect1d(
        frames1[in1], frames2[in2], assume_unique=True, return_indices=True)
    span = np.union1d(frames1[in1], frames2[in2]).size
    spatial = box_iou(tube1[in1][idx1, 1:5], tube2[in2][idx2, 1:5],
                      pixel_plus_one).sum() / span
    return float(temporal * spatial)


def index_ground_truth_tubes(
    gt: Dict[str, Any], videos: Sequence[str], num_classes: int
) -> Tuple[Dict[Tuple[int, str], List[int]], List[np.ndarray], np.ndarray]:
    """Index the ground-truth tubes of ``videos`` by (label, video).

    Returns:
        ``(index, tubes, num_gt)``: ``{(label, video): [tube ids]}``, the
        tube arrays (ids index this list) and ``(C,)`` tubes per class.
    """
    index: Dict[Tuple[int, str], List[int]] = {}
    tubes: List[np.ndarray] = []
    num_gt = np.zeros(num_classes, dtype=np.int64)
    for video in videos:
        for label, tube_list in gt['gttubes'].get(video, {}).items():
            for tube in tube_list:
                if len(tube) == 0:
                    continue
                index.setdefault((label, video), []).append(len(tubes))
                tubes.append(np.asarray(tube, dtype=np.float64))
                num_gt[label] += 1
    return index, tubes, num_gt


def video_ap(tubes: Dict[int, List[Tube]],
             gt: Dict[str, Any],
             videos: Sequence[str],
             iou_thrs: Sequence[float] = VIDEO_IOU_THRS,
             pixel_plus_one: bool = False,
             temporal_plus_one: bool = True,
             num_classes: Optional[int] = None) -> Dict[float, Dict]:
    """Video-mAP of detected tubes at several spatio-temporal IoU thresholds.

    Args:
        tubes: ``{label: [(video id, score, tube (n, 5+)), ...]}`` (ACT's
            and mmaction2's ``videoAP`` format, :func:`.link_tubes` output).
        gt: Canonical ground truth.
        videos: Evaluated video ids; every tube's video must be one of them.
        iou_thrs: Spatio-temporal IoU thresholds.
        pixel_plus_one, temporal_plus_one: See :func:`spatiotemporal_iou`.
        num_classes: Defaults to ``len(gt['labels'])``.

    Returns:
        ``{thr: result}``, ``result`` holding ``mAP``, ``ap`` ``(C,)`` (NaN
        without ground truth), ``precision``, ``recall``, ``scores``,
        ``num_gt`` (tubes), ``num_dets``, ``num_tp`` and ``iou_thr``.

    Raises:
        ValueError: For a tube of a video not in ``videos``, a label out of
            range or a threshold outside ``(0, 1]``.
    """
    num_classes = len(gt['labels']) if num_classes is None else num_classes
    check_iou_thrs(iou_thrs)
    overlaps = tube_overlaps(
        tubes, gt, videos,
        num_classes, lambda gt_tube, tube: spatiotemporal_iou(
            gt_tube, tube, pixel_plus_one, temporal_plus_one))
    # First maximum, as np.argmax in ACT / mmaction2.
    best = [
        int(np.argmax(ious)) if ious.size else -1 for ious in overlaps.ious
    ]
    best_ref = np.array([
        cands[b] if b >= 0 else -1
        for cands, b in zip(overlaps.candidates, best)
    ],
                        dtype=np.int64)
    best_iou = np.array(
        [ious[b] if b >= 0 else 0.0 for ious, b in zip(overlaps.ious, best)],
        dtype=np.float64)
    return {
        thr:
        tube_average_precision(
            overlaps,
            greedy_true_positives(overlaps.scores, best_ref, best_iou, thr),
            thr)
        for thr in iou_thrs
    }


class TubeOverlaps(NamedTuple):
    """Detected tubes with their overlaps with the ground truth."""
    labels: np.ndarray  # (n,) int64 class of each detected tube
    scores: np.ndarray  # (n,) float64 tube scores
    # Per detected tube: ids of the ground-truth tubes of its class and
    # video (into ``index_ground_truth_tubes``' list), and its IoU with each.
    candidates: List[np.ndarray]
    ious: List[np.ndarray]
    num_gt: np.ndarray  # (C,) ground-truth tubes per class


def check_iou_thrs(iou_thrs: Sequence[float]) -> None:
    """Raise for a threshold outside ``(0, 1]``."""
    for thr in iou_thrs:
        if not 0 < thr <= 1:
            raise ValueError(f'iou_thrs must be in (0, 1], got {thr}')


def tube_overlaps(tubes: Dict[int, List[Tube]], gt: Dict[str, Any],
                  videos: Sequence[str], num_classes: int,
                  tube_iou: Callable[[np.ndarray, np.ndarray],
                                     float]) -> TubeOverlaps:
    """Overlap of every detected tube with the ground truth it may match.

    Args:
        tubes: ``{label: [(video id, score, tube (n, 5+)), ...]}``.
        gt: Canonical ground truth.
        videos: Evaluated video ids; every tube's video must be one of them.
        num_classes: Number of classes.
        tube_iou: ``tube_iou(gt_tube, tube)``, the spatio-temporal IoU.

    Raises:
        ValueError: For a tube of a video not in ``videos`` or a label out
            of range.
    """
    known = set(videos)
    gt_index, gt_tubes, num_gt = index_ground_truth_tubes(
        gt, videos, num_classes)
    labels, scores, candidates, ious = [], [], [], []
    for label, label_tubes in tubes.items():
        if not 0 <= label < num_classes:
            raise ValueError(f'tube label {label} outside [0, {num_classes})')
        for video, score, tube in label_tubes:
            if video not in known:
                raise ValueError(f'tube of video {video!r} (label {label}) '
                                 'is not among the evaluated videos')
            cands = gt_index.get((label, video), [])
            labels.append(label)
            scores.append(score)
            candidates.append(np.asarray(cands, dtype=np.int64))
            ious.append(
                np.array([tube_iou(gt_tubes[i], tube) for i in cands],
                         dtype=np.float64))
    return TubeOverlaps(
        np.asarray(labels, dtype=np.int64),
        np.asarray(scores, dtype=np.float64), candidates, ious, num_gt)


def tube_average_precision(overlaps: TubeOverlaps, true_positive: np.ndarray,
                           iou_thr: float) -> Dict[str, Any]:
    """Per-class AP of the detected tubes given their matching outcome."""
    result = per_class_average_precision(overlaps.labels, overlaps.scores,
                                         true_positive, overlaps.num_gt)
    result.update(
        num_gt=overlaps.num_gt,
        num_tp=np.bincount(
            overlaps.labels[true_positive], minlength=len(overlaps.num_gt)),
        iou_thr=iou_thr)
    return result


def video_map(detections: np.ndarray,
              gt: Dict[str, Any],
              videos: Sequence[str],
              iou_thrs: Sequence[float] = VIDEO_IOU_THRS,
              pixel_plus_one: bool = False,
              temporal_plus_one: bool = True,
              num_classes: Optional[int] = None,
              link_cfg: Optional[Dict[str, Any]] = None) -> Dict[float, Dict]:
    """Link frame detections into tubes, then compute video-mAP.

    Video-mAP needs detections on every frame of the test videos (the
    linking bridges at most ``link_cfg['max_gap']`` missing frames).

    Args:
        detections: ``(N, 8)`` detection rows (``docs/architecture.md``).
        gt: Canonical ground truth.
        videos: Evaluated video ids (``video_index`` indexes them).
        iou_thrs: Spatio-temporal IoU thresholds.
        pixel_plus_one, temporal_plus_one: See :func:`spatiotemporal_iou`;
            ``pixel_plus_one`` also sets the linking IoU convention.
        num_classes: Defaults to ``len(gt['labels'])``.
        link_cfg: Options of :func:`.link_video`.

    Returns:
        As :func:`video_ap`, each result also holding ``num_tubes``.
    """
    num_classes = len(gt['labels']) if num_classes is None else num_classes
    nframes = check_videos(gt, videos)
    cfg = dict(link_cfg or {})
    cfg.setdefault('pixel_plus_one', pixel_plus_one)
    tubes = link_tubes(detections, videos, num_classes, nframes, **cfg)
    results = video_ap(tubes, gt, videos, iou_thrs, pixel_plus_one,
                       temporal_plus_one, num_classes)
    num_tubes = sum(len(t) for t in tubes.values())
    for result in results.values():
        result['num_tubes'] = num_tubes
    return results
