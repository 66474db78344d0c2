"""Tube linking of the YOWO family's video-mAP (:mod:`.yowo_video_map`).

Steps 1-3 there: whole-video Viterbi paths per video and class (YOWO's
``link_bbxes_between_frames``), scored by their mean, then 3D NMS
(``nms_3d``). Learned from ``wei-tim/YOWO`` (``core/eval_results.py``,
``core/utils.py``) and ``yjh0410/YOWOv2`` (``evaluator/cal_video_mAP.py``,
``evaluator/utils.py``).

Linking costs ``frames x candidates^2`` per video and class: with the 100
boxes a frame may keep, a UCF101-24 test set takes minutes. ``top_k`` (off
by default, which is YOWO's rule) caps the candidates per frame for speed.
All the classes of a video are linked in one pass of numpy operations where
their edge scores fit in memory.
"""
from typing import Dict, List, Optional, Sequence, Tuple, Union

import numpy as np

from .box_ops import box_iou
from .inputs import parse_detections
from .matching import rank_order
from .tube_linking import Tube
from .video_map import spatiotemporal_iou

# Sizes in edge scores (float32 elements): the classes of a video are
# linked together while their edges fit in EDGE_BUDGET (32 MiB); edges are
# built EDGE_CHUNK at a time (16 MiB per float64 temporary).
EDGE_CHUNK = 1 << 21
EDGE_BUDGET = 1 << 23


def yowo_tube_iou(tube1: np.ndarray,
                  tube2: np.ndarray,
                  pixel_plus_one: bool = True) -> float:
    """YOWO's ``iou3dt``: 0 unless the spans share two frames or more.

    Args:
        tube1, tube2: ``(n, 5+)`` rows ``frame, x1, y1, x2, y2, ...``.
        pixel_plus_one: Box-area convention (:func:`.box_iou`).

    Returns:
        :func:`.spatiotemporal_iou` with ``+1`` frame counts, or 0.
    """
    if min(tube1[-1, 0], tube2[-1, 0]) <= max(tube1[0, 0], tube2[0, 0]):
        return 0.0
    return spatiotemporal_iou(tube1, tube2, pixel_plus_one, True)


def candidate_slots(frames: np.ndarray,
                    boxes: np.ndarray,
                    scores: np.ndarray,
                    num_frames: int,
                    top_k: Optional[int] = None
                    ) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per frame, one class's candidate boxes, borrowed where missing.

    Args:
        frames: ``(M,)`` 1-based frame of each detection (``M >= 1``).
        boxes: ``(M, 4)`` xyxy boxes.
        scores: ``(M,)`` scores of the class.
        num_frames: Frames of the video.
        top_k: Keep the ``top_k`` best-scored detections of a frame;
            ``None`` keeps all (YOWO).

    Returns:
        ``(boxes, scores, valid)`` of shapes ``(F, k, 4)``, ``(F, k)`` and
        ``(F, k)``: slot ``j`` of frame ``t`` holds its ``j``-th best
        candidate; a frame without detections holds a copy of the nearest
        frame's (the earlier one on a tie, as ``np.argmin`` in YOWO).
    """
    frames = np.asarray(frames, dtype=np.int64) - 1
    order = np.lexsort((-np.asarray(scores, np.float64), frames))
    frames, boxes, scores = frames[order], boxes[order], scores[order]
    counts = np.bincount(frames, minlength=num_frames)
    rank = np.arange(frames.size) - (np.cumsum(counts) - counts)[frames]
    if top_k is not None:
        keep = rank < top_k
        frames, boxes, scores, rank = (frames[keep], boxes[keep], scores[keep],
                                       rank[keep])
        counts = np.minimum(counts, top_k)
    k = int(counts.max())
    slot_boxes = np.zeros((num_frames, k, 4))
    slot_scores = np.zeros((num_frames, k))
    slot_boxes[frames, rank] = boxes
    slot_scores[frames, rank] = scores
    filled = np.flatnonzero(counts)
    t = np.arange(num_frames)
    after = np.minimum(np.searchsorted(filled, t), filled.size - 1)
    before = filled[np.maximum(after - 1, 0)]
    after = filled[after]
    source = np.where(np.abs(t - before) <= np.abs(after - t), before, after)
    valid = np.arange(k)[None, :] < counts[source][:, None]
    return slot_boxes[source], slot_scores[source], valid


def viterbi_whole_paths(boxes: np.ndarray,
                        scores: np.ndarray,
                        valid: np.ndarray,
                        max_tubes: int = 3,
                        iou_weight: float = 1.0,
                        score_weight: float = 1.0,
                        product_weight: float = 0.5) -> List[List[np.ndarray]]:
    """YOWO's ``link_bbxes_between_frames`` for ``G`` classes at once.

    Args:
        boxes: ``(G, F, k, 4)`` candidate boxes (:func:`candidate_slots`,
            padded to one ``k``).
        scores: ``(G, F, k)`` their scores.
        valid: ``(G, F, k)`` which slots hold a candidate; every frame of
            every class needs one.
        max_tubes: Most paths per class.
        iou_weight, score_weight, product_weight: Edge-score weights.

    Returns:
        Per class, up to ``max_tubes`` ``(F,)`` slot indices, best path
        first; a class stops once a frame has no candidate left.
    """
    num_groups, num_frames, k = scores.shape
    # float32 like YOWO's edge and path scores; built a few frames at a
    # time to bound the float64 temporaries.
    edges = np.empty((num_groups, max(num_frames - 1, 0), k, k), np.float32)
    step = max(1, EDGE_CHUNK // (num_groups * k * k))
    for a in range(0, num_frames - 1, step):
        b = min(a + step, num_frames - 1)
        prev, nxt = scores[:, a:b, :, None], scores[:, a + 1:b + 1, None, :]
        edges[:, a:b] = (
            iou_weight *
            box_iou(boxes[:, a:b, :, None], boxes[:, a + 1:b + 1, None, :]) +
            score_weight * (prev + nxt) + product_weight * prev * nxt)
    available = valid.copy()
    active = np.ones(num_groups, dtype=bool)
    pointers = np.zeros((num_groups, max(num_frames - 1, 0), k), np.int64)
    groups, frames = np.arange(num_groups)[:, None], np.arange(num_frames)
    paths: List[List[np.ndarray]] = [[] for _ in range(num_groups)]
    for _ in range(max_tubes):
        best = np.where(available[:, -1], np.float32(0), -np.inf)
        for i in range(num_frames - 2, -1, -1):
            total = edges[:, i] + best[:, None, :]
            pointers[:, i] = total.argmax(axis=-1)
            best = np.where(available[:, i], total.max(axis=-1), -np.inf)
        path = np.empty((num_groups, num_frames), dtype=np.int64)
        path[:, 0] = best.argmax(axis=-1)
        for i in range(num_frames - 1):
            path[:, i + 1] = pointers[np.arange(num_groups), i, path[:, i]]
        for g in np.flatnonzero(active):
            paths[g].append(path[g])
        available[groups, frames[None, :], path] = False
        active &= available.any(axis=-1).all(axis=-1)
        if not active.any():
            break
    return paths


def yowo_link_class(frames: np.ndarray,
                    boxes: np.ndarray,
                    scores: np.ndarray,
                    num_frames: int,
                    max_tubes: int = 3,
                    top_k: Optional[int] = None) -> List[np.ndarray]:
    """Link one class's detections of one video into whole-video paths.

    Step 1 of the module docstring (:func:`link_tubes_yowo` links all the
    classes of a video at once).

    Args:
        frames: ``(M,)`` 1-based frame of each detection.
        boxes: ``(M, 4)`` xyxy boxes.
        scores: ``(M,)`` scores of this class.
        num_frames: Frames of the video; paths run over ``1..num_frames``.
        max_tubes: Most paths.
        top_k: See :func:`candidate_slots`.

    Returns:
        Up to ``max_tubes`` ``(num_frames, 6)`` float64 arrays of rows
        ``frame, x1, y1, x2, y2, score``, best path first.
    """
    if len(frames) == 0:
        return []
    slots = candidate_slots(frames, np.asarray(boxes, np.float64),
                            np.asarray(scores, np.float64), num_frames, top_k)
    slot_boxes, slot_scores, valid = slots
    paths = viterbi_whole_paths(slot_boxes[None], slot_scores[None],
                                valid[None], max_tubes)[0]
    return [_path_tube(slot_boxes, slot_scores, path) for path in paths]


def _path_tube(boxes: np.ndarray, scores: np.ndarray,
               path: np.ndarray) -> np.ndarray:
    """``(F, 6)`` tube of a path through ``(F, k, 4)`` slots."""
    t = np.arange(len(path))
    return np.column_stack((t + 1, boxes[t, path], scores[t, path]))


def tube_nms(tubes: Sequence[np.ndarray],
             scores: Sequence[float],
             iou_thr: float = 0.3,
             pixel_plus_one: bool = True) -> List[int]:
    """3D NMS of YOWO (``nms_3d``): greedy by descending score.

    Args:
        tubes: ``(n, 5+)`` tube arrays.
        scores: Tube scores.
        iou_thr: A tube whose :func:`yowo_tube_iou` with a kept one exceeds
            this is dropped.
        pixel_plus_one: Box-area convention.

    Returns:
        Indices of the kept tubes, by descending score.
    """
    keep: List[int] = []
    for i in rank_order(np.asarray(scores, dtype=np.float64)):
        if all(
                yowo_tube_iou(tubes[j], tubes[i], pixel_plus_one) <= iou_thr
                for j in keep):
            keep.append(int(i))
    return keep


def link_tubes_yowo(detections: np.ndarray,
                    videos: Sequence[str],
                    num_classes: int,
                    nframes: Union[Sequence[int], np.ndarray],
                    max_tubes: int = 3,
                    top_k: Optional[int] = None,
                    nms_thr: float = 0.3,
                    pixel_plus_one: bool = True) -> Dict[int, List[Tube]]:
    """Steps 1-3 of the module docstring on every video and class.

    Args:
        detections: ``(N, 8)`` detection rows (``docs/architecture.md``).
        videos: Video ids indexed by the rows' ``video_index``.
        num_classes: Number of classes.
        nframes: ``(len(videos),)`` frame counts; tubes span every frame.
        max_tubes: Linked paths per video and class, before NMS.
        top_k: Candidates per frame and class (:func:`yowo_link_class`).
        nms_thr: 3D-NMS IoU threshold.
        pixel_plus_one: Box-area convention of the 3D NMS.

    Returns:
        ``{label: [(video id, score, tube (n, 6)), ...]}`` for every label.
    """
    frame_counts = np.asarray(nframes, dtype=np.int64)
    dets = parse_detections(detections, videos, frame_counts, num_classes)
    result: Dict[int, List[Tube]] = {c: [] for c in range(num_classes)}
    order = np.lexsort((dets.label, dets.video))
    bounds = np.searchsorted(dets.video[order], np.arange(len(videos) + 1))
    for index, name in enumerate(videos):
        rows = order[bounds[index]:bounds[index + 1]]
        if rows.size == 0:
            continue
        num_frames = int(frame_counts[index])
        groups = np.split(rows, np.flatnonzero(np.diff(dets.label[rows])) + 1)
        slots = [
            candidate_slots(dets.frame[g], dets.boxes[g], dets.score[g],
                            num_frames, top_k) for g in groups
        ]
        for batch in _batches([s[1].shape[1] for s in slots], num_frames):
            k = max(slots[i][1].shape[1] for i in batch)
            padded = [
                np.stack([_pad_slots(slots[i][j], k) for i in batch])
                for j in range(3)
            ]
            batch_paths = viterbi_whole_paths(padded[0], padded[1], padded[2],
                                              max_tubes)
            for i, paths in zip(batch, batch_paths):
                tubes = [
                    _path_tube(slots[i][0], slots[i][1], p) for p in paths
                ]
                scores = [float(tube[:, 5].mean()) for tube in tubes]
                label = int(dets.label[groups[i][0]])
                result[label].extend(
                    (name, scores[j], tubes[j])
                    for j in tube_nms(tubes, scores, nms_thr, pixel_plus_one))
    return result


def _batches(sizes: List[int], num_frames: int) -> List[List[int]]:
    """Group classes (by slot count) so a group's edges fit the budget."""
    batches: List[List[int]] = []
    for i in sorted(range(len(sizes)), key=lambda i: sizes[i]):
        # Sorted by size, so the new class is the largest of the group.
        if batches and (len(batches[-1]) + 1) * max(
                num_frames - 1, 1) * (sizes[i]**2) <= EDGE_BUDGET:
            batches[-1].append(i)
        else:
            batches.append([i])
    return batches


def _pad_slots(array: np.ndarray, k: int) -> np.ndarray:
    """Pad the slot axis (axis 1) of a slot array to ``k`` with zeros."""
    pad = [(0, 0)] * array.ndim
    pad[1] = (0, k - array.shape[1])
    return np.pad(array, pad)
