"""The video inference API feeds the network what testing feeds it.

For real frames (a ucf24-mini clip, written losslessly as PNG rawframes)
and every shipped config, the clip tensor that :class:`YOWOVideoDetector`
hands to the network equals what ``Compose(cfg.test_pipeline)`` (decoding
those rawframes) and ``model.data_preprocessor`` give for the same frames,
in per-frame and in streaming mode. Pipelines the API cannot reproduce per
frame are refused with the transform named.
"""
import copy
import glob
import itertools
import os
import os.path as osp

import cv2
import numpy as np
import pytest
import torch
from mmaction.registry import MODELS
from mmcv.transforms import Compose
from mmengine.config import Config
from mmengine.model import BaseDataPreprocessor
from mmengine.structures import InstanceData

from mmyowo.apis import VideoReader, YOWOVideoDetector, init_detector
from mmyowo.apis.preprocessing import FramePreprocessor
from .._paths import REPO
from .._paths import UCF24_MINI_VIDEOS as UCF24_MINI
from ..models._cfgs import small_yowo_cfg

CONFIGS = sorted(glob.glob(osp.join(REPO, 'configs', 'yowo_plus_*.py')))


@pytest.fixture(scope='module')
def ucf_frames():
    """The first 17 RGB frames of a ucf24-mini video (340x256)."""
    path = osp.join(
        UCF24_MINI,
        sorted(f for f in os.listdir(UCF24_MINI) if f.endswith('.mp4'))[0])
    frames = list(itertools.islice(VideoReader(path), 17))
    assert len(frames) == 17 and frames[0].shape == (256, 340, 3)
    return frames


@pytest.fixture(scope='module')
def frame_dir(ucf_frames, tmp_path_factory):
    """The frames as lossless PNG rawframes ``00001.png``, ``00002.png``.

    cv2 writes BGR files; the decoders read them back as RGB.
    """
    root = tmp_path_factory.mktemp('rawframes')
    for i, frame in enumerate(ucf_frames, start=1):
        assert cv2.imwrite(
            str(root / f'{i:05d}.png'), cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    return str(root)


def shipped_config(path):
    """A shipped config with a CPU-sized model that keeps the config's data
    preprocessor (the preprocessing under test)."""
    cfg = Config.fromfile(path)
    model = small_yowo_cfg(num_classes=3)
    model['data_preprocessor'] = cfg.model.data_preprocessor.to_dict()
    cfg.model = model
    return cfg


def build_model(cfg):
    torch.manual_seed(0)
    with pytest.warns(UserWarning, match='no checkpoint'):
        return init_detector(cfg)


def build(cfg, **kwargs):
    return YOWOVideoDetector(build_model(cfg), **kwargs)


def pipeline_clip(cfg, model, frame_dir, key_frame, total_frames):
    """The network input of the clip of ``key_frame`` (1-based) in testing.

    The config's own test pipeline runs on the rawframes, then the model's data
    preprocessor.
    """
    results = dict(
        frame_dir=frame_dir,
        filename_tmpl='{:05d}.png',
        total_frames=total_frames,
        frame_id=key_frame,
        start_index=1,
        modality='RGB',
        video_id='v',
        timestamp=key_frame,
        img_key=f'v,{key_frame}')
    packed = Compose(copy.deepcopy(cfg.test_pipeline))(results)
    data = model.data_preprocessor(
        dict(inputs=[packed['inputs']], data_samples=[packed['data_samples']]),
        training=False)
    return data['inputs'], data['data_samples'][0]


def capture(detector, method):
    """Record the inputs of ``detector.<method>`` (the network path) instead
    of running the network: only its input is under test here (the network
    paths are tested in test_inference.py), and 16-frame clips at 224x224
    would make this test slow on CPUs."""
    calls = []

    def spy(tensor, metas, **kwargs):
        calls.append((tensor.clone(), metas))
        if method == 'detect_windows':
            return [[InstanceData() for _ in window] for window in metas]
        return [InstanceData() for _ in metas]

    setattr(detector, method, spy)
    return calls


@pytest.mark.parametrize('path', CONFIGS, ids=osp.basename)
def test_clip_equals_test_pipeline(path, ucf_frames, frame_dir):
    cfg = shipped_config(path)
    detector = build(cfg, mode='streaming')
    length = detector.clip_len
    assert detector.frame_interval == 1
    # Streaming: the first window is frames 1..L, the test clip of key
    # frame L (KFRS in test mode puts the key frame last when it can).
    windows = capture(detector, 'detect_windows')
    list(detector.iter_video(ucf_frames[:length]))
    expected, sample = pipeline_clip(cfg, detector.model, frame_dir, length,
                                     len(ucf_frames))
    assert len(windows) == 1
    torch.testing.assert_close(windows[0][0], expected, rtol=0, atol=1e-4)
    # The metas the head rescales with are the pipeline's too.
    meta = windows[0][1][0][-1]
    assert meta['img_shape'] == tuple(sample.img_shape)
    np.testing.assert_array_equal(meta['scale_factor'], sample.scale_factor)

    # Per-frame: the clip ending at the key frame L + 1.
    detector.mode = 'per-frame'
    clips = capture(detector, 'detect_clips')
    list(detector.iter_video(ucf_frames[:length + 1]))
    expected, _ = pipeline_clip(cfg, detector.model, frame_dir, length + 1,
                                len(ucf_frames))
    torch.testing.assert_close(clips[-1][0], expected, rtol=0, atol=1e-4)


def synthetic_variant(**resize):
    """The synthetic config with its test Resize changed."""
    cfg = shipped_config(osp.join(REPO, 'configs', 'yowo_plus_synthetic.py'))
    pipeline = copy.deepcopy(cfg.test_pipeline)
    pipeline[2].update(resize)
    assert pipeline[2]['type'] == 'Resize'
    cfg.test_pipeline = pipeline
    return cfg


@pytest.mark.parametrize(
    'variant', [
        dict(resize=dict(interpolation='bicubic')),
        dict(resize=dict(interpolation='area', scale=(96, 64))),
        dict(
            preprocessor=dict(
                mean=[10., 20., 30.], std=[2., 3., 4.], to_rgb=True)),
    ],
    ids=['bicubic', 'area-96x64', 'mean-std-bgr'])
def test_clip_follows_the_pipeline_settings(variant, ucf_frames, frame_dir):
    """The interpolation, size and normalisation are the config's, not fixed
    ones."""
    cfg = synthetic_variant(**variant.get('resize', {}))
    cfg.model.data_preprocessor.update(variant.get('preprocessor', {}))
    detector = build(cfg, mode='streaming')
    windows = capture(detector, 'detect_windows')
    list(detector.iter_video(ucf_frames[:8]))
    expected, _ = pipeline_clip(cfg, detector.model, frame_dir, 8,
                                len(ucf_frames))
    torch.testing.assert_close(windows[0][0], expected, rtol=0, atol=1e-4)
    # The comparison tells the interpolations apart: a bilinear resize
    # with the standard normalisation gives another clip.
    bilinear = build(
        shipped_config(osp.join(REPO, 'configs', 'yowo_plus_synthetic.py')),
        mode='streaming',
        input_size=expected.shape[-2:])
    other = torch.stack([bilinear.preprocess(f)[0] for f in ucf_frames[:8]],
                        dim=1)
    assert (other - expected[0]).abs().max() > 0.1


def test_input_size_keeps_the_pipeline_interpolation(ucf_frames, frame_dir):
    cfg = synthetic_variant(interpolation='bicubic')
    detector = build(cfg, mode='streaming', input_size=(96, 160))
    assert detector.input_size == (96, 160)
    windows = capture(detector, 'detect_windows')
    list(detector.iter_video(ucf_frames[:8]))
    resized = synthetic_variant(interpolation='bicubic', scale=(160, 96))
    expected, _ = pipeline_clip(resized, detector.model, frame_dir, 8,
                                len(ucf_frames))
    torch.testing.assert_close(windows[0][0], expected, rtol=0, atol=1e-4)


@pytest.mark.parametrize('transform,match', [
    (dict(type='CenterCrop', crop_size=96), 'CenterCrop'),
    (dict(type='Flip', flip_ratio=0.5), 'Flip'),
    (dict(type='Resize', scale=(128, 128), keep_ratio=False,
          lazy=True), 'Resize is lazy'),
    (dict(type='FormatShape', input_format='NCHW'), "FormatShape has "
     "input_format='NCHW'"),
    (dict(type='SampleFrames', clip_len=8,
          num_clips=3), 'SampleFrames samples several clips'),
])
def test_refuses_what_it_cannot_reproduce(transform, match):
    cfg = shipped_config(osp.join(REPO, 'configs', 'yowo_plus_synthetic.py'))
    cfg.test_pipeline = [
        *cfg.test_pipeline[:3], transform, *cfg.test_pipeline[3:]
    ]
    model = build_model(cfg)
    with pytest.raises(
            ValueError, match=f'test pipeline, transform 3: '
            f'{match}'):
        YOWOVideoDetector(model)


def test_refuses_an_unfixed_size_and_other_preprocessors():
    cfg = synthetic_variant(scale=(-1, 128), keep_ratio=True)
    model = build_model(cfg)
    with pytest.raises(ValueError, match='no Resize with keep_ratio=False'):
        YOWOVideoDetector(model)
    for size in [(128, ), (0, 128), (128.0, 128)]:
        with pytest.raises(ValueError, match='input_size must be'):
            FramePreprocessor.from_config(
                cfg, model.data_preprocessor, input_size=size)
    with pytest.raises(TypeError, match='BaseDataPreprocessor'):
        FramePreprocessor.from_config(
            cfg, BaseDataPreprocessor(), input_size=(128, 128))
    with pytest.raises(ValueError, match="format_shape='NCHW'"):
        FramePreprocessor.from_config(
            cfg,
            MODELS.build(dict(type='ActionDataPreprocessor')),
            input_size=(128, 128))
