"""Tests of CIoULoss (eq. 5-6) and BinaryFocalLoss (eq. 7-10) against hand
computations, torchvision and mmdet.

The shared weighting and reduction are tested in test_loss_weighting.py.
"""
import math

import numpy as np
import pytest
import torch
import torchvision
from mmaction.registry import MODELS
from mmdet.models.losses import CIoULoss as MMDetCIoULoss
from mmdet.models.losses import FocalLoss as MMDetFocalLoss
from mmdet.models.losses.focal_loss import py_sigmoid_focal_loss

from mmyowo.models.losses import (BinaryFocalLoss, CIoULoss, binary_focal_loss,
                                  ciou_loss)

# Overlapping pairs (IoU > 0.5, where mmdet's gated alpha equals Zheng's).
OVERLAP_PRED = torch.tensor([[10., 10., 50., 60.], [0., 0., 20., 10.],
                             [5., 5., 105., 55.], [30., 40., 70., 90.]])
OVERLAP_TARGET = torch.tensor([[12., 8., 52., 58.], [1., 0., 21., 11.],
                               [0., 0., 100., 60.], [28., 38., 68., 95.]])
# Various pairs: partial and zero overlap, very different aspect ratios.
MIXED_PRED = torch.tensor([[0., 0., 10., 10.], [0., 0., 40., 5.],
                           [100., 100., 110., 130.], [3., 4., 9., 30.]])
MIXED_TARGET = torch.tensor([[5., 5., 15., 15.], [10., 0., 15., 50.],
                             [0., 0., 20., 20.], [2., 2., 12., 28.]])


def ciou_reference(pred: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Eq. 5-6 written out per box pair in float64 (no eps)."""
    out = []
    for (x1, y1, x2, y2), (u1, v1, u2, v2) in zip(pred, target):
        w, h, wg, hg = x2 - x1, y2 - y1, u2 - u1, v2 - v1
        iw = max(0.0, min(x2, u2) - max(x1, u1))
        ih = max(0.0, min(y2, v2) - max(y1, v1))
        inter = iw * ih
        iou = inter / (w * h + wg * hg - inter)
        rho2 = ((x1 + x2) / 2 - (u1 + u2) / 2)**2 + ((y1 + y2) / 2 -
                                                     (v1 + v2) / 2)**2
        c2 = (max(x2, u2) - min(x1, u1))**2 + (max(y2, v2) - min(y1, v1))**2
        v = 4 / math.pi**2 * (math.atan(wg / hg) - math.atan(w / h))**2
        alpha = v / (1 - iou + v) if v > 0 else 0.0
        out.append(1 - iou + rho2 / c2 + alpha * v)
    return np.array(out)


def focal_reference(logits: np.ndarray, target: np.ndarray, alpha: float,
                    gamma: float) -> np.ndarray:
    """Eq. 8 written out in float64."""
    p = 1 / (1 + np.exp(-logits))
    return (-alpha * (1 - p)**gamma * target * np.log(p) -
            (1 - alpha) * p**gamma * (1 - target) * np.log(1 - p))


# ---------------------------------------------------------------- CIoU ----
@pytest.mark.parametrize('pred,target', [(OVERLAP_PRED, OVERLAP_TARGET),
                                         (MIXED_PRED, MIXED_TARGET)])
def test_ciou_matches_hand_computation(pred, target):
    expected = ciou_reference(pred.double().numpy(), target.double().numpy())
    got = ciou_loss(pred.double(), target.double(), eps=1e-12)
    np.testing.assert_allclose(got.numpy(), expected, rtol=1e-9, atol=1e-9)
    # Default eps in float32 changes nothing that matters.
    np.testing.assert_allclose(
        ciou_loss(pred, target).numpy(), expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize('pred,target', [(OVERLAP_PRED, OVERLAP_TARGET),
                                         (MIXED_PRED, MIXED_TARGET)])
def test_ciou_matches_torchvision(pred, target):
    expected = torchvision.ops.complete_box_iou_loss(pred.double(),
                                                     target.double())
    torch.testing.assert_close(
        ciou_loss(pred.double(), target.double()), expected)
    # Gradients coincide too (alpha is a constant in both).
    p1 = pred.double().requires_grad_()
    p2 = pred.double().requires_grad_()
    ciou_loss(p1, target.double()).sum().backward()
    torchvision.ops.complete_box_iou_loss(p2, target.double()).sum().backward()
    torch.testing.assert_close(p1.grad, p2.grad)


def test_ciou_matches_mmdet_where_alpha_coincides():
    # mmdet gates alpha with IoU > 0.5: on such pairs both must agree.
    ours = CIoULoss(eps=1e-7, reduction='none')(OVERLAP_PRED, OVERLAP_TARGET)
    theirs = MMDetCIoULoss(
        eps=1e-7, reduction='none')(OVERLAP_PRED, OVERLAP_TARGET)
    torch.testing.assert_close(ours, theirs, rtol=1e-5, atol=1e-6)
    weight = torch.tensor([1.0, 0.5, 2.0, 0.0])
    torch.testing.assert_close(
        CIoULoss(loss_weight=3.0)(
            OVERLAP_PRED, OVERLAP_TARGET, weight, avg_factor=2.5),
        MMDetCIoULoss(eps=1e-7, loss_weight=3.0)(
            OVERLAP_PRED, OVERLAP_TARGET, weight, avg_factor=2.5),
        rtol=1e-5,
        atol=1e-6)
    # With IoU < 0.5 mmdet drops the aspect term; ours keeps it (Zheng et al.)
    pred, target = torch.tensor([[0., 0., 40.,
                                  5.]]), torch.tensor([[10., 0., 15., 50.]])
    assert ciou_loss(pred, target) > MMDetCIoULoss(
        eps=1e-7, reduction='none')(pred, target) + 0.1


def test_ciou_known_values():
    box = torch.tensor([[10., 20., 30., 60.]])
    assert ciou_loss(box, box).item() == pytest.approx(0.0, abs=1e-6)
    # Same shape, disjoint, centres 20 apart horizontally: 1 + 20^2 / 40^2 +
    # (enclosing box 40 x 40 -> c^2 = 3200).
    shifted = box + torch.tensor([[20., 0., 20., 0.]])
    assert ciou_loss(box, shifted).item() == pytest.approx(1 + 400 / 3200)
    # Symmetric in its arguments.
    torch.testing.assert_close(
        ciou_loss(MIXED_PRED, MIXED_TARGET), ciou_loss(MIXED_TARGET,
                                                       MIXED_PRED))
    # Bounded in [0, 3).
    loss = ciou_loss(MIXED_PRED, MIXED_TARGET)
    assert ((loss >= 0) & (loss < 3)).all()


def test_ciou_gradient_vanishes_at_optimum():
    # At pred == target: IoU is maximal and rho = v = 0, so no term pulls.
    target = torch.tensor([[0., 0., 10., 20.]])
    pred = target.clone().requires_grad_()
    ciou_loss(pred, target).sum().backward()
    torch.testing.assert_close(
        pred.grad, torch.zeros_like(pred.grad), atol=1e-5, rtol=0)


@pytest.mark.parametrize(
    'pred,target',
    [
        ([[10., 10., 10., 20.]], [[5., 5., 15., 25.]]),  # zero width
        ([[10., 10., 30., 10.]], [[5., 5., 15., 25.]]),  # zero height
        ([[10., 10., 10., 10.]], [[10., 10., 10., 10.]]),  # identical points
        ([[10., 10., 10., 10.]], [[5., 5., 15., 25.]]),  # point vs box
        ([[5., 5., 15., 25.]], [[5., 5., 15., 25.]]),  # identical boxes
        ([[0., 0., 1., 1.]], [[1e4, 1e4, 1e4 + 2, 1e4 + 5]]),  # far apart
        ([[20., 20., 10., 10.]], [[5., 5., 15., 25.]]),  # inverted box
    ])
def test_ciou_degenerate_boxes_finite(pred, target):
    pred = torch.tensor(pred, requires_grad=True)
    loss = ciou_loss(pred, torch.tensor(target))
    loss.sum().backward()
    assert torch.isfinite(loss).all()
    assert torch.isfinite(pred.grad).all()
    assert (loss >= -1e-6).all() and (loss < 3).all()


def test_ciou_far_apart_still_pulls_together():
    pred = torch.tensor([[0., 0., 1., 1.]], requires_grad=True)
    target = torch.tensor([[100., 100., 102., 105.]])
    loss = ciou_loss(pred, target)
    loss.sum().backward()
    assert loss.item() > 1.5
    # IoU is 0 but the centre-distance term still drives the box towards the
    # target: a translation towards it (d/dx1 + d/dx2, d/dy1 + d/dy2) has a
    # negative derivative, and a loss that is lower after moving.
    assert pred.grad[0, 0] + pred.grad[0, 2] < 0
    assert pred.grad[0, 1] + pred.grad[0, 3] < 0
    moved = pred.detach() + 50.0
    assert ciou_loss(moved, target).item() < loss.item()


@pytest.mark.parametrize('reduction', ['mean', 'sum', 'none'])
def test_ciou_empty_input(reduction):
    pred = torch.zeros(0, 4, requires_grad=True)
    loss = CIoULoss(reduction=reduction)(pred, torch.zeros(0, 4))
    if reduction == 'none':
        assert loss.shape == (0, )
        return
    assert loss.item() == 0.0
    loss.backward()
    assert pred.grad.shape == (0, 4)
    # The head's use: empty positives with an avg_factor.
    loss = CIoULoss()(pred, torch.zeros(0, 4), avg_factor=1.0)
    assert loss.item() == 0.0 and loss.requires_grad


def test_ciou_half_precision():
    got = ciou_loss(MIXED_PRED.half(), MIXED_TARGET.half())
    assert got.dtype == torch.float32
    torch.testing.assert_close(
        got, ciou_loss(MIXED_PRED, MIXED_TARGET), rtol=1e-2, atol=1e-2)


def test_ciou_module_reductions_and_weights():
    elem = ciou_loss(MIXED_PRED, MIXED_TARGET)
    weight = torch.tensor([1.0, 0.0, 2.0, 0.5])
    module = CIoULoss(loss_weight=2.0)
    torch.testing.assert_close(
        module(MIXED_PRED, MIXED_TARGET), 2.0 * elem.mean())
    torch.testing.assert_close(
        module(MIXED_PRED, MIXED_TARGET, weight), 2.0 * (elem * weight).mean())
    torch.testing.assert_close(
        module(MIXED_PRED, MIXED_TARGET, weight, avg_factor=2.0),
        2.0 * (elem * weight).sum() / 2.0)
    torch.testing.assert_close(
        module(MIXED_PRED, MIXED_TARGET, reduction_override='sum'),
        2.0 * elem.sum())
    torch.testing.assert_close(
        module(MIXED_PRED, MIXED_TARGET, weight, reduction_override='none'),
        2.0 * elem * weight)
    with pytest.raises(ValueError, match='avg_factor'):
        module(
            MIXED_PRED, MIXED_TARGET, avg_factor=2.0, reduction_override='sum')
    with pytest.raises(ValueError, match='reduction'):
        module(MIXED_PRED, MIXED_TARGET, reduction_override='max')
    with pytest.raises(ValueError, match='weight'):
        module(MIXED_PRED, MIXED_TARGET, torch.ones(4, 4))
    with pytest.raises(ValueError, match='same shape'):
        module(MIXED_PRED, MIXED_TARGET[:2])
    with pytest.raises(ValueError, match=r'\(N, 4\)'):
        module(MIXED_PRED[None], MIXED_TARGET[None])
    with pytest.raises(ValueError, match='reduction'):
        CIoULoss(reduction='avg')


# -------------------------------------------------------- focal loss ----
def test_focal_matches_hand_computation_soft_targets():
    rng = np.random.default_rng(0)
    logits = rng.normal(scale=3.0, size=(6, 5))
    target = rng.uniform(size=(6, 5))
    target[0] = 1.0
    target[1] = 0.0
    for alpha, gamma in [(0.25, 2.0), (0.5, 2.0), (0.7, 0.5), (0.25, 0.0)]:
        got = binary_focal_loss(
            torch.from_numpy(logits), torch.from_numpy(target), alpha, gamma)
        np.testing.assert_allclose(
            got.numpy(),
            focal_reference(logits, target, alpha, gamma),
            rtol=1e-10,
            atol=1e-12)


@pytest.mark.parametrize('alpha,gamma', [(0.25, 2.0), (0.5, 2.0), (0.9, 1.5),
                                         (0.25, 0.0)])
def test_focal_matches_torchvision_on_hard_targets(alpha, gamma):
    torch.manual_seed(0)
    logits = torch.randn(7, 4, dtype=torch.float64) * 4
    target = (torch.rand(7, 4) > 0.6).double()
    expected = torchvision.ops.sigmoid_focal_loss(logits, target, alpha, gamma)
    torch.testing.assert_close(
        binary_focal_loss(logits, target, alpha, gamma), expected)
    l1 = logits.clone().requires_grad_()
    l2 = logits.clone().requires_grad_()
    binary_focal_loss(l1, target, alpha, gamma).sum().backward()
    torchvision.ops.sigmoid_focal_loss(l2, target, alpha,
                                       gamma).sum().backward()
    torch.testing.assert_close(l1.grad, l2.grad)


def test_focal_differs_from_torchvision_on_soft_targets():
    # Documented: eq. 8 weights each term by g / 1 - g, torchvision mixes g
    # into p_t; they must differ for g strictly between 0 and 1.
    logits = torch.tensor([0.3, -1.2], dtype=torch.float64)
    target = torch.tensor([0.4, 0.7], dtype=torch.float64)
    ours = binary_focal_loss(logits, target)
    theirs = torchvision.ops.sigmoid_focal_loss(logits, target)
    assert not torch.allclose(ours, theirs)


def test_focal_matches_mmdet_with_integer_labels():
    torch.manual_seed(0)
    num_classes = 4
    logits = torch.randn(9, num_classes) * 3
    # Label num_classes means background (all-zero one-hot) in mmdet.
    labels = torch.tensor([0, 1, 2, 3, 4, 4, 1, 0, 2])
    one_hot = torch.nn.functional.one_hot(labels, num_classes + 1)
    one_hot = one_hot[:, :num_classes].float()
    weight = torch.rand(9)
    ours = BinaryFocalLoss(alpha=0.25, gamma=2.0, loss_weight=1.5)
    theirs = MMDetFocalLoss(
        use_sigmoid=True, alpha=0.25, gamma=2.0, loss_weight=1.5)
    for kwargs in [
            dict(),
            dict(weight=weight),
            dict(weight=weight, avg_factor=3.0),
            dict(reduction_override='sum'),
            dict(weight=weight, reduction_override='none')
    ]:
        torch.testing.assert_close(
            ours(logits, one_hot, **kwargs), theirs(logits, labels, **kwargs))
    torch.testing.assert_close(
        binary_focal_loss(logits, one_hot, 0.5, 2.0),
        py_sigmoid_focal_loss(
            logits, one_hot, alpha=0.5, gamma=2.0, reduction='none'))


@pytest.mark.parametrize('gamma', [0.0, 0.5, 2.0])
def test_focal_extreme_logits_finite(gamma):
    logits = torch.tensor([-200., -30., 0., 30., 200.], requires_grad=True)
    for target in (torch.ones(5), torch.zeros(5), torch.full((5, ), 0.5)):
        loss = binary_focal_loss(logits, target, 0.25, gamma)
        (grad, ) = torch.autograd.grad(loss.sum(), logits)
        assert torch.isfinite(loss).all() and torch.isfinite(grad).all()
    # A confident mistake costs about |logit| scaled by alpha, not inf.
    loss = binary_focal_loss(torch.tensor([-200.]), torch.ones(1), 0.25, gamma)
    assert loss.item() == pytest.approx(0.25 * 200.0)


def test_focal_is_bce_times_alpha_for_gamma_zero():
    logits = torch.tensor([-2.0, 0.5, 3.0])
    target = torch.tensor([1.0, 0.0, 1.0])
    bce = torch.nn.functional.binary_cross_entropy_with_logits(
        logits, target, reduction='none')
    alpha_t = torch.tensor([0.25, 0.75, 0.25])
    torch.testing.assert_close(
        binary_focal_loss(logits, target, 0.25, 0.0), alpha_t * bce)


def test_focal_module_reductions_and_weights():
    torch.manual_seed(1)
    logits = torch.randn(5, 3)
    target = (torch.rand(5, 3) > 0.5).float()
    elem = binary_focal_loss(logits, target, 0.5, 2.0)
    module = BinaryFocalLoss(alpha=0.5, loss_weight=2.0)
    w_sample = torch.tensor([1.0, 0.0, 0.5, 2.0, 1.0])
    torch.testing.assert_close(module(logits, target), 2.0 * elem.mean())
    # A per-sample weight applies to every class of the sample.
    torch.testing.assert_close(
        module(logits, target, w_sample),
        2.0 * (elem * w_sample[:, None]).mean())
    w_full = torch.rand(5, 3)
    torch.testing.assert_close(
        module(logits, target, w_full, avg_factor=4.0),
        2.0 * (elem * w_full).sum() / 4.0)
    torch.testing.assert_close(
        module(logits, target, reduction_override='none'), 2.0 * elem)
    # 1-D logits (the confidence branch) with a (N,) weight.
    torch.testing.assert_close(
        module(logits[:, 0], target[:, 0], w_sample, avg_factor=2.0),
        2.0 * (elem[:, 0] * w_sample).sum() / 2.0)
    with pytest.raises(ValueError, match='same shape'):
        module(logits, target[:, :2])
    with pytest.raises(ValueError, match='weight'):
        module(logits, target, torch.ones(4))
    with pytest.raises(ValueError, match='alpha'):
        BinaryFocalLoss(alpha=1.5)
    with pytest.raises(ValueError, match='gamma'):
        BinaryFocalLoss(gamma=-1.0)


@pytest.mark.parametrize('shape', [(0, ), (0, 3)])
def test_focal_empty_input(shape):
    logits = torch.zeros(shape, requires_grad=True)
    target = torch.zeros(shape)
    module = BinaryFocalLoss()
    for kwargs in [
            dict(),
            dict(avg_factor=1.0),
            dict(reduction_override='sum')
    ]:
        loss = module(logits, target, **kwargs)
        assert loss.item() == 0.0
        (grad, ) = torch.autograd.grad(loss, logits)
        assert grad.shape == shape


def test_losses_are_registered():
    assert isinstance(MODELS.build(dict(type='CIoULoss')), CIoULoss)
    focal = MODELS.build(dict(type='BinaryFocalLoss', alpha=0.5, gamma=2.0))
    assert isinstance(focal, BinaryFocalLoss) and focal.alpha == 0.5
