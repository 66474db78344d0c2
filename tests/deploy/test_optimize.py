"""mmyowo/deploy/optimize.py: the optimized inference copy answers as the eager
fp32 model does, on real ucf24-mini frames; and the model runs under CPU bf16
autocast (train step, predict) and on the ``meta`` device.

Tolerances (README, "Optimized inference"), against the eager fp32 model
with non-trivial BN statistics:

* per prior, before thresholds and NMS: box corners within
  :data:`BOX_TOL` px, class scores within :data:`SCORE_TOL`;
* the final detections: the same number, each matched (same label) to one
  within the same tolerances.
"""
import copy
import os.path as osp

import pytest
import torch
import torch.nn as nn
from mmaction.registry import MODELS
from mmaction.structures import ActionDataSample
from mmengine.registry import init_default_scope
from torch.nn.modules.batchnorm import _BatchNorm

from mmyowo.apis import VideoReader, YOWOVideoDetector
from mmyowo.deploy import (InferenceOptions, fuse_conv_bn,
                           optimize_for_inference)
from mmyowo.deploy.optimize import resolve_channels_last, unfolded_pairs
from .._paths import UCF24_MINI_VIDEOS
from .._weights import randomize_bn, tame_head
from ..models._cfgs import small_yowo_cfg
from ..models.test_yowo import make_batch
from ._detections import matched_diffs

#: Box corners (input pixels, before NMS; original pixels after) and class
#: scores: largest differences to the eager fp32 model allowed for the fp32
#: options (folding, channels-last). Measured: 4.1e-4 px and 2.0e-6.
BOX_TOL = 0.01
SCORE_TOL = 1e-4
#: Reduced precision, per prior: box corners within ``rel * size + 0.5``
#: px (``size``: the larger side of the fp32 box; a corner of a box that
#: ``exp`` made large moves with it) and scores within ``score``. bf16
#: measured under CPU autocast: 0.195 * size (9.2 px), scores 0.036; fp16
#: keeps 3 more mantissa bits, errors about 8 times smaller (not measured
#: here: no CUDA).
REDUCED_TOLS = dict(
    fp16=dict(rel=0.05, score=0.01), bf16=dict(rel=0.25, score=0.05))
CLIP_LEN = 8
INPUT_SIZE = (224, 224)
FP32_OPTIONS = {
    'fused': InferenceOptions(fuse=True, channels_last=False),
    'channels_last': InferenceOptions(fuse=False, channels_last=True),
    'fused+channels_last': InferenceOptions(fuse=True, channels_last=True),
}


def build_model() -> nn.Module:
    init_default_scope('mmaction')
    # The layers' own and the configs' inits draw from the global RNG: the
    # same model whatever ran before.
    with torch.random.fork_rng():
        torch.manual_seed(0)
        model = MODELS.build(small_yowo_cfg(num_classes=24))
        model.init_weights()
    # Keep every detection above a low threshold: more boxes compared.
    model.bbox_head.test_cfg.update(score_thr=0.05, max_per_img=300)
    tame_head(model, randomize_bn(model))
    return model.eval()


@pytest.fixture(scope='module')
def model():
    return build_model()


@pytest.fixture(scope='module')
def clip(model):
    """The first ``CLIP_LEN`` frames of a real UCF101-24 video, as one
    preprocessed clip, and the key frame's meta."""
    detector = YOWOVideoDetector(
        model, clip_len=CLIP_LEN, input_size=INPUT_SIZE)
    video = osp.join(UCF24_MINI_VIDEOS, 'v_Basketball_g07_c04.mp4')
    with VideoReader(video) as reader:
        frames = [frame for _, frame in zip(range(CLIP_LEN), reader)]
    prepared = [detector.preprocess(frame) for frame in frames]
    clips = torch.stack([p[0] for p in prepared], dim=1)[None]
    return clips, prepared[-1][1]


def prior_predictions(model, clips):
    """Per prior: decoded boxes (input pixels) and class scores."""
    preds, boxes = model.bbox_head.decode(model(clips))
    scores = preds[..., 4:5].sigmoid() * preds[..., 5:].sigmoid()
    return boxes[0], scores[0]


def assert_same_detections(pred, ref, box_tol, score_tol):
    """Each reference detection has one of ``pred`` with the same label and box
    and scores within the tolerances (order may differ where scores tie within
    rounding)."""
    assert len(ref) > 0
    box, score = matched_diffs(pred, ref)
    assert box <= box_tol and score <= score_tol


def assert_close_reduced(boxes, scores, ref_boxes, ref_scores, dtype):
    """Per-prior agreement within :data:`REDUCED_TOLS`."""
    tols = REDUCED_TOLS[dtype]
    size = (ref_boxes[:, 2:] - ref_boxes[:, :2]).amax(dim=1, keepdim=True)
    assert ((boxes - ref_boxes).abs() <= tols['rel'] * size + 0.5).all()
    assert (scores - ref_scores).abs().max() <= tols['score']


def count_bn(model):
    return sum(isinstance(m, _BatchNorm) for m in model.modules())


def test_folding_removes_every_bn_and_leaves_the_model(model):
    state = copy.deepcopy(model.state_dict())
    optimized = optimize_for_inference(model, FP32_OPTIONS['fused'])
    # Independent count: every BN of YOWO follows a convolution.
    assert optimized.num_folded == count_bn(model) > 50
    assert count_bn(optimized.model) == 0
    assert unfolded_pairs(optimized.model) == ()
    assert len(unfolded_pairs(model)) == count_bn(model)
    # The caller's model is untouched: same keys, same values.
    assert model.state_dict().keys() == state.keys()
    assert all(torch.equal(v, state[k]) for k, v in model.state_dict().items())
    assert optimized.describe() == \
        f'conv+BN folded ({optimized.num_folded} BN), NCHW, fp32'


@pytest.mark.parametrize('name', sorted(FP32_OPTIONS))
def test_fp32_options_match_eager(model, clip, name):
    clips, meta = clip
    eager = YOWOVideoDetector(model, clip_len=CLIP_LEN, input_size=INPUT_SIZE)
    fast = YOWOVideoDetector(
        model,
        clip_len=CLIP_LEN,
        input_size=INPUT_SIZE,
        optimize=FP32_OPTIONS[name])
    assert fast.model is not model and eager.model is model
    with torch.inference_mode():
        ref_boxes, ref_scores = prior_predictions(model, clips)
        boxes, scores = prior_predictions(fast.model, clips)
        # The folding is real: the maps are not bit-identical.
        if FP32_OPTIONS[name].fuse:
            assert not torch.equal(scores, ref_scores)
        assert (boxes - ref_boxes).abs().max() <= BOX_TOL
        assert (scores - ref_scores).abs().max() <= SCORE_TOL
    # Boxes of all sizes: the head maps are not in the clamped extremes.
    sizes = (ref_boxes[:, 2:] - ref_boxes[:, :2]).amax(dim=1)
    assert sizes.min() < 20 and sizes.max() > 100
    ref = eager.detect_clips(clips, [meta])[0]
    pred = fast.detect_clips(clips, [meta])[0]
    assert len(ref) > 20
    assert_same_detections(pred, ref, BOX_TOL, SCORE_TOL)
    # The streaming path runs the same optimized model.
    windows = fast.detect_windows(clips, [[meta] * 2])[0]
    ref_windows = eager.detect_windows(clips, [[meta] * 2])[0]
    for got, want in zip(windows, ref_windows):
        assert_same_detections(got, want, BOX_TOL, SCORE_TOL)


def test_channels_last_layout(model):
    optimized = optimize_for_inference(model, FP32_OPTIONS['channels_last'])
    convs = [
        m for m in optimized.model.modules()
        if isinstance(m, (nn.Conv2d, nn.Conv3d))
    ]
    assert any(isinstance(m, nn.Conv3d) for m in convs)
    for conv in convs:
        fmt = torch.channels_last if conv.weight.dim() == 4 \
            else torch.channels_last_3d
        assert conv.weight.is_contiguous(memory_format=fmt)
    # 'auto' is on CUDA only (the CPU measurement in the README).
    assert resolve_channels_last('auto', 'cpu') is False
    assert resolve_channels_last('auto', 'cuda') is True


def test_training_mode_bn_is_never_folded(model):
    with pytest.raises(ValueError, match='eval-mode'):
        fuse_conv_bn(copy.deepcopy(model).train())
    partly = copy.deepcopy(model)
    partly.bbox_head.head_module.convs[0].bn.train()
    folded = fuse_conv_bn(partly)
    assert folded == count_bn(model) - 1
    assert unfolded_pairs(partly) == ('bbox_head.head_module.convs.0.bn', )


def test_reduced_precision_is_refused_off_cuda(model):
    for dtype in ('fp16', 'bf16'):
        with pytest.raises(ValueError, match='CUDA only'):
            optimize_for_inference(model, InferenceOptions(dtype=dtype))
        with pytest.raises(ValueError, match='CUDA only'):
            YOWOVideoDetector(model, optimize=InferenceOptions(dtype=dtype))
    with pytest.raises(ValueError, match='dtype'):
        InferenceOptions(dtype='int8')
    with pytest.raises(ValueError, match='channels_last'):
        InferenceOptions(channels_last='yes')


@pytest.mark.skipif(
    not torch.cuda.is_available(), reason='CUDA only: fp16 / bf16 autocast')
@pytest.mark.parametrize('dtype', sorted(REDUCED_TOLS))
def test_cuda_reduced_precision(model, clip, dtype):
    clips, meta = clip
    cuda_model = copy.deepcopy(model).cuda()
    clips = clips.cuda()
    fast = YOWOVideoDetector(
        cuda_model,
        clip_len=CLIP_LEN,
        input_size=INPUT_SIZE,
        optimize=InferenceOptions(dtype=dtype))
    with torch.inference_mode():
        ref_boxes, ref_scores = prior_predictions(cuda_model, clips)
        with fast.autocast():
            maps = fast.model(clips)
        assert maps[0].dtype == getattr(
            torch,
            dict(fp16='float16', bf16='bfloat16')[dtype])
        preds, boxes = fast.model.bbox_head.decode(maps)
        scores = preds[0, :, 4:5].sigmoid() * preds[0, :, 5:].sigmoid()
    assert boxes.dtype == torch.float32
    assert_close_reduced(boxes[0], scores, ref_boxes, ref_scores, dtype)
    pred = fast.detect_clips(clips, [meta])[0]
    assert pred.scores.dtype == torch.float32 and len(pred) > 0


# --------------------------------------------------------------------------
# Deliverable 5 on the CPU: bf16 autocast and the meta device
# --------------------------------------------------------------------------
def test_train_step_and_predict_under_cpu_bf16_autocast():
    init_default_scope('mmaction')
    model = MODELS.build(small_yowo_cfg())
    model.init_weights()
    model.train()
    inputs, samples = make_batch(clip_len=8, size=64)
    data = model.data_preprocessor(
        dict(inputs=list(inputs), data_samples=samples), True)
    with torch.autocast('cpu', dtype=torch.bfloat16):
        maps = model(data['inputs'])
        losses = model(**data, mode='loss')
    # The network ran in bf16, the head's losses in fp32.
    assert maps[0].dtype == torch.bfloat16
    assert all(v.dtype == torch.float32 for v in losses.values())
    assert all(torch.isfinite(v) and v > 0 for v in losses.values())
    sum(losses.values()).backward()
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    assert len(grads) == len(list(model.parameters()))
    assert all(torch.isfinite(g).all() for g in grads)
    assert sum(float(g.abs().sum()) for g in grads) > 0


def test_predict_under_cpu_bf16_autocast(model, clip):
    clips, meta = clip
    sample = ActionDataSample(metainfo=dict(meta, key_frame_index=7))
    with torch.no_grad():
        ref = model.predict(clips, [copy.deepcopy(sample)])[0].pred_instances
        ref_boxes, ref_scores = prior_predictions(model, clips)
        with torch.autocast('cpu', dtype=torch.bfloat16):
            pred = model.predict(clips, [sample])[0].pred_instances
            boxes, scores = prior_predictions(model, clips)
    # Decoding, threshold and NMS in fp32: no silent bf16 scores.
    assert pred.bboxes.dtype == pred.scores.dtype == torch.float32
    assert boxes.dtype == scores.dtype == torch.float32
    assert len(pred) > 0 and torch.isfinite(pred.bboxes).all()
    assert_close_reduced(boxes, scores, ref_boxes, ref_scores, 'bf16')
    best, ref_best = pred.scores.amax(dim=1), ref.scores.amax(dim=1)
    assert abs(float(best.max() - ref_best.max())) <= 0.05


def test_meta_device_rejects_cpu_tensors():
    """The check below can fail: a CPU tensor made inside forward meets the
    meta inputs and raises, as it would on CUDA."""
    with pytest.raises(RuntimeError, match='device'):
        _ = torch.empty(2, 3, device='meta') + torch.ones(2, 3)
    with pytest.raises(RuntimeError, match='device'):
        _ = torch.cat([torch.empty(2, device='meta'), torch.arange(2.)])


@pytest.mark.parametrize('with_3d', [True, False])
@pytest.mark.parametrize('training', [False, True])
def test_data_independent_parts_run_on_meta(with_3d, training):
    init_default_scope('mmaction')
    model = MODELS.build(small_yowo_cfg(with_3d=with_3d)).to('meta')
    model.train(training)
    clips = torch.empty(2, 3, 8, 64, 96, device='meta')
    samples = [
        ActionDataSample(metainfo=dict(key_frame_index=k)) for k in (3, 7)
    ]
    maps = model(clips, samples, mode='tensor')
    num_attrib = 3 * (5 + model.bbox_head.num_classes)
    assert [tuple(m.shape) for m in maps] == [(2, num_attrib, 8, 12),
                                              (2, num_attrib, 4, 6),
                                              (2, num_attrib, 2, 3)]
    assert all(m.device.type == 'meta' for m in maps)
    # The head's priors and decoding (data-independent, unlike the
    # threshold, NMS and the target assignment).
    preds, boxes = model.bbox_head.decode(maps)
    assert boxes.device.type == 'meta'
    assert tuple(boxes.shape) == (2, 3 * (8 * 12 + 4 * 6 + 2 * 3), 4)
    # The streaming path's features: one 3D pass per window, 2D per frame.
    feat_3d = model.extract_feat_3d(clips)
    frames = clips.transpose(1, 2).reshape(16, 3, 64, 96)
    feats = model.fuse(
        model.extract_feat_2d(frames),
        None if feat_3d is None else feat_3d.repeat_interleave(8, dim=0))
    assert [f.shape[0] for f in feats] == [16, 16, 16]
