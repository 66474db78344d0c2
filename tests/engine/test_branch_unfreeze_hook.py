from types import SimpleNamespace

import pytest
import torch
from mmaction.registry import HOOKS, MODELS
from mmengine.registry import init_default_scope

from ..models._cfgs import small_yowo_cfg
from ..models.test_yowo import make_batch


def test_schedule_of_the_paper():
    init_default_scope('mmaction')
    hook = HOOKS.build(
        dict(
            type='BranchUnfreezeHook',
            unfreeze_epochs=dict(backbone_3d=10, backbone_2d=25)))
    # 0-based epochs 0..8 = paper epochs 1..9: both frozen.
    assert hook.frozen_at(0) == {'backbone_3d', 'backbone_2d'}
    assert hook.frozen_at(8) == {'backbone_3d', 'backbone_2d'}
    assert hook.frozen_at(9) == {'backbone_2d'}
    assert hook.frozen_at(23) == {'backbone_2d'}
    assert hook.frozen_at(24) == frozenset()
    with pytest.raises(ValueError, match='int >= 1'):
        HOOKS.build(
            dict(
                type='BranchUnfreezeHook',
                unfreeze_epochs=dict(backbone_3d=0)))


def test_frozen_branches_get_no_gradient_and_keep_bn_stats():
    init_default_scope('mmaction')
    model = MODELS.build(small_yowo_cfg())
    hook = HOOKS.build(
        dict(
            type='BranchUnfreezeHook',
            unfreeze_epochs=dict(backbone_3d=2, backbone_2d=3)))
    runner = SimpleNamespace(model=model, epoch=0)
    inputs, samples = make_batch()
    data = model.data_preprocessor(
        dict(inputs=list(inputs), data_samples=samples), training=True)

    def grads_after_step():
        model.zero_grad(set_to_none=True)
        model.train()
        sum(model(**data, mode='loss').values()).backward()
        has = lambda m: any(p.grad is not None for p in m.parameters())  # noqa
        return has(model.backbone_2d), has(model.backbone_3d), has(model.neck)

    hook.before_train_epoch(runner)
    bn = next(m for m in model.backbone_3d.modules()
              if isinstance(m, torch.nn.BatchNorm3d))
    stats = bn.running_mean.clone()
    assert grads_after_step() == (False, False, True)
    assert not model.backbone_3d.training and model.neck.training
    torch.testing.assert_close(bn.running_mean, stats)
    runner.epoch = 1
    hook.before_train_epoch(runner)
    assert grads_after_step() == (False, True, True)
    runner.epoch = 2
    hook.before_train_epoch(runner)
    assert grads_after_step() == (True, True, True)
    with pytest.raises(ValueError, match='unknown branches'):
        model.freeze_branches(['head'])
