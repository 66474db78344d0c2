"""Weighting and reduction shared by the losses.

Same semantics as ``mmdet.models.losses.utils.weight_reduce_loss`` (which
cannot be imported at run time: ``mmdet.models`` needs mmcv's compiled ops),
with two fixes: a ``'mean'`` over an empty loss is 0 (connected to the graph)
instead of NaN, and bad arguments raise a ``ValueError`` naming the problem.
:class:`WeightedLoss` is the one place where a loss module applies them.
"""
from abc import ABCMeta, abstractmethod
from typing import Optional

import torch
import torch.nn as nn
from torch import Tensor

REDUCTIONS = ('none', 'mean', 'sum')


def check_reduction(reduction: str) -> str:
    """Return ``reduction`` if it is one of ``'none'``, ``'mean'``, ``'sum'``.

    Raises:
        ValueError: For any other value.
    """
    if reduction not in REDUCTIONS:
        raise ValueError(
            f'reduction must be one of {REDUCTIONS}, got {reduction!r}')
    return reduction


def reduce_loss(loss: Tensor, reduction: str) -> Tensor:
    """Reduce an elementwise loss.

    Args:
        loss (Tensor): Elementwise loss of any shape.
        reduction (str): ``'none'``, ``'mean'`` or ``'sum'``.

    Returns:
        Tensor: ``loss`` itself, its mean or its sum. The mean of an empty
        loss is 0 (``loss.sum()``), so that a batch without positives yields a
        zero loss with a valid (zero) gradient rather than NaN.
    """
    check_reduction(reduction)
    if reduction == 'none':
        return loss
    if reduction == 'sum' or loss.numel() == 0:
        return loss.sum()
    return loss.mean()


def weight_reduce_loss(loss: Tensor,
                       weight: Optional[Tensor] = None,
                       reduction: str = 'mean',
                       avg_factor: Optional[float] = None) -> Tensor:
    """Apply elementwise weights, then reduce.

    Args:
        loss (Tensor): Elementwise loss.
        weight (Tensor, optional): Weights broadcastable to ``loss.shape``
            (the broadcast must not enlarge the loss).
        reduction (str): ``'none'``, ``'mean'`` or ``'sum'``.
        avg_factor (float, optional): With ``'mean'``, divide the sum by this
            number (plus float32 eps, so 0 is safe) instead of the element
            count. Not allowed with ``'sum'``; ignored with ``'none'``.

    Returns:
        Tensor: The weighted loss, reduced as asked.

    Raises:
        ValueError: Bad ``reduction``, a weight that does not broadcast to
            ``loss.shape``, or ``avg_factor`` with ``'sum'``.
    """
    check_reduction(reduction)
    if weight is not None:
        try:
            shape = torch.broadcast_shapes(weight.shape, loss.shape)
        except RuntimeError as err:
            raise ValueError(
                f'weight of shape {tuple(weight.shape)} does not broadcast '
                f'to the loss of shape {tuple(loss.shape)}') from err
        if shape != loss.shape:
            raise ValueError(
                f'weight of shape {tuple(weight.shape)} would enlarge the '
                f'loss of shape {tuple(loss.shape)} to {tuple(shape)}')
        loss = loss * weight
    if avg_factor is None:
        return reduce_loss(loss, reduction)
    if reduction == 'sum':
        raise ValueError('avg_factor cannot be used with reduction="sum"')
    if reduction == 'mean':
        # eps keeps avg_factor == 0 (no positives anywhere) from dividing by 0.
        return loss.sum() / (avg_factor + torch.finfo(torch.float32).eps)
    return loss


class WeightedLoss(nn.Module, metaclass=ABCMeta):
    """Base of the loss modules with mmdet's weighting interface.

    mmdet's ``weighted_loss`` decorator turns an elementwise loss function
    into one that takes ``weight``, ``reduction`` and ``avg_factor``, and
    every mmdet loss module then repeats the same ``forward`` around it.
    Here that ``forward`` is written once: a subclass computes the
    elementwise loss in :meth:`elementwise_loss` and may adapt the weight's
    shape to it in :meth:`match_weight`; weighting, reduction and
    ``loss_weight`` follow :func:`weight_reduce_loss`.

    Args:
        reduction (str): ``'none'``, ``'mean'`` or ``'sum'``.
            Defaults to ``'mean'``.
        loss_weight (float): Multiplier of the loss. Defaults to 1.0.
    """

    def __init__(self,
                 reduction: str = 'mean',
                 loss_weight: float = 1.0) -> None:
        super().__init__()
        self.reduction = check_reduction(reduction)
        self.loss_weight = loss_weight

    @abstractmethod
    def elementwise_loss(self, pred: Tensor, target: Tensor) -> Tensor:
        """The unreduced loss of ``pred`` against ``target``."""

    def match_weight(self, weight: Tensor, loss: Tensor) -> Tensor:
        """Adapt ``weight`` to the elementwise ``loss`` (no change here).

        :func:`weight_reduce_loss` checks the result.
        """
        return weight

    def forward(self,
                pred: Tensor,
                target: Tensor,
                weight: Optional[Tensor] = None,
                avg_factor: Optional[float] = None,
                reduction_override: Optional[str] = None) -> Tensor:
        """Compute the weighted, reduced loss.

        Args:
            pred (Tensor): Predictions (see the subclass for the shape).
            target (Tensor): Targets of the same shape.
            weight (Tensor, optional): Elementwise weights (see the
                subclass for the shapes it accepts).
            avg_factor (float, optional): Divisor of the ``'mean'``
                reduction (e.g. the number of positives).
            reduction_override (str, optional): Overrides ``reduction``.

        Returns:
            Tensor: ``loss_weight`` times the reduced loss; 0 (with
            gradient) for an empty input and a ``'mean'`` reduction.
        """
        reduction = check_reduction(reduction_override or self.reduction)
        loss = self.elementwise_loss(pred, target)
        if weight is not None:
            weight = self.match_weight(weight, loss)
        return self.loss_weight * weight_reduce_loss(loss, weight, reduction,
                                                     avg_factor)
