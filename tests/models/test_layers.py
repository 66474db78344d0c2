import numpy as np
import pytest
import torch

from mmyowo.models.layers import DropBlock, SELayer
from mmyowo.models.layers.dropblock import expected_drop_fraction, seed_rate


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


@pytest.mark.parametrize('size,block_size', [(7, 3), (14, 3), (28, 3), (14, 7),
                                             (28, 7)])
def test_dropblock_drops_drop_prob_on_small_maps(size, block_size):
    # The neck's maps at 224x224 are 28, 14 and 7 wide. Averaged over about
    # a million activations the dropped fraction must be drop_prob (the old
    # seeding over the whole map dropped 0.149 at 7x7 and 0.209 with 7x7
    # blocks on 14x14).
    torch.manual_seed(0)
    drop = DropBlock(drop_prob=0.1, block_size=block_size).train()
    x = torch.ones(10**6 // size**2, 1, size, size)
    dropped = (drop(x) == 0).float().mean().item()
    assert dropped == pytest.approx(0.1, abs=0.01)


def _zero_pixels_covered_by_inner_blocks(zeros, block_size):
    """Whether every zero is inside some all-zero block within the map."""
    h, w = zeros.shape
    covered = np.zeros_like(zeros)
    for y in range(h - block_size + 1):
        for x in range(w - block_size + 1):
            window = zeros[y:y + block_size, x:x + block_size]
            if window.all():
                covered[y:y + block_size, x:x + block_size] = True
    return bool((covered == zeros).all())


def test_dropblock_blocks_lie_inside_the_map():
    torch.manual_seed(1)
    drop = DropBlock(drop_prob=0.3, block_size=3).train()
    y = drop(torch.ones(64, 1, 7, 7))
    zeros = (y[:, 0] == 0).numpy()
    assert zeros.any()
    # A block seeded at the border would leave a 2x2 or 2x3 corner patch
    # that no full 3x3 block inside the map explains.
    assert all(_zero_pixels_covered_by_inner_blocks(z, 3) for z in zeros)


@pytest.mark.parametrize('size,block_size', [(7, 3), (9, 5), (6, 6)])
def test_expected_drop_fraction_matches_enumeration(size, block_size):
    # Brute force: count, for each pixel, the valid blocks covering it.
    counts = np.zeros((size, size))
    for y in range(size - block_size + 1):
        for x in range(size - block_size + 1):
            counts[y:y + block_size, x:x + block_size] += 1
    gamma = 0.07
    expected = 1 - np.mean((1 - gamma)**counts)
    assert expected_drop_fraction(gamma, size, size, block_size) == \
        pytest.approx(expected, rel=1e-12)
    # The solved rate reaches drop_prob exactly in expectation.
    rate = seed_rate(0.1, size, size, block_size)
    assert 1 - np.mean((1 - rate)**counts) == pytest.approx(0.1, abs=1e-9)
