"""Give one branch its own input normalisation.

A YOWO model normalises its clips once, in its data preprocessor, and both
branches read the result. Branches pretrained in different ecosystems may
expect different inputs: mmaction's Kinetics X3D reads RGB normalised with
mean 114.75 / std 57.38, torchvision's ImageNet models RGB normalised with
ImageNet's mean / std (123.675/116.28/103.53, 58.395/57.12/57.375), and
mmdet's COCO YOLOX raw BGR pixels (0-255, no mean or std, since its
``DetDataPreprocessor`` has none).
:class:`Renormalize` maps the preprocessed key frame to what the 2D branch
was trained on, per channel ``c`` of the branch input:

``out_c = (x_s * std_in_s + mean_in_s - mean_c) / std_c``

with ``s`` the source channel (``c``, or ``2 - c`` with ``flip_channels``,
RGB <-> BGR), i.e. one multiply-add per pixel.
"""
from typing import Optional, Sequence

import torch
import torch.nn as nn


class Renormalize(nn.Module):
    """Re-normalise ``[N, 3, H, W]`` frames from one convention to another.

    The coefficients are non-persistent buffers: they follow ``.to()`` but
    are not in the state dict, so checkpoints of a model with and without
    this module have the same keys.

    Args:
        mean (sequence[float]): Per-channel mean of the branch's input, in
            the branch's channel order.
        std (sequence[float]): Per-channel std of the branch's input.
        mean_in (sequence[float], optional): Mean the frames were normalised
            with (the data preprocessor's); ``None`` for unnormalised frames.
        std_in (sequence[float], optional): Std the frames were normalised
            with; ``None`` for unnormalised frames.
        flip_channels (bool): Reverse the channel order (RGB <-> BGR).

    Example:
        >>> import torch
        >>> renorm = Renormalize(mean=[0, 0, 0], std=[1, 1, 1],
        ...                      mean_in=[100, 110, 120], std_in=[50, 50, 50],
        ...                      flip_channels=True)
        >>> frame = torch.zeros(1, 3, 1, 1)  # the mean pixel, normalised
        >>> renorm(frame).flatten().tolist()  # raw pixel values, BGR
        [120.0, 110.0, 100.0]
    """

    scale: torch.Tensor
    shift: torch.Tensor

    def __init__(self,
                 mean: Sequence[float],
                 std: Sequence[float],
                 mean_in: Optional[Sequence[float]] = None,
                 std_in: Optional[Sequence[float]] = None,
                 flip_channels: bool = False) -> None:
        super().__init__()
        mean_t = torch.as_tensor(mean, dtype=torch.float32).flatten()
        std_t = torch.as_tensor(std, dtype=torch.float32).flatten()
        channels = mean_t.numel()
        mean_in_t = torch.zeros(channels) if mean_in is None else \
            torch.as_tensor(mean_in, dtype=torch.float32).flatten()
        std_in_t = torch.ones(channels) if std_in is None else \
            torch.as_tensor(std_in, dtype=torch.float32).flatten()
        if not (std_t.numel() == mean_in_t.numel() == std_in_t.numel() ==
                channels):
            raise ValueError('mean, std, mean_in and std_in must have one '
                             f'value per channel, got {mean_t.numel()}, '
                             f'{std_t.numel()}, {mean_in_t.numel()}, '
                             f'{std_in_t.numel()}')
        if (std_t <= 0).any() or (std_in_t <= 0).any():
            raise ValueError(f'std {std_t.tolist()} and std_in '
                             f'{std_in_t.tolist()} must be positive')
        order = torch.arange(channels)
        if flip_channels:
            order = order.flip(0)
        self.flip_channels = flip_channels
        scale = std_in_t[order] / std_t
        shift = (mean_in_t[order] - mean_t) / std_t
        self.register_buffer(
            'scale', scale.reshape(1, -1, 1, 1), persistent=False)
        self.register_buffer(
            'shift', shift.reshape(1, -1, 1, 1), persistent=False)

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        """``[N, C, H, W]`` frames in, the branch's convention out."""
        if self.flip_channels:
            frames = frames.flip(1)
        return frames * self.scale + self.shift
