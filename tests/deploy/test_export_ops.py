"""Export-time rewrites (mmyowo/deploy/export_ops.py): the same function."""
import numpy as np
import torch
import torch.nn as nn

from mmyowo.deploy.export_ops import SigmoidMish, export_copy
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
