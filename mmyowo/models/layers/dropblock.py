"""DropBlock regularisation (paper §3.4.2, Fig. 6; Ghiasi et al., 2018)."""
import torch
import torch.nn as nn
import torch.nn.functional as F

from mmaction.registry import MODELS


@MODELS.register_module()
class DropBlock(nn.Module):
    """Drop contiguous ``block_size`` x ``block_size`` regions of a feature map.

    In training, block centres are drawn with rate ``gamma`` (eq. 1 of Ghiasi
    et al.) so that about ``drop_prob`` of the activations are dropped; the kept
    activations are rescaled by ``numel / kept``. Identity in eval mode or when
    ``drop_prob == 0``.

    Args:
        drop_prob (float): Fraction of activations to drop, in [0, 1).
        block_size (int): Side of the dropped square regions (odd).
    """

    def __init__(self, drop_prob: float = 0.1, block_size: int = 3) -> None:
        super().__init__()
        if not 0.0 <= drop_prob < 1.0:
            raise ValueError(f'drop_prob must be in [0, 1), got {drop_prob}')
        if block_size < 1 or block_size % 2 == 0:
            raise ValueError(f'block_size must be odd and >= 1, got {block_size}')
        self.drop_prob = drop_prob
        self.block_size = block_size

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Apply DropBlock to ``x`` ([B, C, H, W])."""
        if not self.training or self.drop_prob == 0.0:
            return x
        h, w = x.shape[-2:]
        bs = min(self.block_size, h, w)
        # Only centres whose block lies fully inside the map are valid seeds.
        valid = max(1, (h - bs + 1)) * max(1, (w - bs + 1))
        gamma = self.drop_prob * h * w / (bs * bs * valid)
        seeds = (torch.rand_like(x) < gamma).to(x.dtype)
        block_mask = F.max_pool2d(seeds, kernel_size=bs, stride=1,
                                  padding=bs // 2)
        if bs % 2 == 0:  # even sizes after clamping to a tiny map
            block_mask = block_mask[..., :h, :w]
        keep = 1.0 - block_mask
        return x * keep * (keep.numel() / keep.sum().clamp(min=1.0))

    def extra_repr(self) -> str:
        return f'drop_prob={self.drop_prob}, block_size={self.block_size}'
