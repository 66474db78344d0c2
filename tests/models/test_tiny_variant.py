"""YOWO-Plus tiny (configs/_base_/models/yowo_plus_tiny*.py): torchvision's
MobileNetV3-Large + mmaction's X3D-S.

The model-zoo checkpoints (stand-ins in the zoos' real formats: torchvision's
plain state dict, reached through the config's ``torchvision://`` name, and
an mmaction recognizer built from the zoo config shipped in mmaction) load in
full through the real configs; other architectures are refused; the model
trains and predicts on 8- and 16-frame clips; each branch reads the input its
zoo weights were trained on.
"""
import copy
import os.path as osp

import pytest
import torch
from mmaction.registry import MODELS
from mmengine.config import Config
from mmengine.registry import init_default_scope

from ._pretrained_ckpts import (make_i3d_recognizer_checkpoint,
                                make_torchvision_checkpoint,
                                make_x3d_recognizer_checkpoint,
                                serve_torchvision_checkpoint)
from .test_yowo import make_batch

CONFIGS = osp.join(osp.dirname(__file__), '..', '..', 'configs')
TINY_CONFIGS = ('yowo_plus_tiny_ucf24.py', 'yowo_plus_tiny_8f_ucf24.py',
                'yowo_plus_tiny_jhmdb21.py', 'yowo_plus_tiny_8f_jhmdb21.py',
                'yowo_plus_tiny_ava_v2.2.py', 'yowo_plus_tiny_8f_ava_v2.2.py')
BUFFER_SUFFIXES = ('running_mean', 'running_var', 'num_batches_tracked')
PREFIX = 'backbone.'
#: torchvision's ImageNet normalisation (0.485/0.456/0.406 and
#: 0.229/0.224/0.225 of 255), RGB.
IMAGENET_MEAN = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1) * 255
IMAGENET_STD = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1) * 255
#: The 2D checkpoint as yowo_plus_tiny_pretrained.py names it.
MOBILENET = 'torchvision://mobilenet_v3_large'


@pytest.fixture(scope='module')
def x3d_checkpoint(tmp_path_factory):
    path = str(tmp_path_factory.mktemp('zoo') / 'x3d_s.pth')
    return path, make_x3d_recognizer_checkpoint(path)


def tiny_cfg(name, x3d_path=None):
    """The model of ``configs/NAME``; the 2D branch keeps the config's
    ``torchvision://`` checkpoint, the 3D branch reads ``x3d_path``."""
    cfg = Config.fromfile(osp.join(CONFIGS, name)).model
    if x3d_path is not None:
        cfg.backbone_3d.init_cfg.checkpoint = x3d_path
    return cfg


@pytest.fixture(scope='module')
def tiny_model(x3d_checkpoint):
    """configs/yowo_plus_tiny_ucf24.py built with the local X3D checkpoint, not
    initialised; tests work on deep copies."""
    init_default_scope('mmaction')
    return MODELS.build(tiny_cfg(TINY_CONFIGS[0], x3d_checkpoint[0]))


def test_zoo_checkpoints_load_in_full(tiny_model, x3d_checkpoint, tmp_path,
                                      monkeypatch, log):
    mobilenet = serve_torchvision_checkpoint(monkeypatch,
                                             str(tmp_path / 'home'),
                                             'mobilenet_v3_large')
    model = copy.deepcopy(tiny_model)
    assert model.pretrained_cfgs['backbone_2d']['checkpoint'] == MOBILENET
    model.init_weights()
    text = log.getvalue()

    # 2D: torchvision's plain state dict, loaded without prefix; left over
    # are the 1x1 widening conv + BN after the last block (features.16: 6
    # tensors) and the classifier (two Linear layers: 4 tensors).
    own = model.backbone_2d.state_dict()
    features = {
        k: v
        for k, v in mobilenet.items()
        if not k.startswith(('classifier.', 'features.16.'))
    }
    assert set(own) == set(features)
    for key, value in features.items():
        assert torch.equal(own[key], value), key
    n = len(features)
    n_params = sum(not k.endswith(BUFFER_SUFFIXES) for k in features)
    assert f'loaded {n}/{n} tensors ({n_params}/{n_params} parameters) of ' \
        f'backbone_2d from {MOBILENET} (missing 0, unexpected 10, ' \
        'shape-mismatched 0; prefix=None)' in text
    # From the architecture: MobileNetV3-Large's features up to the last
    # block (features.15) have 61 bias-free convs, 45 BN and 8 SE modules
    # (two biased 1x1 convs each): 61 + 45 * 2 + 8 * 2 = 167 parameters,
    # 167 + 45 * 3 = 302 tensors. Unexpected: the dropped 1x1 widening
    # conv + BN (features.16, 6 tensors) and the classifier's 4.
    assert (n, n_params) == (302, 167)

    # 3D: mmaction's whole recognizer, branch under ``backbone.``.
    path, full = x3d_checkpoint
    state = {
        k[len(PREFIX):]: v
        for k, v in full.items() if k.startswith(PREFIX)
    }
    own = model.backbone_3d.state_dict()
    assert set(own) == set(state)
    for key, value in state.items():
        assert torch.equal(own[key], value), key
    n = len(state)
    n_params = sum(not k.endswith(BUFFER_SUFFIXES) for k in state)
    assert f'loaded {n}/{n} tensors ({n_params}/{n_params} parameters) ' \
        f'of backbone_3d from {path} (missing 0, unexpected 0, ' \
        f"shape-mismatched 0; prefix='backbone.', {len(full) - n} keys " \
        'outside it ignored)' in text
    # X3D-S (stage depths 3/5/11/7): conv1_s + conv1_t + 26 blocks * 3 +
    # 4 downsamples + conv5 = 85 convs, all but conv1_s with BN, and 15 SE
    # modules (every other block) with two biased 1x1x1 convs:
    # 85 + 84 * 2 + 15 * 4 = 313 parameters, 313 + 84 * 3 = 565 tensors.
    assert (n, n_params) == (565, 313)


@pytest.mark.parametrize('name', TINY_CONFIGS[1:])
def test_every_tiny_config_has_the_tested_branches(name):
    ucf24 = tiny_cfg(TINY_CONFIGS[0])
    other = tiny_cfg(name)
    for part in ('backbone_2d', 'backbone_3d', 'neck_3d', 'neck',
                 'data_preprocessor', 'input_2d', 'frames_3d'):
        assert other[part] == ucf24[part], part
    init_default_scope('mmaction')
    model = MODELS.build(other)
    assert set(model.pretrained_cfgs) == {'backbone_2d', 'backbone_3d'}


def test_other_architectures_are_refused(tiny_model, tmp_path):
    # MobileNetV3-Small shares MobileNetV3-Large's layer names, not their
    # shapes.
    small, i3d = str(tmp_path / 'small.pth'), str(tmp_path / 'i3d.pth')
    make_torchvision_checkpoint(small, 'mobilenet_v3_small')
    make_i3d_recognizer_checkpoint(
        i3d,
        base_channels=8,
        depth=18,
        inflate=((1, 1), (1, 0), (1, 0), (0, 1)))
    for branch, path, prefix in (('backbone_2d', small, 'None'),
                                 ('backbone_3d', i3d, "'backbone.'")):
        model = copy.deepcopy(tiny_model)
        # Only the tested branch (the other one's file is not here).
        for other in set(model.pretrained_cfgs) - {branch}:
            del model.pretrained_cfgs[other]
        model.pretrained_cfgs[branch]['checkpoint'] = path
        with pytest.raises(
                ValueError,
                match=f'{osp.basename(path)} does not fit {branch} '
                rf'\(prefix={prefix}\)'):
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
    MobileNetV3 gets the key frame as torchvision's ImageNet recipe normalises
    it (RGB, ImageNet mean / std)."""
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
            seen['backbone_2d'],
            (inputs[:, :, key] - IMAGENET_MEAN) / IMAGENET_STD,
            rtol=0,
            atol=1e-5)


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
    cfg = tiny_cfg(TINY_CONFIGS[0])
    cfg.frames_3d = 0
    with pytest.raises(ValueError, match='frames_3d must be >= 1'):
        MODELS.build(cfg)
