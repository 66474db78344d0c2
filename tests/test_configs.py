"""Every leaf config under ``configs/`` loads and builds, and says what its
comments and the README say it does (paper §4.1 schedules, clip lengths,
the synthetic recipe)."""
import glob
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmengine.optim import build_optim_wrapper
from mmengine.registry import init_default_scope

from mmaction.registry import (DATASETS, HOOKS, METRICS, MODELS,
                               PARAM_SCHEDULERS, TRANSFORMS)

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
LEAF_CONFIGS = sorted(
    osp.basename(p) for p in glob.glob(osp.join(REPO, 'configs', '*.py')))
REAL = {'yowo_plus_ucf24.py': 24, 'yowo_plus_8f_ucf24.py': 24,
        'yowo_plus_jhmdb21.py': 21, 'yowo_plus_8f_jhmdb21.py': 21}


def load(name: str) -> Config:
    return Config.fromfile(osp.join(REPO, 'configs', name))


def pipelines(cfg: Config):
    return {split: cfg[f'{split}_dataloader'].dataset.pipeline
            for split in ('train', 'val', 'test')}


def clip_len_of(pipeline) -> int:
    (sampler, ) = [t for t in pipeline if t['type'] == 'KFRSampleFrames']
    return sampler['clip_len']


def test_leaf_configs_are_the_documented_ones():
    assert set(REAL) | {'yowo_plus_synthetic.py',
                        'yowo_plus_synthetic_2d.py'} == set(LEAF_CONFIGS)


@pytest.mark.parametrize('name', LEAF_CONFIGS)
def test_config_builds(name):
    cfg = load(name)
    assert cfg.default_scope == 'mmaction'
    assert cfg.custom_imports == dict(imports=['mmyowo'],
                                      allow_failed_imports=False)
    init_default_scope('mmaction')
    model = MODELS.build(cfg.model)
    assert sum(p.numel() for p in model.parameters()) > 0
    for split, pipeline in pipelines(cfg).items():
        for transform in pipeline:
            assert TRANSFORMS.build(transform) is not None, (split,
                                                             transform)
        assert DATASETS.get(cfg[f'{split}_dataloader'].dataset.type)
    for split in ('val', 'test'):
        metric = METRICS.build(cfg[f'{split}_evaluator'])
        assert metric.ann_file == cfg[f'{split}_dataloader'].dataset.ann_file
    for hook in cfg.get('custom_hooks', []):
        HOOKS.build(hook)
    optim_wrapper = build_optim_wrapper(model, cfg.optim_wrapper)
    for scheduler in cfg.param_scheduler:
        PARAM_SCHEDULERS.build(
            dict(scheduler, optimizer=optim_wrapper.optimizer))


@pytest.mark.parametrize('name', sorted(REAL))
def test_real_data_configs_follow_section_4_1(name):
    cfg = load(name)
    assert cfg.model.bbox_head.head_module.num_classes == REAL[name]
    assert cfg.optim_wrapper.optimizer == dict(
        type='SGD', lr=1e-4, momentum=0.937, weight_decay=5e-4)
    (hook, ) = cfg.custom_hooks
    assert hook.type == 'BranchUnfreezeHook'
    # The 3D branch is unfrozen before the 2D branch, both within training.
    epochs = hook.unfreeze_epochs
    assert 1 < epochs['backbone_3d'] < epochs['backbone_2d'] \
        <= cfg.train_cfg.max_epochs
    # Both backbones start from pretrained weights.
    assert cfg.model.backbone_3d.init_cfg.type == 'Pretrained'
    assert cfg.model.backbone_2d.init_cfg.type == 'Pretrained'
    expected_clip = 8 if '_8f_' in name else 16
    for pipeline in pipelines(cfg).values():
        assert clip_len_of(pipeline) == expected_clip


@pytest.mark.parametrize('dataset', ['ucf24', 'jhmdb21'])
def test_8_frame_variants_change_only_the_clip_length(dataset):
    full = load(f'yowo_plus_{dataset}.py')
    short = load(f'yowo_plus_8f_{dataset}.py')
    for split in ('train', 'val', 'test'):
        a = full[f'{split}_dataloader']
        b = short[f'{split}_dataloader']
        pa, pb = a.dataset.pop('pipeline'), b.dataset.pop('pipeline')
        assert a == b
        assert [t['type'] for t in pa] == [t['type'] for t in pb]
        for ta, tb in zip(pa, pb):
            if ta['type'] == 'KFRSampleFrames':
                ta, tb = dict(ta), dict(tb)
                assert (ta.pop('clip_len'), tb.pop('clip_len')) == (16, 8)
            assert ta == tb
    assert full.model == short.model
    assert full.optim_wrapper == short.optim_wrapper


def test_synthetic_recipe():
    cfg = load('yowo_plus_synthetic.py')
    max_epochs = cfg.train_cfg.max_epochs
    # The cosine schedule ends with training and the only validation is the
    # last epoch (README: "Results on the synthetic set").
    (cosine, ) = [s for s in cfg.param_scheduler
                  if s.type == 'CosineAnnealingLR']
    assert cosine.end == max_epochs
    assert cfg.train_cfg.val_begin == max_epochs
    assert cfg.model.bbox_head.loss_cls.loss_weight == 4.0
    assert cfg.model.bbox_head.head_module.num_classes == 4
    # No flip: it would turn move_left into move_right.
    for pipeline in pipelines(cfg).values():
        assert 'Flip' not in [t['type'] for t in pipeline]
    init_default_scope('mmaction')
    model = MODELS.build(cfg.model)
    assert 1.0e6 < sum(p.numel() for p in model.parameters()) < 1.5e6


def test_synthetic_2d_ablation_only_removes_the_3d_branch():
    full = load('yowo_plus_synthetic.py').to_dict()
    ablation = load('yowo_plus_synthetic_2d.py').to_dict()
    model_full, model_2d = full.pop('model'), ablation.pop('model')
    assert full == ablation
    assert model_2d['backbone_3d'] is None and model_2d['neck_3d'] is None
    assert model_2d['neck']['in_channels_3d'] == 0
    assert ({k: v for k, v in model_full['neck'].items()
             if k != 'in_channels_3d'} ==
            {k: v for k, v in model_2d['neck'].items()
             if k != 'in_channels_3d'})
    others = ('backbone_3d', 'neck_3d', 'neck')
    assert ({k: v for k, v in model_full.items() if k not in others} ==
            {k: v for k, v in model_2d.items() if k not in others})
    init_default_scope('mmaction')
    model = MODELS.build(model_2d)
    out = model(torch.zeros(1, 3, 8, 128, 128), mode='tensor')
    assert [tuple(x.shape[-2:]) for x in out] == [(16, 16), (8, 8), (4, 4)]


@pytest.mark.parametrize('name', LEAF_CONFIGS)
def test_pipelines_pack_the_keys_the_model_needs(name):
    """YOWO.loss / predict raise without ``key_frame_index`` and (rescaling)
    without ``scale_factor`` / ``ori_shape``: every shipped pipeline samples
    with KFRS, resizes and packs all three."""
    for split, pipeline in pipelines(load(name)).items():
        types = [t['type'] for t in pipeline]
        assert 'KFRSampleFrames' in types and 'Resize' in types, split
        (pack, ) = [t for t in pipeline if t['type'] == 'PackActionInputs']
        assert {'key_frame_index', 'scale_factor', 'ori_shape'} <= set(
            pack['meta_keys']), (split, pack['meta_keys'])
