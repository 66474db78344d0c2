"""Export-time rewrites (mmyowo/deploy/export_ops.py): the same function."""
import numpy as np
import pytest
import torch
import torch.nn as nn

from mmyowo.deploy.export_ops import (BandedDepthwiseConv3d, SigmoidMish,
                                      banded_weight, export_copy)
from mmyowo.models.backbones import CSPDarknet53


def reference_mish(x: np.ndarray) -> np.ndarray:
    """``x * tanh(softplus(x))`` in float64, softplus written stably."""
    softplus = np.maximum(x, 0) + np.log1p(np.exp(-np.abs(x)))
    return x * np.tanh(softplus)


def test_sigmoid_mish_is_mish():
    x64 = np.concatenate([
        np.linspace(-110, 110, 200001),
        [-1e4, -89.0, -30.0, 0.0, 1e-30, 30.0, 1e4, 3e38]
    ])
    # Relative tolerance, and an absolute one of 1e-35 in float32: for
    # x < -87 the sigmoid itself is subnormal (under 1.2e-38), so the outputs
    # there (|mish(x)| < 1e-35) lose precision or flush to zero.
    for dtype, rtol, atol in ((torch.float64, 1e-12, 0.0), (torch.float32,
                                                            2e-6, 1e-35)):
        x = torch.from_numpy(x64).to(dtype)
        ref = reference_mish(x.double().numpy())
        out = SigmoidMish()(x).double().numpy()
        assert np.isfinite(out).all()
        assert (np.abs(out - ref) <= rtol * np.abs(ref) + atol).all(), dtype
    # As close to torch's own Mish as torch's Mish is to the reference.
    x = torch.linspace(-20, 20, 100001)
    ours = (
        SigmoidMish()(x).double().numpy() - reference_mish(x.double().numpy()))
    torchs = nn.Mish()(x).double().numpy() - reference_mish(x.double().numpy())
    assert np.abs(ours).max() <= 4 * np.abs(torchs).max()


def test_export_copy_replaces_mish_in_a_copy():
    torch.manual_seed(0)
    model = CSPDarknet53(deepen_factor=0.33, widen_factor=0.125).eval()
    num_mish = sum(isinstance(m, nn.Mish) for m in model.modules())
    assert num_mish > 10
    copy = export_copy(model)
    assert not any(isinstance(m, nn.Mish) for m in copy.modules())
    assert sum(isinstance(m, SigmoidMish) for m in copy.modules()) == num_mish
    # The original is untouched and shares no parameter with the copy.
    assert sum(isinstance(m, nn.Mish) for m in model.modules()) == num_mish
    assert not {p.data_ptr()
                for p in model.parameters()
                } & {p.data_ptr()
                     for p in copy.parameters()}
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        for a, b in zip(model(x), copy(x)):
            torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize(
    'kernel,stride,padding,frames,bias',
    [
        ((3, 3, 3), (1, 1, 1), (1, 1, 1), 4, False),  # X3D's conv2
        ((3, 3, 3), (1, 2, 2), (1, 1, 1), 4, True),  # its strided blocks
        ((5, 1, 1), (1, 1, 1), (2, 0, 0), 4, False),  # X3D's conv1_t
        ((3, 3, 3), (1, 1, 1), (0, 1, 1), 5, False),  # no temporal padding
        ((3, 3, 3), (1, 1, 1), (1, 1, 1), 1, False),  # a single frame
    ])
def test_banded_depthwise_conv3d_is_the_conv3d(kernel, stride, padding, frames,
                                               bias):
    torch.manual_seed(0)
    conv = nn.Conv3d(
        6, 6, kernel, stride, padding, groups=6, bias=bias).double()
    x = torch.randn(2, 6, frames, 9, 10, dtype=torch.float64)
    banded = BandedDepthwiseConv3d(conv)
    with torch.no_grad():
        expected = conv(x)
        torch.testing.assert_close(banded(x), expected, rtol=1e-12, atol=1e-12)


def test_banded_weight_layout():
    """Output frame t of a channel reads input frame t + d - padding with tap
    d: the weight of group c is banded."""
    weight = torch.arange(1., 7.).reshape(2, 1, 3, 1, 1)  # taps 1 2 3, 4 5 6
    band = banded_weight(weight, frames=4, padding=1)[:, :, 0, 0]
    assert band.shape == (8, 4)
    assert band[:4].tolist() == [[2, 3, 0, 0], [1, 2, 3, 0], [0, 1, 2, 3],
                                 [0, 0, 1, 2]]
    assert band[4:].tolist() == [[5, 6, 0, 0], [4, 5, 6, 0], [0, 4, 5, 6],
                                 [0, 0, 4, 5]]


def test_banded_depthwise_conv3d_scope():
    """Only depthwise convolutions with temporal stride and dilation 1 are
    rewritten; long clips (more than ``max_ratio`` x the temporal kernel) keep
    the 3D convolution, which costs fewer multiply-adds there."""
    applies = BandedDepthwiseConv3d.applies
    assert applies(nn.Conv3d(4, 4, 3, padding=1, groups=4))
    assert not applies(nn.Conv3d(4, 4, 3, padding=1, groups=2))
    assert not applies(nn.Conv3d(4, 8, 3, padding=1, groups=4))
    assert not applies(nn.Conv3d(4, 4, 3, stride=(2, 1, 1), groups=4))
    assert not applies(nn.Conv3d(4, 4, 3, dilation=(2, 1, 1), groups=4))
    assert not applies(nn.Conv3d(4, 4, 3, padding='same', groups=4))
    assert not applies(
        nn.Conv3d(4, 4, 3, padding=1, groups=4, padding_mode='circular'))
    conv = nn.Conv3d(4, 4, 3, padding=1, groups=4)
    banded = BandedDepthwiseConv3d(conv, max_ratio=2)
    calls = []
    conv.register_forward_hook(lambda *args: calls.append(1))
    with torch.no_grad():
        for frames, runs_3d in ((6, False), (7, True)):
            calls.clear()
            x = torch.randn(1, 4, frames, 5, 5)
            torch.testing.assert_close(banded(x), conv(x))
            assert len(calls) == 1 + runs_3d


def test_export_copy_bands_x3d_depthwise_convs():
    from mmaction.models.backbones import X3D
    torch.manual_seed(0)
    model = X3D(gamma_w=1, gamma_b=2.25, gamma_d=2.2)
    model.eval()
    depthwise = [
        m for m in model.modules() if BandedDepthwiseConv3d.applies(m)
    ]
    assert len(depthwise) > 10
    copy = export_copy(model)
    assert sum(isinstance(m, BandedDepthwiseConv3d)
               for m in copy.modules()) == len(depthwise)
    x = torch.randn(1, 3, 4, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(copy(x), model(x), rtol=1e-5, atol=1e-5)
