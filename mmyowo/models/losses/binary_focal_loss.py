"""Binary focal loss on logits (paper §3.3, eq. 7-10)."""
from typing import Optional

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

from mmaction.registry import MODELS
from .utils import check_reduction, weight_reduce_loss


def check_focal_params(alpha: float, gamma: float) -> None:
    """Raise ``ValueError`` unless ``0 <= alpha <= 1`` and ``gamma >= 0``."""
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f'focal alpha must be in [0, 1], got {alpha}')
    if gamma < 0:
        raise ValueError(f'focal gamma must be >= 0, got {gamma}')


def binary_focal_loss(logits: Tensor,
                      target: Tensor,
                      alpha: float = 0.25,
                      gamma: float = 2.0) -> Tensor:
    r"""Elementwise binary focal loss, paper eq. 8 on logits.

    .. math::
        BFL(p, g) = -\alpha (1 - p)^\gamma g \log p
                    - (1 - \alpha) p^\gamma (1 - g) \log(1 - p),
        \qquad p = \sigma(x)

    For hard targets ``g`` in {0, 1} this is the sigmoid focal loss of Lin
    et al. (eq. 7), identical to ``torchvision.ops.sigmoid_focal_loss`` and
    mmdet's ``py_sigmoid_focal_loss``. For soft targets eq. 8 is taken
    literally (each term weighted by ``g`` or ``1 - g``), whereas torchvision
    mixes ``g`` into ``p_t`` first; the two differ there.

    Numerics: the log terms are ``-log p = BCE(x, 1)`` and ``-log(1 - p) =
    BCE(x, 0)`` from ``F.binary_cross_entropy_with_logits``, and the
    modulating factors are ``(1 - p)^gamma = exp(-gamma * BCE(x, 0))`` and
    ``p^gamma = exp(-gamma * BCE(x, 1))``, so values and gradients stay
    finite for any logit and any ``gamma >= 0`` (``pow`` of a saturated
    sigmoid would give ``inf * 0`` gradients for ``gamma < 1``).

    Args:
        logits (Tensor): Logits ``x`` of any shape.
        target (Tensor): Targets ``g`` in ``[0, 1]``, same shape.
        alpha (float): Weight of the positive term; the negative term gets
            ``1 - alpha``. Paper: 0.25 for classes (eq. 9), 0.5 for the
            confidence (eq. 10).
        gamma (float): Focusing exponent. Paper: 2.

    Returns:
        Tensor: Elementwise loss, shape of ``logits``.

    Raises:
        ValueError: Different shapes, or ``alpha``/``gamma`` out of range.
    """
    if logits.shape != target.shape:
        raise ValueError('binary_focal_loss expects logits and target of the '
                         f'same shape, got {tuple(logits.shape)} and '
                         f'{tuple(target.shape)}')
    check_focal_params(alpha, gamma)
    target = target.to(logits.dtype)
    nll_pos = F.binary_cross_entropy_with_logits(
        logits, torch.ones_like(logits), reduction='none')
    nll_neg = F.binary_cross_entropy_with_logits(
        logits, torch.zeros_like(logits), reduction='none')
    pos = alpha * torch.exp(-gamma * nll_neg) * target * nll_pos
    neg = (1 - alpha) * torch.exp(-gamma * nll_pos) * (1 - target) * nll_neg
    return pos + neg


@MODELS.register_module()
class BinaryFocalLoss(nn.Module):
    """Binary focal loss module (eq. 8-10) with mmdet's weighting interface.

    Args:
        alpha (float): Positive-term weight. Defaults to 0.25.
        gamma (float): Focusing exponent. Defaults to 2.0.
        reduction (str): ``'none'``, ``'mean'`` or ``'sum'``.
            Defaults to ``'mean'``.
        loss_weight (float): Multiplier of the loss. Defaults to 1.0.
    """

    def __init__(self,
                 alpha: float = 0.25,
                 gamma: float = 2.0,
                 reduction: str = 'mean',
                 loss_weight: float = 1.0) -> None:
        super().__init__()
        check_focal_params(alpha, gamma)
        self.alpha = alpha
        self.gamma = gamma
        self.reduction = check_reduction(reduction)
        self.loss_weight = loss_weight

    def forward(self,
                pred: Tensor,
                target: Tensor,
                weight: Optional[Tensor] = None,
                avg_factor: Optional[float] = None,
                reduction_override: Optional[str] = None) -> Tensor:
        """Compute the weighted, reduced loss.

        Args:
            pred (Tensor): Logits ``(N,)`` or ``(N, C)``.
            target (Tensor): Float targets in ``[0, 1]``, same shape.
            weight (Tensor, optional): Weights broadcastable to ``pred``; a
                per-sample ``(N,)`` weight of a ``(N, C)`` loss applies to
                all ``C`` entries of the sample (as in mmdet).
            avg_factor (float, optional): Divisor of the ``'mean'``
                reduction (e.g. the number of positives).
            reduction_override (str, optional): Overrides ``reduction``.

        Returns:
            Tensor: The loss; 0 (with gradient) for an empty input and a
            ``'mean'`` reduction.
        """
        reduction = check_reduction(reduction_override or self.reduction)
        loss = binary_focal_loss(pred, target, self.alpha, self.gamma)
        if (weight is not None and loss.dim() == 2
                and weight.shape == loss.shape[:1]):
            weight = weight.unsqueeze(1)
        return self.loss_weight * weight_reduce_loss(loss, weight, reduction,
                                                     avg_factor)
