"""Export-time rewrites: the same function, written with ops the runtimes run
fast.

Mish (the CSPDarknet53 2D branch's activation, YOLOv4) exports from PyTorch
as ``Softplus``, ``Tanh`` and ``Mul``. onnxruntime's CPU kernels for
``Softplus`` and ``Tanh`` are slow, and its NCHWc layout transformer cannot
keep them in the blocked layout, so every Mish costs a layout conversion
(148 in the base model's key-frame graph). Written with one ``Sigmoid``
instead (:class:`SigmoidMish`), the function is the same and the graph runs
in the blocked layout: on the base model, one thread, 224x224, the
key-frame graph takes 219 ms instead of 362 ms (PyTorch eager: 341 ms) and
the per-frame graph 671 ms instead of 817 ms (eager: 904 ms).

X3D's depthwise 3D convolutions (the fast variant's 3D branch) run in
onnxruntime's generic 3D path (im2col per group, 432 groups at most), which
is slower than PyTorch's. On a short clip the same convolution is a grouped
2D convolution over the clip's frames stacked as channels
(:class:`BandedDepthwiseConv3d`), which onnxruntime runs fast: the fast
variant's 3D graph (4 frames, 224x224, one thread) takes 74 ms instead of
116 ms (PyTorch eager: about 100 ms).

The rewrites are applied to a copy (:func:`export_copy`); the model passed
in is left as it is.
"""
import copy
from typing import TypeGuard

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor


class SigmoidMish(nn.Module):
    """Mish, ``x * tanh(softplus(x))``, written with one sigmoid.

    With ``s = sigmoid(x)``, ``1 + e^x = 1 / (1 - s)``, so

    ``tanh(softplus(x)) = ((1 + e^x)^2 - 1) / ((1 + e^x)^2 + 1)
    = s (2 - s) / (1 + (1 - s)^2)``.

    The identity is exact; in float32 it differs from ``torch.nn.Mish`` by a
    few units in the last place. It stays finite where Mish is: for large
    ``x`` ``s`` rounds to 1 and the factor to 1; for very negative ``x`` the
    factor tends to ``s``, as ``tanh(softplus(x))`` does.
    """

    def forward(self, x: Tensor) -> Tensor:
        """``x * s (2 - s) / (1 + (1 - s)^2)``, ``s = sigmoid(x)``."""
        s = x.sigmoid()
        rest = 1 - s
        return x * (s * (1 + rest)) / (1 + rest * rest)


def banded_weight(weight: Tensor, frames: int, padding: int) -> Tensor:
    """The grouped 2D weight of a depthwise 3D convolution over ``frames``
    frames stacked as channels.

    Output frame ``t`` of channel ``c`` reads input frames ``t + d -
    padding`` (``d < kt``, inside the clip; the zero padding contributes
    nothing) with the taps ``weight[c, 0, d]``: per channel a banded
    ``T' x T`` matrix of 2D kernels, ``T' = T + 2 padding - kt + 1``.

    Args:
        weight (Tensor): ``[C, 1, kt, kh, kw]`` depthwise weight.
        frames (int): Input frames ``T`` (temporal stride 1).
        padding (int): Temporal zero padding on each side.

    Returns:
        Tensor: ``[C * T', T, kh, kw]``, for ``groups = C``.
    """
    channels, _, taps, height, width = weight.shape
    zero = weight.new_zeros(channels, height, width)
    rows = []
    for t in range(frames + 2 * padding - taps + 1):
        row = [zero] * frames
        for d in range(taps):
            source = t + d - padding
            if 0 <= source < frames:
                row[source] = weight[:, 0, d]
        rows.append(torch.stack(row, 1))
    return torch.stack(rows, 1).reshape(channels * len(rows), frames, height,
                                        width)


class BandedDepthwiseConv3d(nn.Module):
    """A depthwise ``nn.Conv3d`` with temporal stride 1 run as a grouped 2D
    convolution over the frames stacked as channels.

    ``[N, C, T, H, W]`` is viewed as ``[N, C * T, H, W]`` (no copy); group
    ``c`` maps channel ``c``'s ``T`` frames to its ``T'`` output frames with
    :func:`banded_weight`. The products are those of the 3D convolution
    plus products with zero weights, so the result is the same up to
    float rounding order. It costs ``T / kt`` times the 3D convolution's
    multiply-adds, so it is used only for ``T <= max_ratio * kt`` (longer
    clips run the 3D convolution as it is).

    Args:
        conv (nn.Conv3d): The convolution (shares its parameters).
        max_ratio (float): Largest ``T / kt`` written as a 2D convolution.
    """

    def __init__(self, conv: nn.Conv3d, max_ratio: float = 2.0) -> None:
        super().__init__()
        self.conv = conv
        self.max_ratio = max_ratio

    @staticmethod
    def applies(module: nn.Module) -> TypeGuard[nn.Conv3d]:
        """Whether ``module`` is a depthwise 3D convolution this rewrite
        reproduces: groups = in = out channels, temporal stride and dilation
        1, zero padding."""
        return (isinstance(module, nn.Conv3d)
                and module.groups == module.in_channels == module.out_channels
                and module.stride[0] == 1 and module.dilation[0] == 1
                and module.padding_mode == 'zeros'
                and isinstance(module.padding, tuple))

    def forward(self, x: Tensor) -> Tensor:
        """``[N, C, T, H, W]`` -> the 3D convolution's output."""
        conv = self.conv
        batch, channels, frames, height, width = x.shape
        # The exported graphs have a fixed clip length: the branch taken
        # here is fixed with it.
        frames = int(frames)
        if frames > self.max_ratio * conv.kernel_size[0]:
            return conv(x)
        weight = banded_weight(conv.weight, frames, int(conv.padding[0]))
        y = F.conv2d(
            x.reshape(batch, channels * frames, height, width), weight, None,
            conv.stride[1:], conv.padding[1:], conv.dilation[1:], channels)
        y = y.reshape(batch, channels, -1, y.shape[-2], y.shape[-1])
        if conv.bias is not None:
            y = y + conv.bias.view(1, -1, 1, 1, 1)
        return y


def export_copy(model: nn.Module) -> nn.Module:
    """A deep copy of ``model`` with every ``nn.Mish`` replaced by
    :class:`SigmoidMish` and every depthwise ``nn.Conv3d`` wrapped in
    :class:`BandedDepthwiseConv3d`; ``model`` itself is not changed."""
    exported = copy.deepcopy(model)
    for module in list(exported.modules()):
        for name, child in list(module.named_children()):
            if isinstance(child, nn.Mish):
                setattr(module, name, SigmoidMish())
            elif BandedDepthwiseConv3d.applies(child):
                setattr(module, name, BandedDepthwiseConv3d(child))
    # Not ``return exported.eval()``: some modules' ``train`` (mmaction's
    # X3D) returns None.
    exported.eval()
    return exported
