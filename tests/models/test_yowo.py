import copy

import numpy as np
import pytest
import torch
from mmaction.datasets.transforms import FormatShape, PackActionInputs
from mmaction.registry import MODELS
from mmaction.structures import ActionDataSample
from mmengine.dataset import pseudo_collate
from mmengine.registry import init_default_scope
from mmengine.structures import InstanceData

from ._cfgs import small_yowo_cfg


def make_batch(batch=2, clip_len=4, size=64, key=None, seed=0):
    g = torch.Generator().manual_seed(seed)
    inputs = torch.randint(
        0, 255, (batch, 3, clip_len, size, size), generator=g).float()
    samples = []
    for b in range(batch):
        s = ActionDataSample()
        s.set_metainfo(
            dict(
                img_shape=(size, size),
                ori_shape=(size, size),
                scale_factor=(1.0, 1.0),
                key_frame_index=clip_len - 1 if key is None else key[b]))
        s.gt_instances = InstanceData(
            bboxes=torch.tensor([[8. + 4 * b, 10., 40., 56.]]),
            labels=torch.tensor([b % 3]))
        samples.append(s)
    return inputs, samples


def build(cfg):
    init_default_scope('mmaction')
    model = MODELS.build(cfg)
    model.init_weights()
    return model


@pytest.mark.parametrize('with_3d', [True, False])
def test_modes(with_3d):
    model = build(small_yowo_cfg(with_3d=with_3d))
    inputs, samples = make_batch()
    data = model.data_preprocessor(
        dict(inputs=list(inputs), data_samples=samples), training=True)
    assert data['inputs'].shape == (2, 3, 4, 64, 64)
    losses = model(**data, mode='loss')
    assert set(losses) == {'loss_bbox', 'loss_conf', 'loss_cls'}
    assert all(torch.isfinite(v) for v in losses.values())
    model.eval()
    with torch.no_grad():
        maps = model(data['inputs'], mode='tensor')
        preds = model(**data, mode='predict')
    assert [m.shape[-1] for m in maps] == [8, 4, 2]
    assert all(m.shape[1] == 3 * (5 + 3) for m in maps)
    for p in preds:
        inst = p.pred_instances
        assert inst.bboxes.shape[1] == 4
        assert inst.scores.shape == (len(inst), 3)
        assert inst.labels.shape == (len(inst), )
    with pytest.raises(RuntimeError, match='Invalid mode'):
        model(data['inputs'], mode='bad')


def test_2d_branch_sees_the_key_frame():
    model = build(small_yowo_cfg()).eval()
    inputs, samples = make_batch(key=[1, 3])
    seen = []
    original = model.extract_feat_2d
    model.extract_feat_2d = lambda x: seen.append(x) or original(x)
    model.extract_feat(inputs, samples)
    torch.testing.assert_close(seen[0][0], inputs[0, :, 1])
    torch.testing.assert_close(seen[0][1], inputs[1, :, 3])
    # Default key frame is the last one (YOWO).
    seen.clear()
    model.extract_feat(inputs, None)
    torch.testing.assert_close(seen[0], inputs[:, :, -1])
    _, bad = make_batch(key=[0, 4])
    with pytest.raises(ValueError, match='outside the clip'):
        model.extract_feat(inputs, bad)


def test_3d_branch_changes_predictions():
    """Changing only the non-key frames changes the output (motion is read)."""
    model = build(small_yowo_cfg()).eval()
    inputs, samples = make_batch()
    other = inputs.clone()
    other[:, :, :-1] = 255 - other[:, :, :-1]
    with torch.no_grad():
        a = model(inputs, samples, mode='tensor')
        b = model(other, samples, mode='tensor')
    assert not torch.allclose(a[0], b[0])


def test_overfits_one_tiny_batch():
    torch.manual_seed(0)
    cfg = small_yowo_cfg()
    cfg['neck']['drop_block_cfg'] = None
    model = build(cfg)
    inputs, samples = make_batch()
    data = model.data_preprocessor(
        dict(inputs=list(inputs), data_samples=samples), training=True)
    optim = torch.optim.Adam(model.parameters(), lr=2e-3)
    history = []
    for _ in range(40):
        losses = model(**copy.deepcopy(data), mode='loss')
        loss = sum(losses.values())
        optim.zero_grad()
        loss.backward()
        optim.step()
        history.append(loss.item())
    assert history[-1] < 0.5 * history[0], history


def test_full_size_base_model():
    """The paper-size model (CSPDarknet53 + I3D-R50) builds and runs."""
    from mmengine.config import Config

    from ._cfgs import BASE
    model = build(Config.fromfile(BASE).model).eval()
    assert model.neck.in_channels_2d == (256, 512, 1024)
    assert model.neck_3d.out_channels == 2048
    num_params = sum(p.numel() for p in model.parameters())
    assert 80e6 < num_params < 90e6  # 84.35 M, README's model-size table
    # I3D halves time three times (conv1, pool1, pool2): 8 frames -> 1.
    inputs, samples = make_batch(batch=1, clip_len=8, size=64)
    with torch.no_grad():
        maps = model(inputs, samples, mode='tensor')
    assert [tuple(m.shape) for m in maps] == [(1, 3 * (5 + 24), 8, 8),
                                              (1, 3 * (5 + 24), 4, 4),
                                              (1, 3 * (5 + 24), 2, 2)]


def packed_sample(meta_keys, clip_len=4, size=64, key=1):
    """One clip packed as the data pipeline packs it, with ``meta_keys``."""
    results = dict(
        imgs=[
            np.full((size, size, 3), 20 * i, np.uint8) for i in range(clip_len)
        ],
        num_clips=1,
        clip_len=clip_len,
        img_shape=(size, size),
        ori_shape=(size, size),
        scale_factor=np.array([1., 1.]),
        key_frame_index=key,
        gt_bboxes=np.array([[8., 10., 40., 56.]], np.float32),
        gt_labels=np.array([1]))
    results = FormatShape('NCTHW', collapse=True)(results)
    return PackActionInputs(meta_keys=meta_keys)(results)


ALL_KEYS = ('img_shape', 'ori_shape', 'scale_factor', 'key_frame_index')


@pytest.mark.parametrize('mode,dropped,match', [
    ('loss', 'key_frame_index',
     r'samples \[0, 1\] have no "key_frame_index".*KFRSampleFrames'
     r'.*PackActionInputs'),
    ('predict', 'key_frame_index',
     r'samples \[0, 1\] have no "key_frame_index"'),
    ('predict', 'scale_factor', r"lacks \['scale_factor'\].*rescale"),
])
def test_samples_missing_meta_keys_are_errors(mode, dropped, match):
    """A PackActionInputs without ``key_frame_index`` used to run the 2D branch
    on the last frame, one without ``scale_factor`` to leave the predicted
    boxes in input pixels, both silently."""
    model = build(small_yowo_cfg())
    keys = tuple(k for k in ALL_KEYS if k != dropped)
    data = model.data_preprocessor(
        pseudo_collate([packed_sample(keys),
                        packed_sample(keys)]),
        training=mode == 'loss')
    model.train(mode == 'loss')
    with torch.no_grad(), pytest.raises(KeyError, match=match):
        model(**data, mode=mode)
    # The same clips packed with every key run.
    data = model.data_preprocessor(
        pseudo_collate([packed_sample(ALL_KEYS)] * 2), training=mode == 'loss')
    with torch.no_grad():
        out = model(**data, mode=mode)
    if mode == 'loss':
        assert set(out) == {'loss_bbox', 'loss_conf', 'loss_cls'}
    else:
        assert all('pred_instances' in sample for sample in out)


def test_one_sample_per_clip():
    model = build(small_yowo_cfg()).eval()
    inputs, samples = make_batch(batch=2)
    with pytest.raises(ValueError, match='1 data samples for a batch of 2'):
        model.extract_feat(inputs, samples[:1])


def _layout_seen_by_3d_branch(model, inputs):
    """The memory layout of the clips the 3D backbone received."""
    seen = []
    handle = model.backbone_3d.register_forward_pre_hook(
        lambda module, args: seen.append((args[0].is_contiguous(
            memory_format=torch.channels_last_3d), args[0].is_contiguous())))
    try:
        model(inputs, mode='tensor')
    finally:
        handle.remove()
    (layout, ) = seen
    return {(True, False): 'channels_last_3d', (False, True): 'ncdhw'}[layout]


@pytest.mark.parametrize('setting,training,expected', [
    (True, True, 'channels_last_3d'),
    (True, False, 'ncdhw'),
    (False, True, 'ncdhw'),
])
def test_train_channels_last_3d_layout(setting, training, expected):
    """In training mode the setting gives the 3D branch channels-last clips;
    inference keeps the layout it is given."""
    model = build(dict(small_yowo_cfg(), train_channels_last_3d=setting))
    model.train(training)
    inputs, _ = make_batch()
    assert _layout_seen_by_3d_branch(model, inputs) == expected


def test_train_channels_last_3d_changes_no_value():
    """A training step in either layout: the same losses and gradients up to
    float rounding (the layout is memory order only)."""
    torch.manual_seed(0)
    cfg = small_yowo_cfg()
    cfg['neck']['drop_block_cfg'] = None
    models = {
        flag: build(dict(cfg, train_channels_last_3d=flag))
        for flag in (False, True)
    }
    models[True].load_state_dict(models[False].state_dict())
    inputs, samples = make_batch()
    grads, losses = {}, {}
    for flag, model in models.items():
        model.train()
        data = model.data_preprocessor(
            dict(inputs=list(inputs), data_samples=copy.deepcopy(samples)),
            training=True)
        loss = sum(model(**data, mode='loss').values())
        loss.backward()
        losses[flag] = loss.item()
        grads[flag] = {
            name: p.grad.clone()
            for name, p in model.named_parameters() if p.grad is not None
        }
    assert losses[True] == pytest.approx(losses[False], rel=1e-5)
    assert grads[True].keys() == grads[False].keys()
    stem = 'backbone_3d.conv1.conv.weight'
    assert stem in grads[True]
    # Per tensor, against its own scale: a gradient is a sum over the batch
    # and the maps, whose rounding differs with the summation order, so a
    # near-zero element may move by more than a fraction of itself.
    for name, grad in grads[False].items():
        error = (grads[True][name] - grad).abs().max().item()
        assert error <= 1e-4 * grad.abs().max().item() + 1e-6, (name, error)


def test_train_channels_last_3d_setting_is_checked():
    with pytest.raises(
            TypeError, match='train_channels_last_3d must be a '
            "bool, got 'on'"):
        build(dict(small_yowo_cfg(), train_channels_last_3d='on'))
