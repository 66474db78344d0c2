"""Video inference API: settings, preprocessing, the per-frame and streaming
modes against the model's own clip path, laziness and error handling."""
import itertools
import os
import os.path as osp

import cv2
import numpy as np
import pytest
import torch
from mmaction.structures import ActionDataSample
from mmengine.config import Config

from mmyowo.apis import VideoReader, YOWOVideoDetector, init_detector
from mmyowo.apis.inference import CPU_FRAME_BATCH, resolve_frame_batch
from mmyowo.apis.model_init import checkpoint_dataset_meta
from mmyowo.apis.preprocessing import FramePreprocessor
from mmyowo.datasets.transforms.loading import VideoDecodeError
from mmyowo.utils.checkpoint import CheckpointLoadError
from .._paths import UCF24_MINI_VIDEOS as UCF24_MINI
from ..models._cfgs import small_yowo_cfg

SIZE = (64, 64)  # network input (h, w)
FRAME_HW = (48, 80)  # original frames, another aspect ratio


def make_model(with_3d=True, **cfg_fields):
    torch.manual_seed(0)
    cfg = Config(
        dict(
            model=small_yowo_cfg(num_classes=3, with_3d=with_3d),
            **cfg_fields))
    with pytest.warns(UserWarning, match='no checkpoint'):
        return init_detector(cfg)


def make_frames(num, seed=0, hw=FRAME_HW):
    rng = np.random.default_rng(seed)
    return list(rng.integers(0, 256, (num, *hw, 3), dtype=np.uint8))


def reference(model, frames, indices, key):
    """Independent clip path: mmaction-style resize, the model's own data
    preprocessor and ``YOWO.predict`` with ``key_frame_index``."""
    h, w = frames[0].shape[:2]
    clip = np.stack(
        [cv2.resize(frames[i], (SIZE[1], SIZE[0])) for i in indices])
    sample = ActionDataSample(
        metainfo=dict(
            img_shape=SIZE,
            ori_shape=(h, w),
            scale_factor=(SIZE[1] / w, SIZE[0] / h),
            key_frame_index=key))
    data = model.data_preprocessor(
        dict(
            inputs=[torch.from_numpy(clip).permute(3, 0, 1, 2)],
            data_samples=[sample]),
        training=False)
    with torch.no_grad():
        return model.predict(data['inputs'],
                             data['data_samples'])[0].pred_instances


def assert_same(actual, expected, atol=1e-5):
    assert len(expected) > 0, 'test needs detections to compare'
    torch.testing.assert_close(
        actual.bboxes, expected.bboxes, atol=atol, rtol=1e-5)
    torch.testing.assert_close(
        actual.scores, expected.scores, atol=atol, rtol=1e-5)
    assert torch.equal(actual.labels, expected.labels)


# ---------------------------------------------------------------------- #
# settings and init
# ---------------------------------------------------------------------- #
def test_pipeline_settings():
    pipeline = [
        dict(type='VideoDecode'),
        dict(
            type='KFRSampleFrames',
            clip_len=8,
            frame_interval=2,
            test_mode=True),
        dict(type='Resize', scale=(320, 256), keep_ratio=False),
        dict(type='PackActionInputs'),
    ]
    preprocessor = make_model().data_preprocessor
    wrapped = Config(
        dict(
            test_dataloader=dict(
                dataset=dict(
                    type='RepeatDataset',
                    dataset=dict(type='X', pipeline=pipeline)))))
    frames, settings = FramePreprocessor.from_config(wrapped, preprocessor)
    assert settings == dict(clip_len=8, frame_interval=2)
    assert frames.input_size == (256, 320)
    # A top-level test_pipeline wins; a keep_ratio resize fixes no input
    # size, so one must be given.
    cfg = Config(
        dict(
            test_pipeline=[
                dict(type='mmaction.SampleFrames', clip_len=4),
                dict(type='Resize', scale=(-1, 256))
            ],
            test_dataloader=dict(dataset=dict(pipeline=pipeline))))
    with pytest.raises(ValueError, match='keep_ratio=False.*input_size'):
        FramePreprocessor.from_config(cfg, preprocessor)
    frames, settings = FramePreprocessor.from_config(
        cfg, preprocessor, input_size=(96, 64))
    assert settings == dict(clip_len=4, frame_interval=1)
    assert frames.input_size == (96, 64)
    # A model-only config: the defaults.
    frames, settings = FramePreprocessor.from_config(
        Config(dict(model=dict())), preprocessor)
    assert settings == {} and frames.input_size == (224, 224)


def test_init_detector_from_file(tmp_path):
    source = make_model()
    ckpt = tmp_path / 'model.pth'
    torch.save(
        {
            'state_dict': source.state_dict(),
            'meta': {
                'dataset_meta': {
                    'classes': ['a', 'b', 'c']
                }
            }
        }, ckpt)
    cfg = Config(
        dict(
            model=small_yowo_cfg(num_classes=3),
            test_pipeline=[
                dict(type='KFRSampleFrames', clip_len=6, frame_interval=3),
                dict(type='Resize', scale=(96, 64), keep_ratio=False)
            ]))
    cfg_file = tmp_path / 'cfg.py'
    cfg.dump(str(cfg_file))
    model = init_detector(
        str(cfg_file),
        str(ckpt),
        cfg_options={'model.test_cfg.score_thr': 0.3})
    assert not model.training
    assert model.dataset_meta == {'classes': ['a', 'b', 'c']}
    assert model.bbox_head.test_cfg['score_thr'] == 0.3
    expected = source.state_dict()
    for key, value in model.state_dict().items():
        assert torch.equal(value, expected[key]), key
    detector = YOWOVideoDetector(model)
    assert (detector.clip_len, detector.frame_interval,
            detector.input_size) == (6, 3, (64, 96))
    # Arguments override the pipeline.
    detector = YOWOVideoDetector(model, clip_len=2, input_size=(32, 32))
    assert (detector.clip_len, detector.frame_interval,
            detector.input_size) == (2, 3, (32, 32))


BAD_META = [
    ([1, 2], 'meta must be a dict, got a list'),
    ('abc', 'meta must be a dict, got a str'),
    (dict(dataset_meta=['a', 'b', 'c']),
     'meta.dataset_meta must be a dict, got a list'),
    # A str would give one class name per character.
    (dict(dataset_meta=dict(classes='abc')),
     'classes must be a list or tuple of str'),
    (dict(dataset_meta=dict(classes=['a', 1, 'c'])),
     'classes must be a list or tuple of str'),
    (dict(dataset_meta=dict(classes={
        'a': 0,
        'b': 1,
        'c': 2
    })), 'classes must be a list or tuple of str'),
    (dict(dataset_meta=dict(classes=['a', 'b'])),
     '2 class names for a model with 3 classes'),
    (dict(dataset_meta=dict(classes=[])),
     '0 class names for a model with 3 classes'),
]


@pytest.mark.parametrize('meta, match', BAD_META)
def test_checkpoint_dataset_meta_refuses(meta, match):
    with pytest.raises(CheckpointLoadError, match=match) as info:
        checkpoint_dataset_meta({'meta': meta}, 'model.pth', 3)
    assert str(info.value).startswith('model.pth: ')


@pytest.mark.parametrize('checkpoint, expected', [
    ({}, None),
    (dict(meta=None), None),
    (dict(meta={}), None),
    (dict(meta=dict(dataset_meta=None)), None),
    (dict(meta=dict(dataset_meta=dict(other=1))), dict(other=1)),
    (dict(meta=dict(dataset_meta=dict(classes=('a', 'b', 'c')))),
     dict(classes=('a', 'b', 'c'))),
])
def test_checkpoint_dataset_meta_accepts(checkpoint, expected):
    assert checkpoint_dataset_meta(checkpoint, 'model.pth', 3) == expected
    # Without the model's number of classes, any count is accepted.
    assert checkpoint_dataset_meta(
        dict(meta=dict(dataset_meta=dict(classes=['a']))), 'model.pth',
        None) == dict(classes=['a'])


@pytest.mark.parametrize('meta, match', [BAD_META[0], BAD_META[3]])
def test_init_detector_checks_the_dataset_meta(tmp_path, meta, match):
    source = make_model()
    ckpt = str(tmp_path / 'model.pth')
    torch.save({'state_dict': source.state_dict(), 'meta': meta}, ckpt)
    cfg = Config(dict(model=small_yowo_cfg(num_classes=3)))
    with pytest.raises(CheckpointLoadError, match=match) as info:
        init_detector(cfg, ckpt)
    assert str(info.value).startswith(f'{ckpt}: ')


def test_init_detector_errors():
    with pytest.raises(KeyError, match='model'):
        init_detector(Config(dict(default_scope='mmaction')))
    with pytest.raises(TypeError, match='Config'):
        init_detector(dict(model=small_yowo_cfg()))


def test_detector_argument_errors():
    model = make_model()
    with pytest.raises(ValueError, match='mode'):
        YOWOVideoDetector(model, mode='offline')
    with pytest.raises(ValueError, match='multiples'):
        YOWOVideoDetector(model, input_size=(50, 64))
    with pytest.raises(ValueError, match='clip_len'):
        YOWOVideoDetector(model, clip_len=0)
    with pytest.raises(ValueError, match='frame_batch'):
        YOWOVideoDetector(model, frame_batch=0)
    assert YOWOVideoDetector(model).frame_batch == CPU_FRAME_BATCH


@pytest.mark.parametrize('value,device,expected',
                         [('auto', 'cpu', CPU_FRAME_BATCH),
                          ('auto', 'cuda', None),
                          ('auto', torch.device('cuda', 1), None),
                          (None, 'cpu', None), (3, 'cuda', 3)])
def test_resolve_frame_batch(value, device, expected):
    assert resolve_frame_batch(value, device) == expected


@pytest.mark.parametrize('value', [0, -2, 'all', 2.0])
def test_resolve_frame_batch_rejects(value):
    with pytest.raises(ValueError, match='frame_batch'):
        resolve_frame_batch(value, 'cpu')


# ---------------------------------------------------------------------- #
# preprocessing
# ---------------------------------------------------------------------- #
@pytest.mark.parametrize('to_rgb', [False, True])
def test_preprocess_matches_data_preprocessor(to_rgb):
    model = make_model()
    model.data_preprocessor.to_rgb = to_rgb
    detector = YOWOVideoDetector(model, input_size=SIZE)
    frame = make_frames(1)[0]
    out, meta = detector.preprocess(frame)
    resized = torch.from_numpy(cv2.resize(frame, (SIZE[1], SIZE[0])))
    data = model.data_preprocessor(
        dict(inputs=[resized.permute(2, 0, 1)[:, None]], data_samples=None),
        training=False)
    torch.testing.assert_close(out, data['inputs'][0, :, 0], atol=1e-6, rtol=0)
    # mmaction's Resize keeps its scale factors in float32.
    assert meta == dict(
        ori_shape=FRAME_HW,
        img_shape=SIZE,
        scale_factor=(float(np.float32(64 / 80)), float(np.float32(64 / 48))))
    # Writing into a buffer slot gives the same values without allocating.
    buffer = torch.zeros(3, 2, *SIZE)
    detector.preprocess(frame, out=buffer[:, 1])
    assert torch.equal(buffer[:, 1], out)
    assert buffer[:, 0].abs().sum() == 0


# ---------------------------------------------------------------------- #
# streaming == clip path
# ---------------------------------------------------------------------- #
@pytest.mark.parametrize('with_3d,frame_batch', [(True, None), (True, 3),
                                                 (False, None)])
def test_streaming_window_matches_clip_path(with_3d, frame_batch):
    """Frame j of a window detected via streaming (one 3D pass, batched 2D /
    neck / head) equals the clip path on the same window with key_frame_index =
    j."""
    length = 4
    model = make_model(with_3d=with_3d)
    detector = YOWOVideoDetector(
        model,
        mode='streaming',
        clip_len=length,
        input_size=SIZE,
        frame_batch=frame_batch)
    assert detector.frame_batch == frame_batch
    frames = make_frames(length)
    slots = [detector.preprocess(f) for f in frames]
    window = torch.stack([s[0] for s in slots], dim=1)[None]
    metas = [s[1] for s in slots]
    streamed = detector.detect_windows(window, [metas])[0]
    assert len(streamed) == length
    for j in range(length):
        clip_path = detector.detect_clips(
            window, [metas[j]], key_frame_index=j)[0]
        assert_same(streamed[j], clip_path)
        assert_same(streamed[j], reference(model, frames, range(length), j))

    # Two windows in one batch, the second holding only 2 key frames.
    other = make_frames(length, seed=1)
    other_window = torch.stack([detector.preprocess(f)[0] for f in other],
                               dim=1)[None]
    batched = detector.detect_windows(
        torch.cat([window, other_window]), [metas, metas[:2]])
    assert [len(b) for b in batched] == [length, 2]
    for j in range(2):
        assert_same(batched[1][j], reference(model, other, range(length), j))
    assert_same(batched[0][3], streamed[3])
    with pytest.raises(ValueError, match='key frames'):
        detector.detect_windows(window, [metas + metas[:1]])


# ---------------------------------------------------------------------- #
# whole videos
# ---------------------------------------------------------------------- #
@pytest.mark.parametrize('step', [1, 2])
def test_per_frame_video(step):
    length, num = 3, 7
    model = make_model()
    detector = YOWOVideoDetector(
        model,
        mode='per-frame',
        clip_len=length,
        frame_interval=step,
        input_size=SIZE)
    frames = make_frames(num, seed=2)
    results = list(detector.iter_video(iter(frames)))
    assert [r.index for r in results] == list(range(num))
    for t, result in enumerate(results):
        assert result.frame is frames[t]
        # Clip t-(L-1)p .. t, frames before the start clamped to frame 0.
        indices = [max(0, t - (length - 1 - k) * step) for k in range(length)]
        assert_same(result.pred, reference(model, frames, indices, length - 1))
        boxes = result.pred.bboxes
        assert (boxes[:, [0, 2]] <= FRAME_HW[1]).all()
        assert (boxes[:, [1, 3]] <= FRAME_HW[0]).all()


@pytest.mark.parametrize('step', [1, 2])
def test_streaming_video(step):
    length, num = 3, 7
    model = make_model()
    detector = YOWOVideoDetector(
        model,
        mode='streaming',
        clip_len=length,
        frame_interval=step,
        input_size=SIZE)
    frames = make_frames(num, seed=3)
    preds = detector(iter(frames))
    assert len(preds) == num
    span = length * step
    for t, pred in enumerate(preds):
        # Chunks of L*p frames; window r of a chunk holds frames r, r+p,
        # ...; a partial window repeats its last real frame.
        start = t // span * span
        members = [
            i for i in range(start + (t - start) % step, start + span, step)
            if i < num
        ]
        indices = members + [members[-1]] * (length - len(members))
        assert_same(pred, reference(model, frames, indices, members.index(t)))


@pytest.mark.parametrize('mode,pulled', [('per-frame', [1, 2, 3]),
                                         ('streaming', [3, 3, 3, 6])])
def test_frames_are_consumed_lazily(mode, pulled):
    model = make_model()
    detector = YOWOVideoDetector(model, mode=mode, clip_len=3, input_size=SIZE)
    pulls = [0]

    def endless():
        frame = make_frames(1)[0]
        while True:
            pulls[0] += 1
            yield frame

    results = detector.iter_video(endless())
    counts = []
    for _ in pulled:
        next(results)
        counts.append(pulls[0])
    assert counts == pulled


def test_video_file(tmp_path):
    path = str(tmp_path / 'clip.mp4')
    writer = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*'mp4v'), 10.0,
                             (FRAME_HW[1], FRAME_HW[0]))
    for frame in make_frames(5, seed=4):
        writer.write(frame)
    writer.release()
    reader = VideoReader(path)
    assert reader.fps == pytest.approx(10.0)
    decoded = list(reader)
    assert len(decoded) == 5 and decoded[0].shape == (*FRAME_HW, 3)
    with pytest.raises(RuntimeError, match='only once'):
        next(iter(reader))
    detector = YOWOVideoDetector(
        make_model(), mode='per-frame', clip_len=2, input_size=SIZE)
    results = list(detector.iter_video(path))
    assert len(results) == 5
    for result, frame in zip(results, decoded):
        assert np.array_equal(result.frame, frame)
    assert_same(results[4].pred, reference(detector.model, decoded, [3, 4], 1))


def test_reads_ucf24_mini_stream():
    """Raw MPEG-4 streams (which decord cannot seek) read sequentially."""
    path = osp.join(
        UCF24_MINI,
        sorted(f for f in os.listdir(UCF24_MINI) if f.endswith('.mp4'))[0])
    frames = list(itertools.islice(VideoReader(path), 3))
    assert len(frames) == 3
    assert frames[0].dtype == np.uint8 and frames[0].ndim == 3
    assert frames[0].shape[2] == 3 and frames[0].std() > 0


# ---------------------------------------------------------------------- #
# bad input
# ---------------------------------------------------------------------- #
def test_bad_videos(tmp_path):
    detector = YOWOVideoDetector(make_model(), clip_len=2, input_size=SIZE)
    missing = str(tmp_path / 'missing.mp4')
    with pytest.raises(FileNotFoundError, match='missing.mp4'):
        detector.iter_video(missing)
    empty = tmp_path / 'empty.mp4'
    empty.write_bytes(b'')
    with pytest.raises(VideoDecodeError, match='empty.mp4'):
        detector(str(empty))
    text = tmp_path / 'notes.avi'
    text.write_text('not a video\n' * 100)
    with pytest.raises(VideoDecodeError, match='notes.avi'):
        detector(str(text))
    with pytest.raises(ValueError, match='no frames'):
        detector(iter([]))
    frames = make_frames(2)
    with pytest.raises(ValueError, match='frame 1 .*uint8'):
        detector([frames[0], frames[1].astype(np.float32)])
    with pytest.raises(ValueError, match='frame 0 .*uint8'):
        detector([frames[0][..., 0]])
