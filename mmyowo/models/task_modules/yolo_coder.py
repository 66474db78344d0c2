"""YOLOv3 box coding on flattened priors (paper §3.2, YOLOv3 head).

Priors of one level are flattened in ``(H, W, A)`` order,
``index = (y * W + x) * A + a`` (docs/architecture.md), matching the head's
flattened predictions.
"""
import math
from typing import Sequence, Tuple, Union

import torch
from torch import Tensor

#: Bound of ``|tw|, |th|`` before ``exp``: a box is at most 62.5 times (and at
#: least 1/62.5 of) its anchor, mmdet's ``wh_ratio_clip = 16 / 1000``. That
#: still lets the smallest 224-input anchor (5 px) span the whole input while
#: keeping ``exp`` (and the CIoU loss on the decoded boxes) far from overflow
#: for the wild raw outputs of an untrained head.
MAX_LOG_WH_RATIO = math.log(1000 / 16)


def make_grid_priors(featmap_size: Tuple[int, int],
                     base_anchors: Union[Tensor, Sequence],
                     device: Union[str, torch.device] = 'cpu'
                     ) -> Tuple[Tensor, Tensor]:
    """Cell indices and anchor sizes of every prior of one level.

    Args:
        featmap_size (tuple[int, int]): ``(H, W)`` of the level.
        base_anchors (Tensor | sequence): ``(A, 2)`` anchor ``(w, h)`` in
            input pixels.
        device (str | torch.device): Device of the outputs.

    Returns:
        tuple[Tensor, Tensor]: ``grid_xy`` ``(H * W * A, 2)`` float cell
        indices ``(x, y)`` and ``anchors_wh`` ``(H * W * A, 2)``, both in the
        order ``index = (y * W + x) * A + a``.

    Raises:
        ValueError: Bad ``featmap_size`` or ``base_anchors``.
    """
    h, w = featmap_size
    if h <= 0 or w <= 0:
        raise ValueError(f'featmap_size must be positive, got {featmap_size}')
    anchors = torch.as_tensor(base_anchors, dtype=torch.float32, device=device)
    if anchors.dim() != 2 or anchors.shape[1] != 2:
        raise ValueError('base_anchors must have shape (A, 2), got '
                         f'{tuple(anchors.shape)}')
    num_anchors = anchors.shape[0]
    ys, xs = torch.meshgrid(
        torch.arange(h, dtype=anchors.dtype, device=device),
        torch.arange(w, dtype=anchors.dtype, device=device),
        indexing='ij')
    grid_xy = torch.stack([xs, ys],
                          dim=-1)[:, :, None, :].expand(h, w, num_anchors,
                                                        2).reshape(-1, 2)
    anchors_wh = anchors[None, None].expand(h, w, num_anchors,
                                            2).reshape(-1, 2)
    return grid_xy, anchors_wh


def yolo_decode(deltas: Tensor,
                grid_xy: Tensor,
                anchors_wh: Tensor,
                stride: Union[float, Tensor],
                max_log_ratio: float = MAX_LOG_WH_RATIO) -> Tensor:
    """Decode raw YOLOv3 outputs into xyxy boxes in input pixels.

    ``cx = (sigmoid(tx) + gx) * stride``, ``w = exp(tw) * anchor_w`` (and
    likewise for ``y``/``h``), with ``tw, th`` clamped to
    ``[-max_log_ratio, max_log_ratio]`` before ``exp``.

    Args:
        deltas (Tensor): Raw ``(tx, ty, tw, th)`` of shape ``(..., 4)``.
        grid_xy (Tensor): Cell indices ``(x, y)`` broadcastable to
            ``(..., 2)``.
        anchors_wh (Tensor): Anchor sizes in pixels broadcastable to
            ``(..., 2)``.
        stride (float | Tensor): Stride, a number or a tensor broadcastable
            to ``(..., 1)`` (per-prior strides of concatenated levels).
        max_log_ratio (float): Clamp bound of ``tw, th``.

    Returns:
        Tensor: Boxes ``(..., 4)`` as ``(x1, y1, x2, y2)``.

    Raises:
        ValueError: If the last dimension of ``deltas`` is not 4.
    """
    if deltas.shape[-1] != 4:
        raise ValueError('yolo_decode expects deltas of shape (..., 4), got '
                         f'{tuple(deltas.shape)}')
    centre = (deltas[..., :2].sigmoid() + grid_xy) * stride
    size = deltas[..., 2:].clamp(-max_log_ratio,
                                 max_log_ratio).exp() * anchors_wh
    return torch.cat([centre - size / 2, centre + size / 2], dim=-1)
