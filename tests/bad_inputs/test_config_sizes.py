"""Bad sizes in a config, through what ``mim train`` builds from it: the
dataloader (``Runner.build_dataloader``), the model (``MODELS.build``) and one
training step on the first batch.

The number of classes of the model against the annotation file is checked by
``NumClassCheckHook`` in ``mim train`` / ``mim test`` (test_mim.py).
"""
import copy

import pytest
import torch
from mmaction.registry import MODELS
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmengine.runner import Runner


@pytest.fixture(scope='module')
def cfg(tiny_config):
    init_default_scope('mmaction')
    return Config.fromfile(tiny_config)


def _set(pipeline, kind, **values):
    (transform, ) = [t for t in pipeline if t['type'] == kind]
    transform.update(values)


def without_3d(model):
    model.update(backbone_3d=None, neck_3d=None)
    model['neck']['in_channels_3d'] = 0


def training_step(cfg, pipeline_change=None, model_change=None):
    """Build the training dataloader and the model, as the runner does, and
    return the losses of one step on the first batch."""
    cfg = copy.deepcopy(cfg)
    loader = cfg.train_dataloader.to_dict()
    if pipeline_change:
        pipeline_change(loader['dataset']['pipeline'])
    model_cfg = cfg.model.to_dict()
    if model_change:
        model_change(model_cfg)
    batch = next(iter(Runner.build_dataloader(loader)))
    torch.manual_seed(0)
    model = MODELS.build(model_cfg)
    return model(**model.data_preprocessor(batch, True), mode='loss')


def test_intact_config_trains(cfg):
    losses = training_step(cfg)
    assert all(torch.isfinite(v) for v in losses.values())


@pytest.mark.parametrize(
    'model_change', [None, without_3d], ids=['2d+3d', '2d only'])
def test_input_size_not_a_multiple_of_32(cfg, model_change):
    """Without the 3D branch this used to fail deep in the FPN ("Sizes of
    tensors must match except in dimension 1")."""
    with pytest.raises(ValueError) as info:
        training_step(cfg, lambda p: _set(p, 'Resize', scale=(100, 96)),
                      model_change)
    assert str(info.value).startswith(
        'input of 96x100 (h x w): the height and width must be multiples '
        'of the largest stride 32')


def test_clip_too_short_for_the_3d_branch(cfg):
    """A 1-frame clip used to fail inside ResNet3d's temporal pooling ("Output
    size is too small")."""
    with pytest.raises(ValueError) as info:
        training_step(cfg, lambda p: _set(p, 'KFRSampleFrames', clip_len=1))
    assert str(info.value).startswith(
        'the 3D branch (ResNet3d) cannot read clips of 1 frames')
    assert 'use a longer clip_len' in str(info.value)


def test_one_frame_clip_without_3d_branch_trains(cfg):
    """Documented: a 2D-only model reads the key frame alone."""
    losses = training_step(cfg,
                           lambda p: _set(p, 'KFRSampleFrames', clip_len=1),
                           without_3d)
    assert all(torch.isfinite(v) for v in losses.values())


@pytest.mark.parametrize('values, message', [
    (dict(clip_len=0), r'clip_len \(0\) and frame_interval \(1\) must be '
     '>= 1'),
    (dict(frame_interval=0), r'clip_len \(8\) and frame_interval \(0\) '
     'must be >= 1'),
])
def test_clip_sampler_sizes(cfg, values, message):
    with pytest.raises(ValueError, match=message):
        training_step(cfg, lambda p: _set(p, 'KFRSampleFrames', **values))


@pytest.mark.parametrize('anchors, shape', [
    ([[(16, 16), (20, 24)]] * 3, (3, 2, 2)),
    ([[(16, 16), (20, 24), (24, 20)]] * 2, (2, 3, 2)),
    ([[(16, 16, 1), (20, 24, 1), (24, 20, 1)]] * 3, (3, 3, 3)),
])
def test_anchors_of_wrong_shape(cfg, anchors, shape):

    def change(model):
        model['bbox_head']['base_anchors'] = anchors

    with pytest.raises(ValueError) as info:
        training_step(cfg, model_change=change)
    assert str(info.value) == ('base_anchors must have shape (num_levels, '
                               f'3, 2), got {shape}')


@pytest.mark.parametrize('dataset, message', [
    (dict(key_frame_stride=0), 'key_frame_stride must be >= 1, got 0'),
    (dict(split=2), r'split 2 does not exist \(train_videos has 1 splits\)'),
    (dict(key_frames='some'), "key_frames must be one of"),
])
def test_dataset_settings(cfg, dataset, message):
    loader = copy.deepcopy(cfg.train_dataloader).to_dict()
    loader['dataset'].update(dataset)
    with pytest.raises(ValueError, match=message):
        Runner.build_dataloader(loader)
