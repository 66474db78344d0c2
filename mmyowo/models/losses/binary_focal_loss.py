"""Binary focal loss on logits (paper §3.3, eq. 7-10)."""
import torch
import torch.nn.functional as F
from mmaction.registry import MODELS
from torch import Tensor

from .utils import WeightedLoss


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
class BinaryFocalLoss(WeightedLoss):
    """Binary focal loss module (eq. 8-10) with mmdet's weighting interface.

    ``forward(pred, target, weight=None, avg_factor=None,
    reduction_override=None)`` (:class:`WeightedLoss`) takes logits ``(N,)``
    or ``(N, C)``, float targets in ``[0, 1]`` of the same shape, and
    weights broadcastable to the logits; a per-sample ``(N,)`` weight of a
    ``(N, C)`` loss applies to all ``C`` entries of the sample (as in mmdet).

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
        super().__init__(reduction, loss_weight)
        check_focal_params(alpha, gamma)
        self.alpha = alpha
        self.gamma = gamma

    def elementwise_loss(self, pred: Tensor, target: Tensor) -> Tensor:
        """:func:`binary_focal_loss` of the logits ``pred``."""
        return binary_focal_loss(pred, target, self.alpha, self.gamma)

    def match_weight(self, weight: Tensor, loss: Tensor) -> Tensor:
        """Spread a per-sample weight over the classes of a 2-D loss."""
        if loss.dim() == 2 and weight.shape == loss.shape[:1]:
            return weight.unsqueeze(1)
        return weight
