"""Inputs that mypy found unchecked (an ``Optional`` used as a value, an
un-narrowed union) now get a clear error where they enter, not a crash deep
inside torch or numpy, or a lazy one at the first frame."""
import numpy as np
import pytest
import torch
import torch.nn as nn
from mmaction.registry import MODELS
from mmengine.registry import init_default_scope

from mmyowo.apis.preprocessing import preprocessor_normalization
from mmyowo.apis.video_reader import iter_frames
from mmyowo.models.necks import I3DNeck, STMFusionFPN
from mmyowo.preparation.synthetic import build_ground_truth
from mmyowo.preparation.synthetic_scene import SyntheticConfig, SyntheticObject
from .models._cfgs import small_yowo_cfg


def small_neck(in_channels_3d=64):
    return STMFusionFPN(
        in_channels_2d=(16, 32, 64),
        in_channels_3d=in_channels_3d,
        out_channels=(8, 16, 32)).eval()


def feats_2d():
    return [
        torch.rand(1, 16, 8, 8),
        torch.rand(1, 32, 4, 4),
        torch.rand(1, 64, 2, 2)
    ]


def test_fuse_without_the_3d_map_names_it():
    """``fuse`` (public: the streaming detector calls it) used to hand ``None``
    to the pixel shuffle (a TypeError inside torch)."""
    with pytest.raises(ValueError, match='feat_3d=None'):
        small_neck().fuse(feats_2d(), None)


def test_2d_only_fuse_ignores_a_3d_map():
    """A 2D-only neck fuses the 2D levels alone, with or without a map."""
    neck = small_neck(in_channels_3d=0)
    feats = feats_2d()
    with torch.no_grad():
        alone = neck.fuse(feats, None)
        given = neck.fuse(feats, torch.rand(1, 64, 2, 2))
        expected = [convs(x) for x, convs in zip(feats, neck.fuse_convs)]
    for a, b, c in zip(alone, given, expected):
        torch.testing.assert_close(a, c)
        torch.testing.assert_close(b, c)


def test_i3d_neck_refuses_what_is_not_a_tensor():
    """An array (or any non-tensor) used to fail at ``x.dim()`` with an
    AttributeError."""
    with pytest.raises(TypeError, match='I3DNeck expects a tensor.*ndarray'):
        I3DNeck(4)(np.zeros((1, 4, 2, 3, 3), np.float32))
    with pytest.raises(TypeError, match='got ndarray'):
        I3DNeck(4)([np.zeros((1, 4, 2, 3, 3), np.float32)])


@pytest.mark.parametrize('mode', ['loss', 'predict'])
def test_yowo_loss_and_predict_need_data_samples(mode):
    """Without samples the head used to fail deep inside (no ground truth, no
    metas); ``mode='tensor'`` still takes the last frame."""
    init_default_scope('mmaction')
    model = MODELS.build(small_yowo_cfg(with_3d=False))
    inputs = torch.rand(1, 3, 2, 64, 64)
    with pytest.raises(ValueError, match=f"mode='{mode}' needs data_samples"):
        model(inputs, None, mode=mode)
    maps = model(inputs, None, mode='tensor')
    assert [tuple(m.shape[-2:]) for m in maps] == [(8, 8), (4, 4), (2, 2)]


def test_preprocessor_with_mean_but_no_std_is_refused():
    """Normalising with a mean and no std used to fail with an AttributeError
    on ``None``."""
    half = nn.Module()
    half.register_buffer('mean', torch.tensor([1., 2., 3.]))
    half.std = None
    with pytest.raises(ValueError, match='Module has a mean but no std'):
        preprocessor_normalization(half)
    full = nn.Module()
    full.mean, full.std = torch.tensor([1., 2., 3.]), torch.tensor([2.] * 3)
    mean, std, to_rgb = preprocessor_normalization(full)
    assert mean.shape == std.shape == (3, 1, 1) and to_rgb is False


def test_iter_frames_refuses_a_bool_at_once():
    """``True`` is an ``int`` to Python but no camera index: it used to fail
    only at the first frame, with "'bool' object is not iterable"."""
    with pytest.raises(
            TypeError, match='camera index or an iterable of '
            'frames, got True'):
        iter_frames(True)


def test_synthetic_actor_without_action_span_is_named():
    """An actor (labelled object) needs its action span for its tube; the
    ground-truth builder used to fail unpacking ``None``."""
    actor = SyntheticObject(
        appearance=None, boxes=np.zeros((4, 4)), label=1, action=None)
    with pytest.raises(
            ValueError, match='vid: an actor of class 1 has no action span'):
        build_ground_truth({'vid': [actor]}, {'train': ['vid']},
                           SyntheticConfig())
