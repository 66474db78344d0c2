"""The weighting and reduction shared by the losses: ``weight_reduce_loss``
and the one ``forward`` of every loss module, ``WeightedLoss``."""
import pytest
import torch

from mmyowo.models.losses import (BinaryFocalLoss, CIoULoss, WeightedLoss,
                                  weight_reduce_loss)


def test_weight_reduce_loss_rules():
    loss = torch.tensor([1.0, 2.0, 3.0])
    assert weight_reduce_loss(loss).item() == pytest.approx(2.0)
    assert weight_reduce_loss(loss, torch.tensor([1.0, 0.0, 1.0]),
                              'sum').item() == pytest.approx(4.0)
    # avg_factor 0 (no positives) must not divide by zero.
    assert weight_reduce_loss(loss, avg_factor=0.0).isfinite()
    assert weight_reduce_loss(loss, avg_factor=3.0, reduction='none') is loss
    with pytest.raises(ValueError, match='enlarge'):
        weight_reduce_loss(loss, torch.ones(2, 3))


def test_weighted_loss_is_the_one_forward_of_every_loss():
    """A new elementwise loss gets mmdet's weighting interface from
    WeightedLoss alone; the shipped losses use the same forward."""

    class L1Loss(WeightedLoss):

        def elementwise_loss(self, pred, target):
            return (pred - target).abs()

    pred, target = torch.tensor([0., 2., 3.]), torch.tensor([1., 1., 1.])
    loss = L1Loss(loss_weight=2.0)
    # |pred - target| = 1, 1, 2.
    assert loss(pred, target).item() == pytest.approx(2.0 * 4 / 3)
    weight = torch.tensor([1., 0., 1.])
    assert loss(pred, target, weight).item() == pytest.approx(2.0 * 3 / 3)
    assert loss(
        pred, target, weight,
        avg_factor=2.0).item() == pytest.approx(2.0 * 3 / 2)
    torch.testing.assert_close(
        loss(pred, target, reduction_override='none'),
        torch.tensor([2., 2., 4.]))
    assert L1Loss(reduction='sum')(pred, target).item() == pytest.approx(4.0)
    with pytest.raises(ValueError, match='reduction'):
        L1Loss(reduction='avg')
    with pytest.raises(TypeError):
        WeightedLoss()  # abstract: no elementwise loss
    assert CIoULoss.forward is WeightedLoss.forward
    assert BinaryFocalLoss.forward is WeightedLoss.forward
