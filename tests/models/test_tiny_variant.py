"""YOWO-Plus tiny (configs/_base_/models/yowo_plus_tiny*.py): mmdet's
YOLOX-tiny CSPDarknet + mmaction's X3D-S.

The model-zoo checkpoints (stand-ins in the zoos' real layouts, built from the
zoo configs shipped in mmdet and mmaction) load in full through the real
configs; other architectures are refused; the model trains and predicts on 8-
and 16-frame clips; each branch reads the input its zoo weights were trained
on.
"""
import copy
import os.path as osp

import pytest
import torch
from mmaction.registry import MODELS
from mmengine.config import Config
from mmengine.registry import init_default_scope

from ._pretrained_ckpts import (YOLOX_S_ZOO_CONFIG,
                                make_i3d_recognizer_checkpoint,
                                make_x3d_recognizer_checkpoint,
                                make_yolox_detector_checkpoint)
from .test_yowo import make_batch

CONFIGS = osp.join(osp.dirname(__file__), '..', '..', 'configs')
TINY_CONFIGS = ('yowo_plus_tiny_ucf24.py', 'yowo_plus_tiny_8f_ucf24.py',
                'yowo_plus_tiny_jhmdb21.py', 'yowo_plus_tiny_8f_jhmdb21.py',
                'yowo_plus_tiny_ava_v2.2.py', 'yowo_plus_tiny_8f_ava_v2.2.py')
BUFFER_SUFFIXES = ('running_mean', 'running_var', 'num_batches_tracked')
PREFIX = 'backbone.'


@pytest.fixture(scope='module')
def zoo_checkpoints(tmp_path_factory):
    root = tmp_path_factory.mktemp('zoo')
    yolox, x3d = str(root / 'yolox_tiny_coco.pth'), str(root / 'x3d_s.pth')
    return dict(
        backbone_2d=(yolox, make_yolox_detector_checkpoint(yolox)),
        backbone_3d=(x3d, make_x3d_recognizer_checkpoint(x3d)))


def tiny_cfg(name, checkpoints):
    cfg = Config.fromfile(osp.join(CONFIGS, name)).model
    for branch, (path, _) in checkpoints.items():
        cfg[branch].init_cfg.checkpoint = path
    return cfg


@pytest.fixture(scope='module')
def tiny_model(zoo_checkpoints):
    """configs/yowo_plus_tiny_ucf24.py built with the local checkpoints, not
    initialised; tests work on deep copies."""
    init_default_scope('mmaction')
    return MODELS.build(tiny_cfg(TINY_CONFIGS[0], zoo_checkpoints))


def test_zoo_checkpoints_load_in_full(tiny_model, zoo_checkpoints, log):
    model = copy.deepcopy(tiny_model)
    model.init_weights()
    text = log.getvalue()
    counts = {}
    for branch, (path, full) in zoo_checkpoints.items():
        state = {
            k[len(PREFIX):]: v
            for k, v in full.items() if k.startswith(PREFIX)
        }
        own = getattr(model, branch).state_dict()
        # Every tensor of the branch comes from the checkpoint.
        assert set(own) == set(state), branch
        for key, value in state.items():
            assert torch.equal(own[key], value), (branch, key)
        n = len(state)
        n_params = sum(not k.endswith(BUFFER_SUFFIXES) for k in state)
        assert f'loaded {n}/{n} tensors ({n_params}/{n_params} parameters) ' \
            f'of {branch} from {path} (missing 0, unexpected 0, ' \
            f"shape-mismatched 0; prefix='backbone.', {len(full) - n} keys " \
            'outside it ignored)' in text, branch
        counts[branch] = (n, n_params)
    # From the architectures. YOLOX-tiny's CSPDarknet (1/3 depth: 1/3/3/1
    # CSP blocks of 2 convs): stem 1 conv, per stage a downsampling conv and
    # a CSP layer (3 convs + its blocks), SPP 2 convs in the last stage:
    # 1 + 6 + 10 + 10 + 8 = 35 conv + BN modules, 35 * 3 parameters,
    # 35 * 6 tensors. X3D-S (stage depths 3/5/11/7):
    # conv1_s + conv1_t + 26 blocks * 3 + 4 downsamples + conv5 = 85 convs,
    # all but conv1_s with BN, and 15 SE modules (every other block) with
    # two biased 1x1x1 convs: 85 + 84 * 2 + 15 * 4 = 313 parameters,
    # 313 + 84 * 3 = 565 tensors.
    assert counts == dict(backbone_2d=(210, 105), backbone_3d=(565, 313))


@pytest.mark.parametrize('name', TINY_CONFIGS[1:])
def test_every_tiny_config_has_the_tested_branches(name):
    ucf24 = tiny_cfg(TINY_CONFIGS[0], {})
    other = tiny_cfg(name, {})
    for part in ('backbone_2d', 'backbone_3d', 'neck_3d', 'neck',
                 'data_preprocessor', 'input_2d', 'frames_3d'):
        assert other[part] == ucf24[part], part
    init_default_scope('mmaction')
    model = MODELS.build(other)
    assert set(model.pretrained_cfgs) == {'backbone_2d', 'backbone_3d'}


def test_other_architectures_are_refused(tiny_model, tmp_path):
    yolox_s, i3d = str(tmp_path / 'yolox_s.pth'), str(tmp_path / 'i3d.pth')
    make_yolox_detector_checkpoint(yolox_s, YOLOX_S_ZOO_CONFIG)
    make_i3d_recognizer_checkpoint(
        i3d,
        base_channels=8,
        depth=18,
        inflate=((1, 1), (1, 0), (1, 0), (0, 1)))
    for branch, path in (('backbone_2d', yolox_s), ('backbone_3d', i3d)):
        model = copy.deepcopy(tiny_model)
        model.pretrained_cfgs[branch]['checkpoint'] = path
        with pytest.raises(
                ValueError,
                match=f'{osp.basename(path)} does not fit {branch} '
                r"\(prefix='backbone.'\)"):
            model.init_weights()


@pytest.mark.parametrize('clip_len', [8, 16])
def test_train_and_predict(tiny_model, clip_len):
    model = copy.deepcopy(tiny_model)
    model.pretrained_cfgs.clear()
    model.init_weights()
    # Raw pixel clips at 224x224, as the pipelines give them.
    inputs, samples = make_batch(
        batch=1, clip_len=clip_len, size=224, key=[clip_len // 2])
    data = model.data_preprocessor(
        dict(inputs=list(inputs), data_samples=samples), training=True)
    losses = model(**data, mode='loss')
    assert set(losses) == {'loss_bbox', 'loss_conf', 'loss_cls'}
    sum(losses.values()).backward()
    for branch in ('backbone_2d', 'backbone_3d', 'neck', 'bbox_head'):
        grads = [
            p.grad for p in getattr(model, branch).parameters()
            if p.grad is not None
        ]
        assert grads and any(g.abs().sum() > 0 for g in grads), branch
    model.eval()
    with torch.no_grad():
        maps = model(data['inputs'], mode='tensor')
        (pred, ) = model(**data, mode='predict')
    # 224 / (8, 16, 32); 3 anchors x (4 box + 1 conf + 24 classes).
    assert [tuple(m.shape[1:]) for m in maps] == [(87, 28, 28), (87, 14, 14),
                                                  (87, 7, 7)]
    assert pred.pred_instances.scores.shape[1] == 24


def test_each_branch_reads_its_own_input(tiny_model):
    """X3D gets the clip as mmaction's X3D recipe normalises it (RGB, mean
    114.75, std 57.38) at 4 frames spread over the clip, ending with the last;
    YOLOX gets the raw BGR pixels of the key frame, as mmdet's YOLOX (no mean /
    std, BGR decoding)."""
    model = copy.deepcopy(tiny_model).eval()
    seen = {}
    for branch in ('backbone_2d', 'backbone_3d'):
        getattr(model, branch).register_forward_hook(
            lambda module, args, out, branch=branch: seen.update(
                {branch: args[0]}))
    for clip_len, frames in ((16, [3, 7, 11, 15]), (8, [1, 3, 5, 7])):
        key = 5
        inputs, samples = make_batch(
            batch=1, clip_len=clip_len, size=64, key=[key])
        data = model.data_preprocessor(
            dict(inputs=list(inputs), data_samples=samples))
        with torch.no_grad():
            model.extract_feat(data['inputs'], data['data_samples'])
        torch.testing.assert_close(seen['backbone_3d'],
                                   (inputs[:, :, frames] - 114.75) / 57.38)
        torch.testing.assert_close(
            seen['backbone_2d'], inputs[:, :, key].flip(1), rtol=0, atol=1e-3)


def test_frames_3d_keeps_short_clips_and_rejects_zero(tiny_model):
    model = copy.deepcopy(tiny_model).eval()
    seen = []
    model.backbone_3d.register_forward_hook(
        lambda module, args, out: seen.append(args[0]))
    clip = torch.randn(1, 3, 3, 64, 64)
    with torch.no_grad():
        model.extract_feat_3d(clip)
    assert torch.equal(seen[0], clip)
    init_default_scope('mmaction')
    cfg = tiny_cfg(TINY_CONFIGS[0], {})
    cfg.frames_3d = 0
    with pytest.raises(ValueError, match='frames_3d must be >= 1'):
        MODELS.build(cfg)
