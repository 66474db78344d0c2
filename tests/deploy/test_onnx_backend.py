"""The onnxruntime backend: the exported graphs, run behind the model
interface, give the PyTorch path's detections on real frames, and exports
that do not fit the config are refused."""
import hashlib
import itertools
import json
import os
import os.path as osp

import numpy as np
import pytest
import torch
from mmengine.config import Config

from mmyowo.apis import VideoReader, YOWOVideoDetector, init_detector
from mmyowo.deploy import (ORTYOWO, ManifestError, export_onnx_graphs,
                           load_manifest, ort_model_from_pytorch)
from mmyowo.deploy.onnx_backend import make_session
from .._paths import UCF24_MINI_VIDEOS
from .._weights import randomize_bn, tame_head
from ..models._cfgs import small_yowo_cfg
from ._detections import max_matched_diffs

CLIP_LEN = 4
SIZE = (128, 128)  # network input (h, w); the videos are 320x240
NUM_FRAMES = 22  # 5 full streaming windows and a partial one of 2
# The tolerances: boxes in original pixels, class scores.
BOX_ATOL, SCORE_ATOL = 1e-3, 1e-4
CLASSES = ['a', 'b', 'c']


def make_cfg(clip_len=CLIP_LEN, size=SIZE, with_3d=True):
    """A small model with a test pipeline fixing the clip and input size."""
    return Config(
        dict(
            model=small_yowo_cfg(num_classes=3, with_3d=with_3d),
            test_pipeline=[
                dict(
                    type='KFRSampleFrames',
                    clip_len=clip_len,
                    frame_interval=1,
                    test_mode=True),
                dict(type='Resize', scale=size[::-1], keep_ratio=False),
                dict(type='PackActionInputs'),
            ]))


def make_model(cfg):
    """Random weights with non-trivial BN running statistics (so that a
    mis-exported BN shows) and a tamed head (so that the detections' order is
    not decided by rounding; ``tests/_weights.py``)."""
    torch.manual_seed(0)
    with pytest.warns(UserWarning, match='no checkpoint'):
        model = init_detector(cfg)
    randomize_bn(model, seed=1, affine=False)
    tame_head(model)
    return model


@pytest.fixture(scope='module')
def exported(tmp_path_factory):
    """A PyTorch model and its export directory."""
    cfg = make_cfg()
    model = make_model(cfg)
    out = str(tmp_path_factory.mktemp('onnx'))
    export_onnx_graphs(
        model, out, CLIP_LEN, SIZE, dataset_meta=dict(classes=CLASSES))
    return cfg, model, out


@pytest.fixture(scope='module')
def frames():
    name = sorted(
        f for f in os.listdir(UCF24_MINI_VIDEOS) if f.endswith('.mp4'))[0]
    return list(
        itertools.islice(
            VideoReader(osp.join(UCF24_MINI_VIDEOS, name)), NUM_FRAMES))


def test_manifest(exported):
    cfg, model, out = exported
    manifest = load_manifest(out)
    assert sorted(
        manifest['graphs']) == ['backbone3d', 'keyframe_head', 'per_frame']
    assert manifest['clip_len'] == CLIP_LEN
    assert manifest['input_size'] == list(SIZE)
    assert manifest['strides'] == [8, 16, 32]
    assert manifest['num_classes'] == 3 and manifest['dtype'] == 'float32'
    assert manifest['dataset_meta'] == dict(classes=CLASSES)
    assert manifest['graphs']['keyframe_head']['inputs'] == [
        'frames', 'feat_3d'
    ]
    # Each graph's check against PyTorch at export, on batches of two.
    for graph in manifest['graphs'].values():
        assert graph['max_abs_diff_vs_pytorch'] < 1e-4


def test_graphs_use_the_sigmoid_mish(exported):
    """The 2D branch's Mish is exported as one Sigmoid (mmyowo/deploy/
    export_ops.py), not as Softplus and Tanh, and the model given to the export
    keeps its nn.Mish."""
    import onnx
    _, model, out = exported
    for name in ('per_frame.onnx', 'keyframe_head.onnx'):
        ops = {n.op_type for n in onnx.load(osp.join(out, name)).graph.node}
        assert 'Sigmoid' in ops and not ops & {'Softplus', 'Tanh', 'Mish'}
    assert any(isinstance(m, torch.nn.Mish) for m in model.modules())


@pytest.mark.parametrize('mode', ['per-frame', 'streaming'])
def test_detections_match_pytorch(exported, frames, mode):
    cfg, model, out = exported
    ort_model = init_detector(cfg, out, backend='onnxruntime')
    assert isinstance(ort_model, ORTYOWO)
    assert ort_model.dataset_meta == dict(classes=CLASSES)
    assert ort_model.providers == ['CPUExecutionProvider']
    # The sessions run one after another: their workers must not spin.
    for session in ort_model.sessions.values():
        assert session.get_session_options().get_session_config_entry(
            'session.intra_op.allow_spinning') == '0'
    expected = YOWOVideoDetector(model, mode=mode)(frames)
    actual = YOWOVideoDetector(ort_model, mode=mode)(frames)
    assert len(expected) == NUM_FRAMES
    box, score = max_matched_diffs(actual, expected)
    print(f'{mode}: max box diff {box:.2e} px, max score diff {score:.2e}')
    assert box <= BOX_ATOL and score <= SCORE_ATOL


def test_key_frame_inside_clip(exported, frames):
    """``predict`` with a key frame before the last runs the 3D and the
    key-frame graphs."""
    cfg, model, out = exported
    ort_model = ort_model_from_pytorch(model, out + '_b', CLIP_LEN, SIZE)
    detectors = [YOWOVideoDetector(m) for m in (model, ort_model)]
    clip = torch.stack(
        [detectors[0].preprocess(f)[0] for f in frames[:CLIP_LEN]], dim=1)
    meta = detectors[0].preprocess(frames[0])[1]
    expected, actual = (
        d.detect_clips(clip[None], [meta], key_frame_index=1)
        for d in detectors)
    box, score = max_matched_diffs(actual, expected)
    assert box <= BOX_ATOL and score <= SCORE_ATOL


def test_refuses_exports_that_do_not_fit(exported, tmp_path):
    cfg, _, out = exported
    manifest = osp.join(out, 'manifest.json')
    with pytest.raises(
            ManifestError, match=f'{manifest}.*clip_len 4 '
            r'\(config: 8\)'):
        init_detector(make_cfg(clip_len=8), out, backend='onnxruntime')
    with pytest.raises(ManifestError, match='num_classes 3 .config: 5'):
        init_detector(
            cfg,
            out,
            backend='onnxruntime',
            cfg_options={'model.bbox_head.head_module.num_classes': 5})
    with pytest.raises(ManifestError, match='with_3d True .config: False'):
        init_detector(make_cfg(with_3d=False), out, backend='onnxruntime')
    # A detector asking for another input size than the graphs take.
    ort_model = init_detector(cfg, out, backend='onnxruntime')
    detector = YOWOVideoDetector(ort_model, input_size=(64, 64))
    with pytest.raises(ValueError, match='per_frame.onnx.*input "clip"'):
        detector(np.zeros((2, 48, 64, 3), np.uint8))

    # Broken directories: a copy of the export, tampered with.
    broken = tmp_path / 'broken'
    broken.mkdir()
    for name in os.listdir(out):
        (broken / name).write_bytes(open(osp.join(out, name), 'rb').read())
    data = json.loads((broken / 'manifest.json').read_text())
    (broken / 'backbone3d.onnx').write_bytes(b'not a graph')
    with pytest.raises(ManifestError, match='backbone3d.onnx: SHA-256'):
        load_manifest(str(broken))
    for field, value, message in [
        ('graphs',
         dict(
             data['graphs'],
             per_frame=dict(
                 data['graphs']['per_frame'],
                 file='../per_frame.onnx')), 'not a plain file name'),
        ('clip_len', '4', '"clip_len" must be int'),
        ('dtype', 'float16', "dtype 'float16'"),
        ('format', 'other', 'not an mmyowo ONNX manifest'),
    ]:
        (broken /
         'manifest.json').write_text(json.dumps(dict(data, **{field: value})))
        with pytest.raises(ManifestError, match=message):
            load_manifest(str(broken))
    (broken / 'manifest.json').write_text('{')
    with pytest.raises(ManifestError, match='manifest.json: invalid JSON'):
        load_manifest(str(broken))
    with pytest.raises(ManifestError, match='no manifest'):
        load_manifest(str(tmp_path))


def fake_export(folder, **fields):
    """An export directory of placeholder graphs whose manifest passes
    :func:`load_manifest`'s checks, with ``fields`` replaced."""
    graphs = {}
    for name in ('per_frame', 'keyframe_head'):
        file = f'{name}.onnx'
        (folder / file).write_bytes(name.encode())
        graphs[name] = dict(
            file=file,
            sha256=hashlib.sha256(name.encode()).hexdigest(),
            inputs=[],
            outputs=[])
    manifest = dict(
        format='mmyowo-onnx',
        version=1,
        clip_len=CLIP_LEN,
        input_size=list(SIZE),
        strides=[8, 16, 32],
        num_classes=len(CLASSES),
        with_3d=False,
        dtype='float32',
        opset=17,
        graphs=graphs,
        dataset_meta=dict(classes=CLASSES))
    manifest.update(fields)
    (folder / 'manifest.json').write_text(json.dumps(manifest))
    return str(folder)


def test_manifest_dataset_meta_is_checked(tmp_path):
    manifest = load_manifest(fake_export(tmp_path))
    assert manifest['dataset_meta'] == dict(classes=CLASSES)
    manifest = load_manifest(fake_export(tmp_path, dataset_meta=None))
    assert manifest['dataset_meta'] is None
    for meta, problem in [
        (['a', 'b', 'c'], 'dataset_meta must be a dict'),
        (dict(classes='abc'),
         'dataset_meta.classes must be a list or tuple of str'),
        (dict(classes=CLASSES[:-1]), 'class names for a model with'),
        (dict(classes=['a', 2, 'c']),
         'dataset_meta.classes must be a list or tuple of str'),
    ]:
        fake_export(tmp_path, dataset_meta=meta)
        with pytest.raises(ManifestError, match=problem) as info:
            load_manifest(str(tmp_path))
        assert 'manifest.json' in str(info.value)


def test_deeply_nested_manifest_names_the_file(tmp_path):
    # json's parser recurses per level: RecursionError, unless caught.
    (tmp_path / 'manifest.json').write_text('[' * 100000)
    with pytest.raises(ManifestError, match='manifest.json: invalid JSON'):
        load_manifest(str(tmp_path))


def test_backend_arguments(exported):
    cfg, _, out = exported
    with pytest.raises(ValueError, match='backend must be one of'):
        init_detector(cfg, out, backend='tensorrt')
    with pytest.raises(ValueError, match='needs the exported directory'):
        init_detector(cfg, backend='onnxruntime')
    with pytest.raises(ValueError, match='runs on device "cpu"'):
        init_detector(cfg, out, device='cuda', backend='onnxruntime')
    # An unavailable provider is an error, not onnxruntime's silent
    # fallback to the CPU.
    with pytest.raises(
            ValueError, match='NoSuchExecutionProvider.*not '
            'available'):
        make_session(
            osp.join(out, 'per_frame.onnx'),
            ['NoSuchExecutionProvider', 'CPUExecutionProvider'])


def test_2d_only_model(frames, tmp_path):
    """Without a 3D branch: no 3D graph, the key-frame graph reads the
    frames alone, and both modes match PyTorch."""
    cfg = make_cfg(with_3d=False)
    model = make_model(cfg)
    manifest = export_onnx_graphs(model, str(tmp_path), CLIP_LEN, SIZE)
    assert sorted(manifest['graphs']) == ['keyframe_head', 'per_frame']
    assert manifest['graphs']['keyframe_head']['inputs'] == ['frames']
    assert not osp.exists(tmp_path / 'backbone3d.onnx')
    ort_model = init_detector(cfg, str(tmp_path), backend='onnxruntime')
    for mode in ('per-frame', 'streaming'):
        expected = YOWOVideoDetector(model, mode=mode)(frames[:6])
        actual = YOWOVideoDetector(ort_model, mode=mode)(frames[:6])
        box, score = max_matched_diffs(actual, expected)
        assert box <= BOX_ATOL and score <= SCORE_ATOL


def grouped_conv_ranks(path: str) -> set:
    """The ranks of the weights of a graph's grouped ``Conv`` nodes."""
    import onnx
    graph = onnx.load(path).graph
    dims = {t.name: len(t.dims) for t in graph.initializer}
    ranks = set()
    for node in graph.node:
        groups = [a.i for a in node.attribute if a.name == 'group']
        if node.op_type == 'Conv' and groups and groups[0] > 1:
            ranks.add(dims[node.input[1]])
    return ranks


def test_fast_variant_at_full_size(frames, tmp_path):
    """The fast variant as its configs build it (MobileNetV3 + X3D-S,
    ``configs/_base_/models/yowo_plus_tiny.py``; L = 16 at 224x224), exported
    and run through onnxruntime, gives PyTorch's detections in both modes: the
    tolerances hold for the graphs users export, not only for a small test
    model."""
    tiny = Config.fromfile(
        osp.join(
            osp.dirname(__file__), '..', '..', 'configs', '_base_', 'models',
            'yowo_plus_tiny.py'))
    cfg = make_cfg(clip_len=16, size=(224, 224))
    cfg.model = tiny.model
    model = make_model(cfg)
    export_onnx_graphs(model, str(tmp_path), 16, (224, 224))
    # X3D's depthwise 3D convolutions are exported as grouped 2D ones
    # (export_ops.BandedDepthwiseConv3d); the model keeps its nn.Conv3d.
    assert grouped_conv_ranks(osp.join(str(tmp_path),
                                       'backbone3d.onnx')) == {4}
    assert any(
        isinstance(m, torch.nn.Conv3d) and m.groups == m.in_channels > 1
        for m in model.modules())
    ort_model = init_detector(cfg, str(tmp_path), backend='onnxruntime')
    # One full streaming window and a partial one.
    clip = frames[:18]
    for mode in ('per-frame', 'streaming'):
        expected = YOWOVideoDetector(model, mode=mode)(clip)
        actual = YOWOVideoDetector(ort_model, mode=mode)(clip)
        box, score = max_matched_diffs(actual, expected)
        print(f'{mode}: max box diff {box:.2e} px, max score diff '
              f'{score:.2e}')
        assert box <= BOX_ATOL and score <= SCORE_ATOL
