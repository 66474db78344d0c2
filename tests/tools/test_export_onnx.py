"""tools/deployment/export_onnx.py: the exported graph runs in onnxruntime and
matches PyTorch."""
import importlib.util
import json
import os.path as osp

import numpy as np
import onnx
import pytest
import torch
from mmaction.registry import MODELS
from mmengine.config import Config
from mmengine.registry import init_default_scope

from .._weights import randomize_bn
from ..models._cfgs import small_yowo_cfg

TOOL = osp.join(
    osp.dirname(__file__), '..', '..', 'tools', 'deployment', 'export_onnx.py')


def _load_tool():
    spec = importlib.util.spec_from_file_location('mmyowo_export_onnx', TOOL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


export_onnx = _load_tool()


def test_export_matches_pytorch(tmp_path):
    clip_len, shape = 4, (64, 96)
    cfg = small_yowo_cfg(num_classes=3)
    init_default_scope('mmaction')
    torch.manual_seed(0)
    model = MODELS.build(cfg)
    randomize_bn(model, seed=1, affine=False)
    model.eval()
    cfg_file = str(tmp_path / 'cfg.py')
    Config(dict(model=cfg)).dump(cfg_file)
    ckpt = str(tmp_path / 'model.pth')
    torch.save({'state_dict': model.state_dict()}, ckpt)
    out = str(tmp_path / 'onnx' / 'yowo.onnx')
    export_onnx.main([
        cfg_file, '--checkpoint', ckpt, '--clip-len',
        str(clip_len), '--shape', *map(str, shape), '--output', out,
        '--dynamic-batch'
    ])

    graph = onnx.load(out).graph
    assert [i.name for i in graph.input] == ['clip']
    assert [o.name
            for o in graph.output] == ['maps_s8', 'maps_s16', 'maps_s32']

    clip = torch.randn(
        2, 3, clip_len, *shape, generator=torch.Generator().manual_seed(2))
    actual = export_onnx.run_onnxruntime(out, clip.numpy())
    with torch.no_grad():
        # The model's own tensor mode, key frame last by default.
        expected = model(clip, mode='tensor')
    assert len(actual) == 3
    for a, e, stride in zip(actual, expected, (8, 16, 32)):
        assert a.shape == (2, 3 * (5 + 3), shape[0] // stride,
                           shape[1] // stride)
        np.testing.assert_allclose(a, e.numpy(), atol=1e-4, rtol=1e-4)


def test_bad_shape(tmp_path):
    cfg_file = str(tmp_path / 'cfg.py')
    Config(dict(model=small_yowo_cfg(num_classes=3))).dump(cfg_file)
    with pytest.raises(ValueError, match='multiples'):
        export_onnx.main([
            cfg_file, '--shape', '60', '64', '--output',
            str(tmp_path / 'x.onnx')
        ])


def test_out_dir_writes_both_modes_graphs(tmp_path, capsys):
    """--out-dir: the three graphs and the manifest, with the settings of
    the config's test pipeline and the checkpoint's class names."""
    cfg = small_yowo_cfg(num_classes=3)
    cfg_file = str(tmp_path / 'cfg.py')
    Config(
        dict(
            model=cfg,
            test_pipeline=[
                dict(type='SampleFrames', clip_len=3, test_mode=True),
                dict(type='Resize', scale=(96, 64), keep_ratio=False)
            ])).dump(cfg_file)
    init_default_scope('mmaction')
    ckpt = str(tmp_path / 'model.pth')
    torch.save(
        {
            'state_dict': MODELS.build(cfg).state_dict(),
            'meta': dict(dataset_meta=dict(classes=['a', 'b', 'c']))
        }, ckpt)
    out = tmp_path / 'onnx'
    export_onnx.main([cfg_file, '--checkpoint', ckpt, '--out-dir', str(out)])
    manifest = json.loads((out / 'manifest.json').read_text())
    assert manifest['clip_len'] == 3 and manifest['input_size'] == [64, 96]
    assert manifest['dataset_meta'] == dict(classes=['a', 'b', 'c'])
    assert sorted(p.name for p in out.iterdir()) == [
        'backbone3d.onnx', 'keyframe_head.onnx', 'manifest.json',
        'per_frame.onnx'
    ]
    printed = capsys.readouterr().out
    assert printed.count('max |onnxruntime - pytorch|') == 3
    for graph in manifest['graphs'].values():
        assert graph['max_abs_diff_vs_pytorch'] < 1e-4
        graph_file = onnx.load(str(out / graph['file'])).graph
        assert [i.name for i in graph_file.input] == graph['inputs']
        assert [o.name for o in graph_file.output] == graph['outputs']
    with pytest.raises(SystemExit):
        export_onnx.parse_args(
            [cfg_file, '--out-dir',
             str(out), '--output', 'x.onnx'])
