"""Every leaf config under ``configs/`` loads and builds, and says what its
comments, ``configs/README.md`` and the README say it does (paper §4.1
schedules, clip lengths, the synthetic recipe), and the configs follow the
OpenMMLab layout: mmaction's runtime inherited, one staged schedule, 8-frame
variants that change only the clip length."""
import ast
import glob
import os.path as osp

import pytest
import torch
from mmaction.registry import (DATASETS, HOOKS, METRICS, MODELS,
                               PARAM_SCHEDULERS, TRANSFORMS)
from mmengine.config import Config
from mmengine.optim import build_optim_wrapper
from mmengine.registry import init_default_scope
from mmengine.utils import get_installed_path

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
LEAF_CONFIGS = sorted(
    osp.basename(p) for p in glob.glob(osp.join(REPO, 'configs', '*.py')))
# Configs with pretrained branches and the §4.1 schedule: classes per config.
REAL = {
    'yowo_plus_ucf24.py': 24,
    'yowo_plus_8f_ucf24.py': 24,
    'yowo_plus_jhmdb21.py': 21,
    'yowo_plus_8f_jhmdb21.py': 21,
    'yowo_plus_ava_v2.2.py': 80,
    'yowo_plus_8f_ava_v2.2.py': 80,
    'yowo_plus_custom_template.py': 3,
    'yowo_plus_tiny_ucf24.py': 24,
    'yowo_plus_tiny_8f_ucf24.py': 24,
    'yowo_plus_tiny_jhmdb21.py': 21,
    'yowo_plus_tiny_8f_jhmdb21.py': 21,
    'yowo_plus_tiny_ava_v2.2.py': 80,
    'yowo_plus_tiny_8f_ava_v2.2.py': 80,
}
SYNTHETIC = {
    'yowo_plus_synthetic.py', 'yowo_plus_synthetic_2d.py',
    'yowo_plus_synthetic_kflast.py', 'yowo_plus_synthetic_live.py'
}
# Per dataset: epochs, the (1-based) epochs whose lr is half the previous
# one's, and the epochs from which the 3D / 2D branch train. J-HMDB-21:
# §4.1; UCF101-24: the README's choice (§4.1 gives only J-HMDB's halvings);
# AVA: the comment of yowo_plus_ava_v2.2.py. The template keeps UCF's.
SCHEDULES = {
    'ucf24': (20, (5, 10, 15, 18), 5, 15),
    'jhmdb21': (40, (10, 18, 25, 35), 10, 25),
    'ava_v2.2': (6, (3, 4, 5), 2, 4),
    'custom_template': (20, (5, 10, 15, 18), 5, 15),
}
WITH_8_FRAMES = ('ucf24', 'jhmdb21', 'ava_v2.2')
HOST_RUNTIME = osp.join(
    get_installed_path('mmaction2'), '.mim', 'configs', '_base_',
    'default_runtime.py')
OUR_RUNTIME = osp.join(REPO, 'configs', '_base_', 'default_runtime.py')


def load(name: str) -> Config:
    return Config.fromfile(osp.join(REPO, 'configs', name))


def pipelines(cfg: Config):
    return {
        split: cfg[f'{split}_dataloader'].dataset.pipeline
        for split in ('train', 'val', 'test')
    }


def clip_len_of(pipeline) -> int:
    (sampler, ) = [t for t in pipeline if t['type'] == 'KFRSampleFrames']
    return sampler['clip_len']


def test_leaf_configs_are_the_documented_ones():
    assert set(REAL) | SYNTHETIC == set(LEAF_CONFIGS)
    # The model-zoo page has a table row for every leaf config.
    with open(osp.join(REPO, 'configs', 'README.md'), encoding='utf-8') as f:
        rows = [line for line in f if line.startswith('|')]
    for name in LEAF_CONFIGS:
        assert sum(f'({name})' in row for row in rows) == 1, name


def test_runtime_sets_only_what_differs_from_mmaction():
    """``default_runtime.py`` inherits mmaction2's runtime and assigns only
    what differs from it, so mmaction's defaults reach every config."""
    with open(OUR_RUNTIME, encoding='utf-8') as f:
        source = f.read()
    own: dict = {}
    exec(compile(ast.parse(source), OUR_RUNTIME, 'exec'), own)
    assert own['_base_'] == 'mmaction::_base_/default_runtime.py'
    host = Config.fromfile(HOST_RUNTIME).to_dict()

    def repeated(ours, theirs, path=()):
        """Paths whose value in ``ours`` equals the host's."""
        if isinstance(ours, dict) and isinstance(theirs, dict):
            return [
                p for k, v in ours.items() if k in theirs
                for p in repeated(v, theirs[k], path + (k, ))
            ]
        return [path] if ours == theirs else []

    own = {
        k: v
        for k, v in own.items() if not k.startswith('__') and k != '_base_'
    }
    assert repeated(own, host) == []
    # What mmyowo adds on top of mmaction's runtime.
    assert own['custom_imports'] == dict(
        imports=['mmyowo'], allow_failed_imports=False)
    assert own['model_wrapper_cfg']['find_unused_parameters'] is True


def without_scope(cfg):
    """A config dict without the ``_scope_`` keys mmengine adds to entries
    inherited from another package (``mmaction::``)."""
    if isinstance(cfg, dict):
        return {k: without_scope(v) for k, v in cfg.items() if k != '_scope_'}
    if isinstance(cfg, (list, tuple)):
        return type(cfg)(without_scope(v) for v in cfg)
    return cfg


@pytest.mark.parametrize('name', LEAF_CONFIGS)
def test_leaf_configs_keep_the_runtime(name, tmp_path, monkeypatch):
    # Loaded by path from elsewhere, as mim does: mmaction:: still resolves.
    monkeypatch.chdir(tmp_path)
    cfg = without_scope(load(name).to_dict())
    host = Config.fromfile(HOST_RUNTIME).to_dict()
    for key in ('env_cfg', 'log_processor', 'visualizer', 'log_level'):
        assert cfg[key] == host[key], key
    hooks = cfg['default_hooks']
    for key, hook in host['default_hooks'].items():
        if key not in ('checkpoint', 'logger'):
            assert hooks[key] == hook, key
    assert hooks['checkpoint']['type'] == 'AtomicCheckpointHook'
    # mmaction's logger settings, in the hook safe under several processes.
    assert hooks['logger']['type'] == 'MainProcessLoggerHook'
    assert hooks['logger']['ignore_last'] == host['default_hooks']['logger'][
        'ignore_last']
    assert hooks['checkpoint_fit'] == dict(type='CheckpointFitHook')
    assert cfg['model_wrapper_cfg'] == dict(
        type='MMDistributedDataParallel', find_unused_parameters=True)


@pytest.mark.parametrize('name', LEAF_CONFIGS)
def test_pipelines_are_a_clip_sampler_and_transforms(name):
    """Every pipeline is the config's KFRS sampler with its ``clip_len``
    followed by its transforms, in every dataloader."""
    cfg = load(name)
    assert cfg.train_clip_sampler.type == 'KFRSampleFrames'
    assert cfg.train_clip_sampler.clip_len == cfg.clip_len
    assert cfg.test_clip_sampler == dict(
        cfg.train_clip_sampler, test_mode=True)
    assert cfg.train_pipeline == [
        cfg.train_clip_sampler, *cfg.train_transforms
    ]
    assert cfg.test_pipeline == [cfg.test_clip_sampler, *cfg.test_transforms]
    assert cfg.train_dataloader.dataset.pipeline == cfg.train_pipeline
    assert cfg.val_dataloader.dataset.pipeline == cfg.test_pipeline
    assert cfg.test_dataloader.dataset.pipeline == cfg.test_pipeline


def dataset_of(name: str) -> str:
    return name[len('yowo_plus_'):-len('.py')].replace('8f_', '').replace(
        'tiny_', '')


@pytest.mark.parametrize('name', sorted(REAL))
def test_staged_schedule_of_each_dataset(name):
    """One schedule file; each dataset's epochs, lr halvings and unfreezing
    epochs, checked against the lr the real scheduler gives per epoch."""
    cfg = load(name)
    max_epochs, halvings, epoch_3d, epoch_2d = SCHEDULES[dataset_of(name)]
    assert cfg.train_cfg.max_epochs == max_epochs
    # The templates the schedule file offers are what the runner gets.
    assert cfg.param_scheduler == [cfg.lr_halving]
    assert cfg.custom_hooks == [cfg.branch_unfreeze]
    assert cfg.branch_unfreeze.unfreeze_epochs == dict(
        backbone_3d=epoch_3d, backbone_2d=epoch_2d)

    init_default_scope('mmaction')
    optim_wrapper = build_optim_wrapper(
        torch.nn.Linear(1, 1), cfg.optim_wrapper)
    (scheduler, ) = [
        PARAM_SCHEDULERS.build(dict(s, optimizer=optim_wrapper))
        for s in cfg.param_scheduler
    ]
    for epoch in range(1, max_epochs + 1):
        # ParamSchedulerHook steps by-epoch schedulers after each epoch.
        halved = sum(h <= epoch for h in halvings)
        assert optim_wrapper.get_lr()['lr'][0] == pytest.approx(
            1e-4 * 0.5**halved), epoch
        scheduler.step()


@pytest.mark.parametrize('dataset', WITH_8_FRAMES)
def test_tiny_variants_differ_from_the_base_ones_in_the_model_only(dataset):
    """Same data, schedule and dataset-specific head settings (classes,
    anchors, test settings) as the base model's config; other branches, fusion
    neck and head widths."""
    base = load(f'yowo_plus_{dataset}.py').to_dict()
    tiny = load(f'yowo_plus_tiny_{dataset}.py').to_dict()
    model_base, model_tiny = base.pop('model'), tiny.pop('model')
    for cfg in (base, tiny):
        # Names of the model files' checkpoint URLs.
        for key in [k for k in cfg if k.endswith('_ckpt')]:
            cfg.pop(key)
    assert base == tiny
    head_base, head_tiny = model_base['bbox_head'], model_tiny['bbox_head']
    assert head_tiny['head_module'].pop('in_channels') == (48, 96, 192)
    head_base['head_module'].pop('in_channels')
    head_base['head_module'].pop('se_ratio')
    head_tiny['head_module'].pop('se_ratio')
    assert head_base == head_tiny
    assert model_tiny['backbone_2d']['type'] == 'TorchvisionBackbone'
    assert model_tiny['backbone_3d']['type'] == 'X3D'


def test_one_schedule_for_all_real_datasets():
    """UCF101-24 and J-HMDB-21 differ only in the schedule's parameters."""
    ucf, jhmdb = load('yowo_plus_ucf24.py'), load('yowo_plus_jhmdb21.py')
    for key in ('optim_wrapper', 'val_cfg', 'test_cfg', 'auto_scale_lr'):
        assert ucf[key] == jhmdb[key], key
    for cfg in (ucf, jhmdb):
        cfg.train_cfg.pop('max_epochs')
        cfg.lr_halving.pop('milestones')
        cfg.branch_unfreeze.pop('unfreeze_epochs')
    for key in ('train_cfg', 'lr_halving', 'branch_unfreeze'):
        assert ucf[key] == jhmdb[key], key


@pytest.mark.parametrize('name', LEAF_CONFIGS)
def test_config_builds(name):
    cfg = load(name)
    assert cfg.default_scope == 'mmaction'
    assert cfg.custom_imports == dict(
        imports=['mmyowo'], allow_failed_imports=False)
    init_default_scope('mmaction')
    model = MODELS.build(cfg.model)
    assert sum(p.numel() for p in model.parameters()) > 0
    for split, pipeline in pipelines(cfg).items():
        for transform in pipeline:
            assert TRANSFORMS.build(transform) is not None, (split, transform)
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


@pytest.mark.parametrize('variant', ('', 'tiny_'))
@pytest.mark.parametrize('dataset', WITH_8_FRAMES)
def test_8_frame_variants_change_only_the_clip_length(dataset, variant):
    full = load(f'yowo_plus_{variant}{dataset}.py').to_dict()
    short = load(f'yowo_plus_{variant}8f_{dataset}.py').to_dict()
    for cfg in (full, short):
        # The pipelines are checked against these parts above.
        for key in ('train_pipeline', 'test_pipeline'):
            cfg.pop(key)
        for split in ('train', 'val', 'test'):
            cfg[f'{split}_dataloader']['dataset'].pop('pipeline')
    assert full.pop('clip_len') == 16 and short.pop('clip_len') == 8
    for key in ('train_clip_sampler', 'test_clip_sampler'):
        assert full.pop(key) == dict(short.pop(key), clip_len=16)
    assert full == short


def test_synthetic_recipe():
    cfg = load('yowo_plus_synthetic.py')
    max_epochs = cfg.train_cfg.max_epochs
    # The cosine schedule ends with training and the only validation is the
    # last epoch (README: "Results on the synthetic set").
    (cosine, ) = [
        s for s in cfg.param_scheduler if s.type == 'CosineAnnealingLR'
    ]
    assert cosine.end == max_epochs
    assert cfg.train_cfg.val_begin == max_epochs
    assert cfg.model.bbox_head.loss_cls.loss_weight == 4.0
    assert cfg.model.bbox_head.head_module.num_classes == 4
    # Its narrow 3D convolutions train faster channels-last on the CPU.
    assert cfg.model.train_channels_last_3d is True
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
    assert ({
        k: v
        for k, v in model_full['neck'].items() if k != 'in_channels_3d'
    } == {
        k: v
        for k, v in model_2d['neck'].items() if k != 'in_channels_3d'
    })
    others = ('backbone_3d', 'neck_3d', 'neck')
    assert ({
        k: v
        for k, v in model_full.items() if k not in others
    } == {
        k: v
        for k, v in model_2d.items() if k not in others
    })
    init_default_scope('mmaction')
    model = MODELS.build(model_2d)
    out = model(torch.zeros(1, 3, 8, 128, 128), mode='tensor')
    assert [tuple(x.shape[-2:]) for x in out] == [(16, 16), (8, 8), (4, 4)]


def test_synthetic_key_frame_last_ablation_only_changes_the_sampler():
    full = load('yowo_plus_synthetic.py').to_dict()
    ablation = load('yowo_plus_synthetic_kflast.py').to_dict()
    for split in ('train', 'val', 'test'):
        pipeline_full = full[f'{split}_dataloader']['dataset']['pipeline']
        pipeline = ablation[f'{split}_dataloader']['dataset']['pipeline']
        assert pipeline[0] == dict(pipeline_full[0], key_frame_position='last')
        assert pipeline[1:] == pipeline_full[1:]
    samplers = ('train_clip_sampler', 'test_clip_sampler', 'train_pipeline',
                'test_pipeline', 'train_dataloader', 'val_dataloader',
                'test_dataloader')
    assert ({
        k: v
        for k, v in full.items() if k not in samplers
    } == {
        k: v
        for k, v in ablation.items() if k not in samplers
    })
    for key in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        full[key]['dataset'].pop('pipeline')
        ablation[key]['dataset'].pop('pipeline')
        assert full[key] == ablation[key]


def test_synthetic_live_recipe_changes_stride_epochs_and_key_frames():
    kflast = load('yowo_plus_synthetic_kflast.py').to_dict()
    live = load('yowo_plus_synthetic_live.py').to_dict()
    assert kflast['model']['backbone_3d']['conv1_stride_t'] == 2
    assert live['model']['backbone_3d'].pop('conv1_stride_t') == 1
    kflast['model']['backbone_3d'].pop('conv1_stride_t')
    # 8 epochs, validated at the last, the cosine schedule ending there.
    assert (kflast['max_epochs'], live['max_epochs']) == (3, 8)
    assert live['train_cfg'] == dict(
        kflast['train_cfg'], max_epochs=8, val_begin=8)
    (warmup, cosine), (kf_warmup, kf_cosine) = (live['param_scheduler'],
                                                kflast['param_scheduler'])
    assert warmup == kf_warmup and cosine == dict(kf_cosine, end=8)
    # The annotated key frames widened by 3 frames on each side.
    assert live['train_dataloader']['dataset'].pop('key_frame_margin') == 3
    assert 'key_frame_margin' not in kflast['train_dataloader']['dataset']
    for name in ('max_epochs', 'train_cfg', 'param_scheduler'):
        live.pop(name)
        kflast.pop(name)
    assert live == kflast


@pytest.mark.parametrize('name', LEAF_CONFIGS)
def test_pipelines_pack_the_keys_the_model_needs(name):
    """YOWO.loss / predict raise without ``key_frame_index`` and (rescaling)
    without ``scale_factor`` / ``ori_shape``: every shipped pipeline samples
    with KFRS, resizes and packs all three."""
    for split, pipeline in pipelines(load(name)).items():
        types = [t['type'] for t in pipeline]
        assert 'KFRSampleFrames' in types and 'Resize' in types, split
        (pack, ) = [t for t in pipeline if t['type'] == 'PackActionInputs']
        assert {'key_frame_index', 'scale_factor', 'ori_shape'
                } <= set(pack['meta_keys']), (split, pack['meta_keys'])
