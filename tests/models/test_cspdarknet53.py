import pytest
import torch
from mmaction.registry import MODELS
from mmengine.registry import DefaultScope
from torch.nn.modules.batchnorm import _BatchNorm

from mmyowo.models.backbones import CSPDarknet53
from mmyowo.models.backbones.cspdarknet53 import scale_channels, scale_depth


@pytest.fixture(scope='module')
def full_model():
    torch.manual_seed(0)
    return CSPDarknet53()


def _batch_norms(module):
    return [m for m in module.modules() if isinstance(m, _BatchNorm)]


def test_full_width_layout_and_shapes(full_model):
    assert [len(s.blocks) for s in full_model.stages] == [1, 2, 8, 8, 4]
    assert full_model.stem.conv.out_channels == 32
    assert [s.conv_transition.conv.out_channels
            for s in full_model.stages] == [64, 128, 256, 512, 1024]
    # First stage: expansion to 2x its width, full-width blocks with a 1/2
    # bottleneck; later stages: expansion to 1x, half-width blocks.
    first, third = full_model.stages[0], full_model.stages[2]
    assert first.conv_exp.conv.out_channels == 128
    assert first.blocks[0].conv1.conv.out_channels == 32
    assert third.conv_exp.conv.out_channels == 256
    assert third.blocks[0].conv1.conv.in_channels == 128
    assert third.blocks[0].conv1.conv.out_channels == 128
    assert full_model.stem.activate.__class__.__name__ == 'Mish'
    assert full_model.out_channels == [256, 512, 1024]
    assert full_model.out_strides == [8, 16, 32]

    outs = full_model.eval()(torch.randn(1, 3, 64, 64))
    assert isinstance(outs, tuple)
    assert [tuple(o.shape) for o in outs] == [(1, 256, 8, 8), (1, 512, 4, 4),
                                              (1, 1024, 2, 2)]


def test_small_variant_scales_depth_and_width():
    model = CSPDarknet53(
        deepen_factor=0.33, widen_factor=0.25,
        out_indices=(0, 1, 2, 3, 4)).eval()
    assert [len(s.blocks) for s in model.stages] == [1, 1, 3, 3, 1]
    assert model.stem.conv.out_channels == 8
    assert model.out_channels == [16, 32, 64, 128, 256]
    assert model.out_strides == [2, 4, 8, 16, 32]
    outs = model(torch.randn(2, 3, 64, 96))
    assert [tuple(o.shape) for o in outs
            ] == [(2, c, 64 // s, 96 // s)
                  for c, s in zip(model.out_channels, model.out_strides)]


def test_scale_helpers():
    assert [scale_depth(n, 0.33) for n in (1, 2, 8, 4)] == [1, 1, 3, 1]
    assert scale_depth(8, 1.0) == 8
    assert scale_channels(1024, 0.25) == 256
    assert scale_channels(32, 0.125) == 4


def test_forward_is_stage_composition():
    """Outputs chain: each returned map is the next stage's input."""
    torch.manual_seed(0)
    model = CSPDarknet53(deepen_factor=0.33, widen_factor=0.125).eval()
    x = torch.randn(1, 3, 32, 32)
    with torch.no_grad():
        p8, p16, p32 = model(x)
        y = model.stem(x)
        for stage in model.stages[:3]:
            y = stage(y)
        torch.testing.assert_close(p8, y)
        torch.testing.assert_close(p16, model.stages[3](p8))
        torch.testing.assert_close(p32, model.stages[4](p16))


def test_cross_stage_split_and_merge():
    """A CSP stage sends the first half of the expansion around the blocks and
    the second half through them (checked against a manual pass)."""
    torch.manual_seed(0)
    stage = CSPDarknet53(
        deepen_factor=0.33, widen_factor=0.125).stages[1].eval()
    x = torch.randn(1, stage.conv_down.conv.in_channels, 8, 8)
    with torch.no_grad():
        exp = stage.conv_exp(stage.conv_down(x))
        half = exp.shape[1] // 2
        main = exp[:, half:]
        for block in stage.blocks:
            main = main + block.conv2(block.conv1(main))
        expected = stage.conv_transition(
            torch.cat([exp[:, :half],
                       stage.conv_transition_b(main)], dim=1))
        torch.testing.assert_close(stage(x), expected)


def test_build_from_registries():
    cfg = dict(type='CSPDarknet53', deepen_factor=0.33, widen_factor=0.125)
    with DefaultScope.overwrite_default_scope('mmaction'):
        model = MODELS.build(cfg)
    assert isinstance(model, CSPDarknet53)
    assert model.out_channels == [32, 64, 128]

    from mmdet.registry import MODELS as MMDET_MODELS
    with DefaultScope.overwrite_default_scope('mmdet'):
        model = MMDET_MODELS.build(
            dict(
                cfg,
                type='mmaction.CSPDarknet53',
                act_cfg=dict(type='LeakyReLU', negative_slope=0.1)))
    assert isinstance(model, CSPDarknet53)
    assert isinstance(model.stem.activate, torch.nn.LeakyReLU)
    assert model.stem.activate.negative_slope == 0.1


@pytest.mark.parametrize('frozen_stages', [0, 2, 5])
def test_frozen_stages(frozen_stages):
    model = CSPDarknet53(
        deepen_factor=0.33, widen_factor=0.125, frozen_stages=frozen_stages)
    model.train()
    frozen = [model.stem, *model.stages[:frozen_stages]]
    trainable = list(model.stages[frozen_stages:])
    for module in frozen:
        assert all(not p.requires_grad for p in module.parameters())
        assert all(not bn.training for bn in _batch_norms(module))
    for module in trainable:
        assert all(p.requires_grad for p in module.parameters())
        assert all(bn.training for bn in _batch_norms(module))
    # Frozen BN statistics do not move in a training forward pass.
    frozen_stats = [
        bn.running_mean.clone() for m in frozen for bn in _batch_norms(m)
    ]
    model(torch.randn(2, 3, 32, 32))
    after = [bn.running_mean for m in frozen for bn in _batch_norms(m)]
    for before_, after_ in zip(frozen_stats, after):
        assert torch.equal(before_, after_)


def test_no_frozen_stages_by_default():
    model = CSPDarknet53(deepen_factor=0.33, widen_factor=0.125).train()
    assert all(p.requires_grad for p in model.parameters())
    assert all(bn.training for bn in _batch_norms(model))


def test_norm_eval_keeps_bn_in_eval_but_trainable():
    model = CSPDarknet53(
        deepen_factor=0.33, widen_factor=0.125, norm_eval=True)
    model.train()
    assert model.training
    assert all(not bn.training for bn in _batch_norms(model))
    assert all(p.requires_grad for p in model.parameters())
    stats = [bn.running_var.clone() for bn in _batch_norms(model)]
    outs = model(torch.randn(2, 3, 32, 32))
    sum(o.sum() for o in outs).backward()
    assert model.stem.conv.weight.grad is not None
    for before, bn in zip(stats, _batch_norms(model)):
        assert torch.equal(before, bn.running_var)
    # eval() -> train(False) also works with norm_eval.
    model.eval()
    assert not model.training


def test_invalid_arguments():
    with pytest.raises(ValueError, match='out_indices'):
        CSPDarknet53(out_indices=(2, 5))
    with pytest.raises(ValueError, match='out_indices'):
        CSPDarknet53(out_indices=())
    with pytest.raises(ValueError, match='frozen_stages'):
        CSPDarknet53(frozen_stages=6)
    with pytest.raises(ValueError, match='widen_factor'):
        CSPDarknet53(widen_factor=0.01)
    with pytest.raises(ValueError, match='widen_factor'):
        CSPDarknet53(widen_factor=0)
    # int(512 * 0.3) = 153 channels cannot be split into two CSP halves.
    with pytest.raises(ValueError, match='even channel'):
        CSPDarknet53(widen_factor=0.3)
