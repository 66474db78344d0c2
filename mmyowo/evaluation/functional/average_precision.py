"""VOC all-point average precision and per-class precision-recall curves."""
from typing import Dict, List

import numpy as np


def voc_average_precision(recall: np.ndarray, precision: np.ndarray) -> float:
    """Area under the monotone precision envelope, all points (VOC 2010+).

    The curve is closed with ``(recall 0, precision 0)`` and ``(recall 1,
    precision 0)``; precision is replaced by its running maximum from the
    right, and the area is summed over the recall steps. This is the AP of
    the VOC devkit, ACT, YOWO and mmaction2's ``pr_to_ap_voc``.

    Args:
        recall: ``(n,)`` non-decreasing recall after each ranked detection.
        precision: ``(n,)`` precision after each ranked detection.

    Returns:
        AP in ``[0, 1]``; 0 for an empty curve.
    """
    mrec = np.concatenate(([0.0], np.asarray(recall, np.float64), [1.0]))
    mpre = np.concatenate(([0.0], np.asarray(precision, np.float64), [0.0]))
    mpre = np.maximum.accumulate(mpre[::-1])[::-1]
    steps = np.flatnonzero(mrec[1:] != mrec[:-1]) + 1
    return float(np.sum((mrec[steps] - mrec[steps - 1]) * mpre[steps]))


def per_class_average_precision(labels: np.ndarray, scores: np.ndarray,
                                true_positive: np.ndarray,
                                num_gt: np.ndarray) -> Dict[str, object]:
    """Precision-recall curve and AP of every class.

    Args:
        labels: ``(n,)`` 0-based class of each detection.
        scores: ``(n,)`` detection scores.
        true_positive: ``(n,)`` bool matching outcome of each detection.
        num_gt: ``(C,)`` number of ground-truth instances per class.

    Returns:
        dict with ``ap`` ``(C,)`` (NaN for a class without ground truth,
        which is left out of ``mAP``, as in ACT / mmaction2), ``mAP`` (NaN
        if no class has ground truth), ``precision`` / ``recall`` (lists of
        ``C`` arrays, one point per ranked detection of the class, empty for
        a class without ground truth), ``scores`` (the ranked scores) and
        ``num_dets`` ``(C,)``.
    """
    num_classes = len(num_gt)
    # Descending score within each class; equal scores keep input order, as
    # in :func:`~.matching.rank_order`.
    order = np.lexsort((-np.asarray(scores, np.float64), labels))
    sorted_labels = labels[order]
    bounds = np.searchsorted(sorted_labels, np.arange(num_classes + 1))
    ap = np.full(num_classes, np.nan)
    precisions: List[np.ndarray] = []
    recalls: List[np.ndarray] = []
    ranked_scores: List[np.ndarray] = []
    for label in range(num_classes):
        idx = order[bounds[label]:bounds[label + 1]]
        ranked_scores.append(np.asarray(scores)[idx])
        if num_gt[label] == 0:
            precisions.append(np.zeros(0))
            recalls.append(np.zeros(0))
            continue
        tp = np.cumsum(true_positive[idx])
        precision = tp / np.arange(1, idx.size + 1)
        recall = tp / float(num_gt[label])
        ap[label] = voc_average_precision(recall, precision)
        precisions.append(precision)
        recalls.append(recall)
    valid = ~np.isnan(ap)
    return dict(
        ap=ap,
        mAP=float(ap[valid].mean()) if valid.any() else float('nan'),
        precision=precisions,
        recall=recalls,
        scores=ranked_scores,
        num_dets=np.diff(bounds))
