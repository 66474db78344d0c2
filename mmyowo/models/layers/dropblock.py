"""DropBlock regularisation (paper §3.4.2, Fig. 6; Ghiasi et al., 2018)."""
from functools import lru_cache

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from mmaction.registry import MODELS


def _coverage(size: int, block_size: int) -> np.ndarray:
    """How many valid block positions cover each index of one axis.

    A block starts at ``s`` in ``[0, size - block_size]`` and covers
    ``s .. s + block_size - 1``; index ``i`` is covered by the starts in
    ``[max(0, i - block_size + 1), min(i, size - block_size)]``.
    """
    i = np.arange(size)
    return (np.minimum(i, size - block_size) -
            np.maximum(0, i - block_size + 1) + 1)


def expected_drop_fraction(gamma: float, height: int, width: int,
                           block_size: int) -> float:
    """Expected fraction of a ``height`` x ``width`` map that DropBlock zeroes
    when every valid block position is a seed with rate ``gamma``.

    Position ``p`` survives when none of the ``n(p)`` seeds whose block
    covers it fires: ``P(kept) = (1 - gamma) ** n(p)``, with ``n(p)`` the
    product of the per-axis coverages (:func:`_coverage`).
    """
    counts = (
        _coverage(height, block_size)[:, None] *
        _coverage(width, block_size)[None, :])
    return float(1.0 - np.mean((1.0 - gamma)**counts))


@lru_cache(maxsize=256)
def seed_rate(drop_prob: float, height: int, width: int,
              block_size: int) -> float:
    """Seed rate ``gamma`` that drops ``drop_prob`` of the map on average.

    Ghiasi et al. (eq. 1) set ``gamma = drop_prob / block_size**2 *
    (h * w) / ((h - block_size + 1) * (w - block_size + 1))``, which counts
    overlapping blocks twice and so drops a little less than ``drop_prob``
    (0.095 for 0.1 with 3x3 blocks on 7x7 to 28x28 maps, 0.093 with 7x7
    blocks on 14x14). Here the expected fraction
    (:func:`expected_drop_fraction`) is solved for ``gamma`` exactly; it
    rises monotonically from 0 at ``gamma = 0`` to 1 at ``gamma = 1`` (every
    position lies in at least one valid block), so bisection converges.
    """
    low, high = 0.0, 1.0
    for _ in range(60):
        mid = (low + high) / 2
        if expected_drop_fraction(mid, height, width, block_size) < drop_prob:
            low = mid
        else:
            high = mid
    return (low + high) / 2


@MODELS.register_module()
class DropBlock(nn.Module):
    """Drop contiguous ``block_size`` x ``block_size`` regions of a map.

    In training, blocks are seeded only at the positions where the whole
    block lies inside the map, each independently with rate ``gamma``
    (:func:`seed_rate`: Ghiasi et al.'s eq. 1 corrected for overlapping
    blocks) so that the expected fraction of dropped activations equals
    ``drop_prob`` on any map size (seeding every position of the map with
    eq. 1's rate instead drops 15% for 10% on a 7x7 map with 3x3 blocks:
    eq. 1 expects seeds at the valid positions only, 25 of the 49). The
    kept activations are rescaled by ``numel / kept``. Identity in eval mode
    or when ``drop_prob == 0``. Maps smaller than the block use a block of
    the map's smaller side.

    Args:
        drop_prob (float): Expected fraction of activations to drop, in
            [0, 1).
        block_size (int): Side of the dropped square regions (odd).
    """

    def __init__(self, drop_prob: float = 0.1, block_size: int = 3) -> None:
        super().__init__()
        if not 0.0 <= drop_prob < 1.0:
            raise ValueError(f'drop_prob must be in [0, 1), got {drop_prob}')
        if block_size < 1 or block_size % 2 == 0:
            raise ValueError(
                f'block_size must be odd and >= 1, got {block_size}')
        self.drop_prob = drop_prob
        self.block_size = block_size

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Apply DropBlock to ``x`` ([B, C, H, W])."""
        if not self.training or self.drop_prob == 0.0:
            return x
        h, w = x.shape[-2:]
        bs = min(self.block_size, h, w)
        gamma = seed_rate(self.drop_prob, h, w, bs)
        # One seed per valid top-left corner; max-pooling the seeds padded
        # by bs - 1 on every side spreads each into its bs x bs block.
        seeds = torch.rand((*x.shape[:-2], h - bs + 1, w - bs + 1),
                           device=x.device) < gamma
        block_mask = F.max_pool2d(
            F.pad(seeds.to(x.dtype), (bs - 1, ) * 4), kernel_size=bs, stride=1)
        keep = 1.0 - block_mask
        return x * keep * (keep.numel() / keep.sum().clamp(min=1.0))

    def extra_repr(self) -> str:
        """The arguments shown by ``repr``."""
        return f'drop_prob={self.drop_prob}, block_size={self.block_size}'
