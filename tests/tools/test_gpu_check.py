"""tools/gpu_check.sh and its parts: the configs it trains, the wheels it
brings, the report it writes, and a dry run of the whole script on the CPU (no
AMP, a few iterations) in an environment made like the GPU machines':

the pinned wheels installed into a private folder, mmcv-lite instead of the
full mmcv.
"""
import json
import os
import os.path as osp
import re
import subprocess

import pytest
from mmengine.config import Config

from tests._paths import REPO

GPU_CHECK = osp.join(REPO, 'tools', 'gpu_check')
CONFIGS = osp.join(REPO, 'configs', 'gpu_check')


def load_report_module():
    import importlib.util
    spec = importlib.util.spec_from_file_location(
        'gpu_check_report', osp.join(GPU_CHECK, 'report.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def pins(path):
    """``{name: version}`` of the ``name==version`` lines of a file."""
    found = {}
    with open(path) as f:
        for line in f:
            match = re.match(r'^([A-Za-z0-9_.-]+)==([^\s#;]+)', line.strip())
            if match:
                found[match.group(1).lower()] = match.group(2)
    return found


def test_wheels_are_the_pinned_stack_with_mmcv_lite():
    wheels = pins(osp.join(GPU_CHECK, 'wheels.txt'))
    runtime = pins(osp.join(REPO, 'requirements', 'runtime.txt'))
    for name in ('mmengine', 'mmdet', 'mmaction2'):
        assert wheels[name] == runtime[name], name
    assert wheels['mmcv-lite'] == runtime['mmcv']
    assert 'mmcv' not in wheels
    # setuptools < 82: mmengine, mmcv and mim import pkg_resources.
    assert int(wheels['setuptools'].split('.')[0]) < 82


def test_the_script_parses():
    subprocess.run(['bash', '-n',
                    osp.join(REPO, 'tools', 'gpu_check.sh')],
                   check=True)


@pytest.mark.parametrize('name,model', [
    ('yowo_plus_synthetic_224.py', 'yowo_plus.py'),
    ('yowo_plus_tiny_synthetic_224.py', 'yowo_plus_tiny.py'),
])
def test_configs_are_the_models_on_the_224_synthetic_set(name, model):
    cfg = Config.fromfile(osp.join(CONFIGS, name))
    base = Config.fromfile(
        osp.join(REPO, 'configs', '_base_', 'models', model))
    model = cfg.model.to_dict()
    expected = base.model.to_dict()
    expected['bbox_head']['head_module']['num_classes'] = 4
    assert model == expected
    assert cfg.train_cfg == dict(
        type='IterBasedTrainLoop', max_iters=100, val_interval=1000)
    sampler = cfg.train_pipeline[0]
    assert sampler == dict(type='KFRSampleFrames', clip_len=16)
    resizes = [
        t for t in cfg.train_pipeline + cfg.test_pipeline
        if t['type'] == 'Resize'
    ]
    assert len(resizes) == 2 and all(t['scale'] == (224, 224) for t in resizes)
    assert cfg.val_dataloader is None and cfg.val_cfg is None


def write_training(work, iters, losses, times, memory):
    run = osp.join(work, '20261205_120000', 'vis_data')
    os.makedirs(run)
    with open(osp.join(run, 'scalars.json'), 'w') as f:
        for it, loss, t in zip(iters, losses, times):
            f.write(
                json.dumps(
                    dict(iter=it, loss=loss, time=t, memory=memory, lr=1e-3)) +
                '\n')


def test_report_reads_what_the_script_leaves(tmp_path):
    out = str(tmp_path)
    with open(osp.join(out, 'env.txt'), 'w') as f:
        f.write('python 3.12.3, torch 2.11.0\nGPU: NVIDIA H100 80GB HBM3\n')
    write_training(
        osp.join(out, 'train_base_fp16'),
        iters=[10, 20, 30, 40],
        losses=[3.0, 2.0, 1.5, 1.25],
        times=[0.9, 0.2, 0.3, 0.1],
        memory=5000)
    with open(osp.join(out, 'train_base_fp16.seconds'), 'w') as f:
        f.write('42\n')
    os.makedirs(osp.join(out, 'train_tiny_bf16'))  # logged no iteration
    with open(osp.join(out, 'train_tiny_bf16.seconds'), 'w') as f:
        f.write('7\n')
    with open(osp.join(out, 'test_base.log'), 'w') as f:
        f.write('12/05 16:21:39 - mmengine - INFO - Iter(test) [20/20]    '
                'mAP/frame@0.5: 0.1250  mAP/video@0.2: 0.0000\n')
    with open(osp.join(out, 'test_base.seconds'), 'w') as f:
        f.write('9\n')
    with open(osp.join(out, 'bench_base.md'), 'w') as f:
        f.write('| a | b |\n|---|---|\n| 1 | 2 |\n')
    with open(osp.join(out, 'total.seconds'), 'w') as f:
        f.write('300\n')
    report = load_report_module()
    report.main([out])
    with open(osp.join(out, 'report.md')) as f:
        text = f.read()
    assert '- GPU: NVIDIA H100 80GB HBM3' in text
    assert '- whole check: 300 s' in text
    # Median s/iter over the second half of the logged iterations (0.3,
    # 0.1), the last loss, the peak memory.
    assert '| base_fp16 | 40 | 42 | 0.200 | 1.2500 | 5000 |' in text
    assert '| tiny_bf16 | - | 7 | no iteration logged | - | - |' in text
    assert '- base (9 s): mAP/frame@0.5: 0.1250  mAP/video@0.2: 0.0000' \
        in text
    assert '## Inference benchmark: base\n\n| a | b |' in text


@pytest.mark.parametrize(
    'line, problem',
    [
        ('{"iter": 10, "loss"', 'invalid JSON'),
        # json's parser recurses per level: RecursionError.
        ('[' * 100000, 'invalid JSON'),
        ('["loss", "iter"]', 'not a JSON object'),
    ])
def test_report_names_a_broken_scalars_file(tmp_path, line, problem):
    work = osp.join(str(tmp_path), 'train_base_fp16')
    write_training(work, [10], [3.0], [0.5], 100)
    scalars = osp.join(work, '20261205_120000', 'vis_data', 'scalars.json')
    with open(scalars, 'a') as f:
        f.write(line + '\n')
    report = load_report_module()
    with pytest.raises(ValueError, match=problem) as info:
        report.build_report(str(tmp_path))
    assert f'{scalars}:2' in str(info.value)


def test_report_names_a_broken_seconds_file(tmp_path):
    path = osp.join(str(tmp_path), 'total.seconds')
    with open(path, 'w') as f:
        f.write('forty\n')
    report = load_report_module()
    with pytest.raises(ValueError, match='not a whole number of seconds') \
            as info:
        report.build_report(str(tmp_path))
    assert path in str(info.value)
