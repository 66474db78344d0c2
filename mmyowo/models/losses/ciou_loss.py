"""Complete-IoU box regression loss (paper §3.3, eq. 5-6)."""
import math

import torch
from mmaction.registry import MODELS
from torch import Tensor

from .utils import WeightedLoss


def ciou_loss(pred: Tensor, target: Tensor, eps: float = 1e-7) -> Tensor:
    r"""Elementwise CIoU loss (Zheng et al., AAAI 2020), paper eq. 5-6.

    .. math::
        L_{ciou} = 1 - IoU + \frac{\rho^2(b, b^{gt})}{c^2} + \alpha v,
        \qquad v = \frac{4}{\pi^2}\left(\arctan\frac{w^{gt}}{h^{gt}}
        - \arctan\frac{w}{h}\right)^2

    with :math:`\rho` the distance between the box centres and :math:`c` the
    diagonal of the smallest enclosing box. The trade-off weight is
    :math:`\alpha = v / (1 - IoU + v)` of Zheng et al. (no ``IoU > 0.5``
    gate as in mmdet's later variant), computed without gradient as in
    torchvision / mmdet / the authors' code, so that it only weights ``v``.
    The loss is not clamped (mmdet clamps ``1 - L`` to ``[-1, 1]``, which
    zeroes the gradient of far-apart boxes); it always lies in ``[0, 3)``.

    Degenerate boxes stay finite in value and gradient: widths/heights are
    clamped to ``>= eps`` (so an inverted box counts as empty), the aspect
    term uses ``atan2`` of the clamped sides, and ``eps`` guards the union,
    the enclosing diagonal and ``alpha``. Half-precision inputs are computed
    in float32 because ``eps`` underflows in float16.

    Args:
        pred (Tensor): Predicted boxes ``(..., 4)`` as ``(x1, y1, x2, y2)``.
        target (Tensor): Target boxes of the same shape.
        eps (float): Numerical guard. Defaults to 1e-7.

    Returns:
        Tensor: Loss of shape ``pred.shape[:-1]`` (float32 for half inputs).

    Raises:
        ValueError: If the shapes differ or the last dimension is not 4.
    """
    if pred.shape != target.shape or pred.shape[-1:] != (4, ):
        raise ValueError('ciou_loss expects pred and target of the same shape '
                         f'(..., 4), got {tuple(pred.shape)} and '
                         f'{tuple(target.shape)}')
    if pred.dtype in (torch.float16, torch.bfloat16):
        pred, target = pred.float(), target.float()
    px1, py1, px2, py2 = pred.unbind(-1)
    tx1, ty1, tx2, ty2 = target.unbind(-1)
    pw, ph = (px2 - px1).clamp(min=eps), (py2 - py1).clamp(min=eps)
    tw, th = (tx2 - tx1).clamp(min=eps), (ty2 - ty1).clamp(min=eps)

    inter_w = (torch.min(px2, tx2) - torch.max(px1, tx1)).clamp(min=0)
    inter_h = (torch.min(py2, ty2) - torch.max(py1, ty1)).clamp(min=0)
    overlap = inter_w * inter_h
    iou = overlap / (pw * ph + tw * th - overlap + eps)

    enclose_w = torch.max(px2, tx2) - torch.min(px1, tx1)
    enclose_h = torch.max(py2, ty2) - torch.min(py1, ty1)
    c2 = enclose_w**2 + enclose_h**2 + eps
    # Centre offsets times 2 (sums of corners), hence the / 4.
    rho2 = ((px1 + px2 - tx1 - tx2)**2 + (py1 + py2 - ty1 - ty2)**2) / 4

    v = (4 / math.pi**2) * (torch.atan2(tw, th) - torch.atan2(pw, ph))**2
    with torch.no_grad():
        alpha = v / (1 - iou + v + eps)
    return 1 - iou + rho2 / c2 + alpha * v


@MODELS.register_module()
class CIoULoss(WeightedLoss):
    """CIoU loss module (eq. 5-6) with mmdet's weighting interface.

    ``forward(pred, target, weight=None, avg_factor=None,
    reduction_override=None)`` (:class:`WeightedLoss`) takes boxes
    ``(N, 4)`` xyxy and per-box weights ``(N,)``.

    Args:
        eps (float): Numerical guard of :func:`ciou_loss`. Defaults to 1e-7.
        reduction (str): ``'none'``, ``'mean'`` or ``'sum'``.
            Defaults to ``'mean'``.
        loss_weight (float): Multiplier of the loss. Defaults to 1.0.
    """

    def __init__(self,
                 eps: float = 1e-7,
                 reduction: str = 'mean',
                 loss_weight: float = 1.0) -> None:
        super().__init__(reduction, loss_weight)
        self.eps = eps

    def elementwise_loss(self, pred: Tensor, target: Tensor) -> Tensor:
        """:func:`ciou_loss` of boxes ``(N, 4)``, shape ``(N,)``."""
        if pred.dim() != 2:
            raise ValueError(f'CIoULoss expects boxes of shape (N, 4), got '
                             f'{tuple(pred.shape)}')
        return ciou_loss(pred, target, self.eps)

    def match_weight(self, weight: Tensor, loss: Tensor) -> Tensor:
        """Require one weight per box."""
        if weight.shape != loss.shape:
            raise ValueError(
                f'CIoULoss expects weight of shape ({loss.shape[0]},), got '
                f'{tuple(weight.shape)}')
        return weight
