"""Link per-frame detections into per-class action tubes (video-mAP input).

The paper reports video-mAP against YOWO (§4.3, Tab. 5-6), whose numbers
come from YOWO's ``video_mAP`` script, so the linking follows that family:
dynamic-programming (Viterbi) linking of Saha et al. (BMVC 2016) / Singh et
al. (ROAD, ICCV 2017) as implemented by YOWO, with a temporal trimming pass.

For one video and one class:

1. **Candidates.** Every frame of the video that has detections keeps its
   ``top_k`` boxes by the class score. All classes share the boxes of a
   frame (each box of the model carries a score for every class); a
   (box, class) pair missing from the detections scores 0.
2. **Segments.** Frames more than ``max_gap`` frames apart are not linked
   (the actor is taken to have left); shorter gaps (frame subsampling, a
   frame without output) are bridged.
3. **Viterbi path.** Over consecutive frames of a segment, the edge
   between box ``i`` of one frame and box ``j`` of the next scores
   ``w_iou * IoU(i, j) + w_score * (s_i + s_j) + w_product * s_i * s_j``
   (YOWO's weights 1, 1, 0.5); the path maximising the summed edge scores is
   found by dynamic programming, its boxes are removed and the search is
   repeated, up to ``max_tubes`` paths per class. Two departures from YOWO,
   whose paths must cover every frame of the video and may link any two
   boxes: a path may start late and end early (it is one contiguous run of
   boxes, so an actor present in part of the video does not end the
   search for the others), and consecutive boxes must overlap by at least
   ``min_iou`` (so a path cannot jump to another actor when its own
   leaves). Frames inside bridged gaps get linearly interpolated boxes and
   scores.
4. **Temporal trimming** (the label-smoothing pass of Saha et al.). Each
   path is labelled frame by frame as action / background by a two-state
   Viterbi pass that maximises ``sum_t [action_t] (s_t - trim_thr) -
   trim_penalty * #label changes``; every maximal action run becomes a tube
   (so one path can give several tubes, e.g. when the actor switches
   class). Unaries ``s_t`` (action) / ``1 - s_t`` (background) amount to
   ``trim_thr = 0.5`` with half the penalty. ``trim_thr=None`` keeps whole
   paths.

A tube scores the mean of its per-frame scores. All classes of a segment
are linked at once: every step of the dynamic programme is one numpy
operation over ``(classes, top_k, top_k)`` arrays, so a UCF101-24-sized
test set links in seconds to tens of seconds.
"""
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from .box_ops import box_iou
from .inputs import Detections, parse_detections

# (video id, tube score, tube (n, 6): frame, x1, y1, x2, y2, frame score)
Tube = Tuple[str, float, np.ndarray]


def detections_to_boxes(
        dets: Detections, num_classes: int
) -> Tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Regroup (box, class) detection rows into boxes with class scores.

    Rows with the same video, frame and corners are one box. A (box, class)
    pair without a row scores 0; duplicated pairs keep their best score.

    Args:
        dets: Parsed detection rows.
        num_classes: Number of classes.

    Returns:
        ``(video, frame, boxes, scores)``: ``(M,)`` int64, ``(M,)`` int64,
        ``(M, 4)`` float64 and ``(M, num_classes)`` float64, sorted by video,
        frame, then corners.
    """
    if dets.score.size == 0:
        return (np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(
            (0, 4)), np.zeros((0, num_classes)))
    order = np.lexsort((dets.boxes[:, 3], dets.boxes[:, 2], dets.boxes[:, 1],
                        dets.boxes[:, 0], dets.frame, dets.video))
    keys = np.column_stack(
        (dets.video[order], dets.frame[order], dets.boxes[order]))
    new_box = np.ones(order.size, dtype=bool)
    new_box[1:] = (keys[1:] != keys[:-1]).any(axis=1)
    box_id = np.cumsum(new_box) - 1
    scores = np.zeros((int(box_id[-1]) + 1, num_classes))
    np.maximum.at(scores, (box_id, dets.label[order]), dets.score[order])
    firsts = order[new_box]
    return (dets.video[firsts], dets.frame[firsts], dets.boxes[firsts], scores)


def viterbi_paths(frame_index: np.ndarray,
                  boxes: np.ndarray,
                  scores: np.ndarray,
                  num_frames: int,
                  top_k: int = 10,
                  max_tubes: int = 3,
                  iou_weight: float = 1.0,
                  score_weight: float = 1.0,
                  product_weight: float = 0.5,
                  min_iou: float = 0.1,
                  pixel_plus_one: bool = False) -> List[List[np.ndarray]]:
    """Best linking paths of every class over consecutive frames (step 3).

    Args:
        frame_index: ``(M,)`` 0-based position of each box's frame among the
            ``num_frames`` linked frames; every position has a box.
        boxes: ``(M, 4)`` xyxy boxes.
        scores: ``(M, C)`` class scores of each box.
        num_frames: Number of linked frames ``F``.
        top_k: Candidate boxes per frame and class.
        max_tubes: Paths per class.
        iou_weight, score_weight, product_weight: Edge-score weights.
        min_iou: Least IoU of two consecutive boxes of a path.
        pixel_plus_one: IoU pixel convention (:func:`.box_iou`).

    Returns:
        Per class, a list of ``(F,)`` arrays of box indices (into ``boxes``;
        -1 before the path starts and after it ends), best path first.
    """
    num_classes = scores.shape[1]
    counts = np.bincount(frame_index, minlength=num_frames)
    if (counts == 0).any():
        raise ValueError('viterbi_paths: every linked frame needs a box')
    order_by_frame = np.argsort(frame_index, kind='stable')
    frame_index = frame_index[order_by_frame]
    boxes, scores = boxes[order_by_frame], scores[order_by_frame]
    num_boxes = len(frame_index)
    k = int(min(top_k, counts.max()))

    # Per class: boxes by frame, then by descending class score; the first
    # k of each frame become that class's candidate slots.
    ranked = np.lexsort(
        (-scores.T, np.broadcast_to(frame_index, (num_classes, num_boxes))),
        axis=-1)
    rank = np.arange(num_boxes) - (np.cumsum(counts) - counts)[frame_index]
    keep = rank < k
    slots = np.zeros((num_frames, num_classes, k), dtype=np.int64)
    slots[frame_index[keep], :, rank[keep]] = ranked[:, keep].T
    valid = np.arange(k)[None, :] < counts[:, None]  # (F, k), all classes
    class_axis = np.arange(num_classes)[None, :, None]
    slot_boxes = boxes[slots]  # (F, C, k, 4)
    slot_scores = scores[slots, class_axis]  # (F, C, k)

    # Slots k ("not started") and k + 1 ("ended") let a path cover only
    # part of the segment: it may wait, then run through consecutive boxes,
    # then stop, but never resume; a path is one contiguous tube.
    before, after = k, k + 1
    edges = np.full((max(num_frames - 1, 0), num_classes, k + 2, k + 2),
                    -np.inf)
    prev, nxt = slot_scores[:-1, :, :, None], slot_scores[1:, :, None, :]
    ious = box_iou(slot_boxes[:-1, :, :, None], slot_boxes[1:, :, None, :],
                   pixel_plus_one)
    edges[:, :, :k, :k] = np.where(
        ious >= min_iou, iou_weight * ious + score_weight * (prev + nxt) +
        product_weight * prev * nxt, -np.inf)
    edges[:, :, before, :k + 1] = 0.0
    edges[:, :, :, after] = 0.0

    available = np.ones((num_frames, num_classes, k + 2), dtype=bool)
    available[:, :, :k] = valid[:, None, :]
    pointers = np.zeros((max(num_frames - 1, 0), num_classes, k + 2), np.int64)
    classes = np.arange(num_classes)
    frames = np.arange(num_frames)[:, None]
    paths: List[List[np.ndarray]] = [[] for _ in range(num_classes)]
    for _ in range(max_tubes):
        best = np.where(available[-1], 0.0, -np.inf)
        for t in range(num_frames - 2, -1, -1):
            total = edges[t] + best[:, None, :]
            pointers[t] = total.argmax(axis=-1)
            best = np.where(available[t], total.max(axis=-1), -np.inf)
        path = np.empty((num_frames, num_classes), dtype=np.int64)
        # Without edges a one-box path scores 0 like an empty one; the
        # tie-break toward lower slots then picks the best-scored box.
        path[0] = best.argmax(axis=-1)
        for t in range(num_frames - 1):
            path[t + 1] = pointers[t, classes, path[t]]
        real = path < k
        found = real.any(axis=0)
        if not found.any():
            break
        available[frames, classes[None, :], path] &= ~real
        box_ids = np.where(
            real, order_by_frame[slots[frames, classes[None, :],
                                       np.minimum(path, k - 1)]], -1)
        for label in np.flatnonzero(found):
            paths[label].append(box_ids[:, label])
    return paths


def gap_interpolation(
    frames: np.ndarray
) -> Tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Linear-interpolation weights filling the gaps between ``frames``.

    Args:
        frames: ``(F,)`` increasing frame numbers.

    Returns:
        ``(all_frames, left, right, weight)``: every frame from
        ``frames[0]`` to ``frames[-1]`` and, per frame, the positions of
        the linked frames around it and the weight of the right one
        (``value = (1 - weight) * v[left] + weight * v[right]``).
    """
    all_frames = np.arange(frames[0], frames[-1] + 1)
    left = np.searchsorted(frames, all_frames, side='right') - 1
    right = np.minimum(left + 1, len(frames) - 1)
    span = frames[right] - frames[left]
    weight = np.divide(
        all_frames - frames[left],
        span,
        out=np.zeros(all_frames.shape),
        where=span > 0)
    return all_frames, left, right, weight


def temporal_trim(scores: np.ndarray, thr: float,
                  penalty: float) -> np.ndarray:
    """Two-state Viterbi action / background labelling (step 4).

    Args:
        scores: ``(T, G)`` per-frame scores of ``T`` paths.
        thr: Score above which a frame favours the action label.
        penalty: Cost of each label change.

    Returns:
        ``(T, G)`` bool, True where labelled action.
    """
    num_paths, length = scores.shape
    gain = scores - thr
    background = np.zeros(num_paths)
    action = gain[:, 0].copy()
    # came_from_action[g]: the best labelling ending in that state at g had
    # the action label at g - 1.
    bg_from_action = np.zeros((length, num_paths), dtype=bool)
    act_from_action = np.ones((length, num_paths), dtype=bool)
    for g in range(1, length):
        switch_to_bg = action - penalty
        switch_to_act = background - penalty
        bg_from_action[g] = switch_to_bg > background
        act_from_action[g] = action >= switch_to_act
        background, action = (np.maximum(background, switch_to_bg),
                              np.maximum(action, switch_to_act) + gain[:, g])
    labels = np.empty((num_paths, length), dtype=bool)
    labels[:, -1] = action > background
    for g in range(length - 1, 0, -1):
        labels[:, g - 1] = np.where(labels[:, g], act_from_action[g],
                                    bg_from_action[g])
    return labels


def link_video(frames: np.ndarray,
               boxes: np.ndarray,
               scores: np.ndarray,
               top_k: int = 10,
               max_tubes: int = 3,
               max_gap: Optional[int] = 8,
               iou_weight: float = 1.0,
               score_weight: float = 1.0,
               product_weight: float = 0.5,
               min_iou: float = 0.1,
               trim_thr: Optional[float] = 0.5,
               trim_penalty: float = 1.0,
               pixel_plus_one: bool = False
               ) -> List[Tuple[int, float, np.ndarray]]:
    """Link the boxes of one video into per-class tubes (module docstring).

    Args:
        frames: ``(M,)`` frame number of each box.
        boxes: ``(M, 4)`` xyxy boxes.
        scores: ``(M, C)`` class scores of each box.
        top_k: Candidate boxes per frame and class.
        max_tubes: Viterbi paths per class and segment.
        max_gap: Longest run of frames without boxes that is bridged;
            ``None`` bridges every gap.
        iou_weight, score_weight, product_weight: Edge-score weights.
        min_iou: Least IoU of two consecutive boxes of a path.
        trim_thr: Trimming score threshold; ``None`` disables trimming.
        trim_penalty: Trimming label-change cost.
        pixel_plus_one: IoU pixel convention.

    Returns:
        ``(label, score, tube)`` triples, ``tube`` an ``(n, 6)`` float64
        array of rows ``frame, x1, y1, x2, y2, frame score`` covering
        consecutive frames.
    """
    if len(frames) == 0:
        return []
    unique_frames, frame_index = np.unique(frames, return_inverse=True)
    breaks = np.flatnonzero(
        np.diff(unique_frames) > (np.inf if max_gap is None else max_gap +
                                  1)) + 1
    tubes: List[Tuple[int, float, np.ndarray]] = []
    for seg in np.split(np.arange(len(unique_frames)), breaks):
        in_seg = (frame_index >= seg[0]) & (frame_index <= seg[-1])
        paths = viterbi_paths(frame_index[in_seg] - seg[0], boxes[in_seg],
                              scores[in_seg], len(seg), top_k, max_tubes,
                              iou_weight, score_weight, product_weight,
                              min_iou, pixel_plus_one)
        labels = np.array([lab for lab, ps in enumerate(paths) for _ in ps],
                          dtype=np.int64)
        if labels.size == 0:
            continue
        local_ids = np.stack([p for ps in paths for p in ps])  # (T, F)
        real = local_ids >= 0
        box_ids = np.flatnonzero(in_seg)[np.maximum(local_ids, 0)]
        path_scores = np.where(real, scores[box_ids, labels[:, None]], 0.0)
        seg_frames, left, right, weight = gap_interpolation(unique_frames[seg])
        values = np.concatenate((boxes[box_ids], path_scores[..., None]), -1)
        values = (values[:, left] * (1 - weight[:, None]) +
                  values[:, right] * weight[:, None])  # (T, G, 5)
        # A frame between two linked frames is on the path when both are.
        keep = real[:, left] & (real[:, right] | (weight == 0))
        if trim_thr is not None:
            keep &= temporal_trim(values[..., 4], trim_thr, trim_penalty)
        for path_id, label in enumerate(labels):
            tubes.extend(
                (int(label), float(run[:, 5].mean()), run)
                for run in _runs(seg_frames, values[path_id], keep[path_id]))
    return tubes


def _runs(frames: np.ndarray, values: np.ndarray,
          keep: np.ndarray) -> List[np.ndarray]:
    """Split a path into its maximal runs of kept frames, as tube arrays."""
    edges = np.diff(np.concatenate(([0], keep.astype(np.int8), [0])))
    starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    return [
        np.column_stack((frames[s:e], values[s:e]))
        for s, e in zip(starts, ends)
    ]


def link_tubes(detections: np.ndarray,
               videos: Sequence[str],
               num_classes: int,
               nframes: Optional[np.ndarray] = None,
               **link_cfg) -> Dict[int, List[Tube]]:
    """Link the detections of every video into per-class tubes.

    Args:
        detections: ``(N, 8)`` detection rows (``docs/architecture.md``).
        videos: Video ids indexed by the rows' ``video_index``.
        num_classes: Number of classes.
        nframes: Optional ``(len(videos),)`` frame counts, to check rows.
        **link_cfg: Options of :func:`link_video`.

    Returns:
        ``{label: [(video id, score, tube (n, 6)), ...]}`` for every label,
        the format of ACT's and mmaction2's ``videoAP``.
    """
    dets = parse_detections(detections, videos, nframes, num_classes)
    video, frame, boxes, scores = detections_to_boxes(dets, num_classes)
    result: Dict[int, List[Tube]] = {c: [] for c in range(num_classes)}
    bounds = np.searchsorted(video, np.arange(len(videos) + 1))
    for index, name in enumerate(videos):
        part = slice(bounds[index], bounds[index + 1])
        for label, score, tube in link_video(frame[part], boxes[part],
                                             scores[part], **link_cfg):
            result[label].append((name, score, tube))
    return result
