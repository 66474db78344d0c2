"""Vectorised greedy detection-to-ground-truth matching (VOC rule).

The VOC / ACT / YOWO evaluation walks the detections of a class in
descending score order; each detection looks at the ground truth of its own
frame (or video, for tubes), takes the one it overlaps most and is a true
positive if that overlap reaches the threshold and that ground truth is not
matched yet; otherwise it is a false positive (a duplicate included).

Because a detection's best ground truth does not depend on the order, the
walk reduces to: compute every detection's best ground truth once, then a
detection is a true positive iff it is the highest-ranked detection that
names that ground truth with enough overlap. These functions do that with
numpy sorting only, so a million detections take about a second.
"""
from typing import Tuple

import numpy as np


def pairs_by_key(query_keys: np.ndarray,
                 ref_keys: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """All pairs ``(i, j)`` with ``query_keys[i] == ref_keys[j]``.

    Args:
        query_keys: ``(n,)`` integer keys, e.g. encoded (class, video, frame)
            of detections.
        ref_keys: ``(m,)`` integer keys of the references (ground truth).

    Returns:
        ``(query_index, ref_index)`` int64 arrays of equal length, sorted by
        query index, then by reference index.
    """
    query_keys = np.asarray(query_keys)
    ref_keys = np.asarray(ref_keys)
    order = np.argsort(ref_keys, kind='stable')
    sorted_ref = ref_keys[order]
    lo = np.searchsorted(sorted_ref, query_keys, side='left')
    counts = np.searchsorted(sorted_ref, query_keys, side='right') - lo
    query_index = np.repeat(np.arange(query_keys.size), counts)
    # Position of each pair inside its query's run of equal reference keys.
    within = np.arange(query_index.size) - np.repeat(
        np.cumsum(counts) - counts, counts)
    ref_index = order[np.repeat(lo, counts) + within]
    return query_index.astype(np.int64), ref_index.astype(np.int64)


def best_match(num_queries: int, query_index: np.ndarray,
               ref_index: np.ndarray,
               overlaps: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """Per query, the candidate reference with the largest overlap.

    Ties go to the smallest reference index (``np.argmax`` semantics).

    Args:
        num_queries: Number of queries.
        query_index: ``(p,)`` query of each candidate pair.
        ref_index: ``(p,)`` reference of each candidate pair.
        overlaps: ``(p,)`` overlap (IoU) of each pair.

    Returns:
        ``(best_ref, best_overlap)``: ``(num_queries,)`` int64 reference
        index (-1 for a query without candidates) and float64 overlap (0
        without candidates).
    """
    best_ref = np.full(num_queries, -1, dtype=np.int64)
    best_overlap = np.zeros(num_queries, dtype=np.float64)
    if query_index.size == 0:
        return best_ref, best_overlap
    order = np.lexsort((ref_index, -np.asarray(overlaps), query_index))
    sorted_query = query_index[order]
    first = np.ones(order.size, dtype=bool)
    first[1:] = sorted_query[1:] != sorted_query[:-1]
    chosen = order[first]
    best_ref[query_index[chosen]] = ref_index[chosen]
    best_overlap[query_index[chosen]] = overlaps[chosen]
    return best_ref, best_overlap


def rank_order(scores: np.ndarray) -> np.ndarray:
    """Indices by descending score; equal scores keep their input order."""
    return np.argsort(-np.asarray(scores, dtype=np.float64), kind='stable')


def greedy_true_positives(scores: np.ndarray, best_ref: np.ndarray,
                          best_overlap: np.ndarray,
                          iou_thr: float) -> np.ndarray:
    """True-positive flags of the greedy VOC matching.

    A detection is a true positive iff its best reference overlaps it by at
    least ``iou_thr`` and no higher-ranked detection (:func:`rank_order`)
    claimed that reference before. The references of different classes must
    carry different indices (they do when the candidates were paired by a
    key that includes the class).

    Args:
        scores: ``(n,)`` detection scores.
        best_ref: ``(n,)`` best reference per detection, -1 for none.
        best_overlap: ``(n,)`` overlap with that reference.
        iou_thr: Minimum overlap of a true positive.

    Returns:
        ``(n,)`` bool array.
    """
    order = rank_order(scores)
    candidates = order[(best_overlap[order] >= iou_thr)
                       & (best_ref[order] >= 0)]
    _, first = np.unique(best_ref[candidates], return_index=True)
    true_positive = np.zeros(len(scores), dtype=bool)
    true_positive[candidates[first]] = True
    return true_positive
