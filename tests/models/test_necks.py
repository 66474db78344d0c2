import pytest
import torch
from mmaction.registry import MODELS
from mmengine.registry import init_default_scope

from mmyowo.models.necks import (I3DNeck, ScaleTransfer, STMFusionFPN,
                                 TemporalPoolNeck)


def test_i3d_neck_collapses_time():
    x = torch.randn(2, 16, 4, 7, 7)
    torch.testing.assert_close(I3DNeck(16)(x), x.mean(dim=2))
    torch.testing.assert_close(
        I3DNeck(16, temporal_pool='max')([x]), x.amax(dim=2))
    torch.testing.assert_close(
        I3DNeck(16, temporal_pool='last')(x), x[:, :, 3])
    with pytest.raises(ValueError, match="'avg', 'max' or 'last'"):
        I3DNeck(16, temporal_pool='first')
    projected = I3DNeck(16, out_channels=32)(x)
    assert projected.shape == (2, 32, 7, 7)
    with pytest.raises(ValueError, match=r'\[B, C, T, H, W\]'):
        I3DNeck(16)(torch.randn(2, 16, 7, 7))


def test_temporal_pool_neck_is_the_same_neck():
    """``TemporalPoolNeck`` names what ``I3DNeck`` does, for any 3D
    backbone: both names build the same module."""
    init_default_scope('mmaction')
    assert TemporalPoolNeck is I3DNeck
    neck = MODELS.build(
        dict(type='TemporalPoolNeck', in_channels=8, temporal_pool='max'))
    assert isinstance(neck, I3DNeck)
    # An X3D-like output: odd time length, non-square map.
    x = torch.randn(1, 8, 3, 5, 4)
    torch.testing.assert_close(neck(x), x.amax(dim=2))


def test_scale_transfer_is_parameter_free_and_lossless():
    stm = ScaleTransfer(4)
    assert sum(p.numel() for p in stm.parameters()) == 0
    x = torch.randn(2, 32, 3, 3)
    y = stm(x)
    assert y.shape == (2, 2, 12, 12)
    torch.testing.assert_close(torch.nn.functional.pixel_unshuffle(y, 4), x)
    # Every r x r patch holds the r^2 channels of one source pixel.
    torch.testing.assert_close(y[0, 0, :4, :4].flatten(), x[0, :16, 0, 0])


@pytest.mark.parametrize('c3d', [64, 0])
def test_stm_fusion_fpn_shapes(c3d):
    init_default_scope('mmaction')
    neck = MODELS.build(
        dict(
            type='STMFusionFPN',
            in_channels_2d=(8, 16, 32),
            in_channels_3d=c3d,
            out_channels=(8, 16, 32),
            drop_block_cfg=dict(drop_prob=0.1)))
    feats = [
        torch.randn(2, 8, 16, 16),
        torch.randn(2, 16, 8, 8),
        torch.randn(2, 32, 4, 4)
    ]
    feat_3d = torch.randn(2, c3d, 4, 4) if c3d else None
    outs = neck(feats, feat_3d)
    assert [tuple(o.shape) for o in outs] == [(2, 8, 16, 16), (2, 16, 8, 8),
                                              (2, 32, 4, 4)]


def test_stm_fusion_fpn_uses_the_3d_map_at_every_level():
    torch.manual_seed(0)
    neck = STMFusionFPN(
        in_channels_2d=(8, 16, 32),
        in_channels_3d=64,
        out_channels=(8, 16, 32),
        drop_block_cfg=None).eval()
    feats = [
        torch.randn(1, 8, 16, 16),
        torch.randn(1, 16, 8, 8),
        torch.randn(1, 32, 4, 4)
    ]
    feat_3d = torch.randn(1, 64, 4, 4)
    fused_a = neck.fuse(feats, feat_3d)
    fused_b = neck.fuse(feats, feat_3d + 1.0)
    for a, b in zip(fused_a, fused_b):
        assert not torch.allclose(a, b)


def test_stm_fusion_fpn_validates_arguments():
    with pytest.raises(ValueError, match='not divisible'):
        STMFusionFPN(in_channels_3d=100)
    neck = STMFusionFPN(
        in_channels_2d=(8, 16, 32),
        in_channels_3d=64,
        out_channels=(8, 16, 32))
    with pytest.raises(ValueError, match='feat_3d=None'):
        neck([
            torch.randn(1, 8, 16, 16),
            torch.randn(1, 16, 8, 8),
            torch.randn(1, 32, 4, 4)
        ])


def test_stm_fusion_fpn_reports_size_mismatch():
    neck = STMFusionFPN(
        in_channels_2d=(8, 16, 32),
        in_channels_3d=64,
        out_channels=(8, 16, 32))
    # A 112x112 input: the 2D levels are 14/7/4, the 3D map 4 -> 16/8/4.
    with pytest.raises(ValueError, match='multiples of 32'):
        neck([
            torch.randn(1, 8, 14, 14),
            torch.randn(1, 16, 7, 7),
            torch.randn(1, 32, 4, 4)
        ], torch.randn(1, 64, 4, 4))
