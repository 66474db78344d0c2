"""Box overlap for evaluation (numpy, no torch)."""
import numpy as np


def box_iou(boxes1: np.ndarray,
            boxes2: np.ndarray,
            pixel_plus_one: bool = False) -> np.ndarray:
    """IoU of xyxy boxes, broadcast over the leading dimensions.

    ``box_iou(a, b)`` with ``a, b`` of shape ``(n, 4)`` gives the ``n``
    element-wise IoUs; ``box_iou(a[:, None], b[None])`` the ``(n, m)``
    matrix.

    Args:
        boxes1: ``(..., 4)`` boxes ``x1, y1, x2, y2``.
        boxes2: ``(..., 4)`` boxes, broadcastable against ``boxes1``.
        pixel_plus_one: Count a box as ``x2 - x1 + 1`` pixels wide (the
            integer-pixel convention of the VOC devkit, ACT and the original
            YOWO evaluation); ``False`` treats corners as continuous
            coordinates (mmdet, MultiSports / mmaction2's ``frameAP``).

    Returns:
        float64 IoUs of the broadcast shape; 0 where the union is empty.
    """
    b1 = np.asarray(boxes1, dtype=np.float64)
    b2 = np.asarray(boxes2, dtype=np.float64)
    offset = 1.0 if pixel_plus_one else 0.0
    # In place where the result is broadcast: tube linking calls this on
    # millions of box pairs.
    inter = np.asarray(np.minimum(b1[..., 2], b2[..., 2]))
    inter -= np.maximum(b1[..., 0], b2[..., 0])
    inter += offset
    np.maximum(inter, 0, out=inter)
    inter_h = np.asarray(np.minimum(b1[..., 3], b2[..., 3]))
    inter_h -= np.maximum(b1[..., 1], b2[..., 1])
    inter_h += offset
    np.maximum(inter_h, 0, out=inter_h)
    inter *= inter_h
    area1 = (b1[..., 2] - b1[..., 0] + offset) * (
        b1[..., 3] - b1[..., 1] + offset)
    area2 = (b2[..., 2] - b2[..., 0] + offset) * (
        b2[..., 3] - b2[..., 1] + offset)
    union = np.asarray(area1 + area2)
    union -= inter
    # Degenerate boxes (zero area on both sides) overlap nothing.
    return np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)


def boxes_intersect(boxes1: np.ndarray, boxes2: np.ndarray) -> np.ndarray:
    """Whether xyxy boxes touch or overlap, broadcast like :func:`box_iou`.

    Boxes are disjoint when one starts after the other ends on an axis
    (``max(x1) > min(x2)``), however small the gap. With ``+1`` pixel areas
    :func:`box_iou` still gives boxes less than a pixel apart a sliver of
    overlap (as the VOC devkit and ACT do); Padilla's Object-Detection-Metrics
    evaluator used by YOWO and YOWOv2 (``Evaluator._boxesIntersect``) scores
    them 0, which this test reproduces.

    Args:
        boxes1: ``(..., 4)`` boxes ``x1, y1, x2, y2``.
        boxes2: ``(..., 4)`` boxes, broadcastable against ``boxes1``.

    Returns:
        bool array of the broadcast shape.
    """
    b1 = np.asarray(boxes1, dtype=np.float64)
    b2 = np.asarray(boxes2, dtype=np.float64)
    return ((np.maximum(b1[..., 0], b2[..., 0]) <= np.minimum(
        b1[..., 2], b2[..., 2]))
            & (np.maximum(b1[..., 1], b2[..., 1]) <= np.minimum(
                b1[..., 3], b2[..., 3])))
