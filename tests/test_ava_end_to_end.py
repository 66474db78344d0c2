"""AVA end to end through the stock tools: ``mim train`` and ``mim test`` of
the AVA recipe (YOWOAVADataset, AVARawFrameDecode, multi-hot targets,
YOWOAVAMetric) on a tiny synthetic set in MMAction2's AVA layout."""
import math
import os
import os.path as osp
import re

import pytest
from mmengine.config import Config

from mmyowo.preparation.synthetic_ava import (AVA_SYNTHETIC_ACTIONS,
                                              generate_synthetic_ava)
from ._e2e import REPO, mim

SECONDS = 4
NUM_ACTIONS = len(AVA_SYNTHETIC_ACTIONS)


@pytest.fixture(scope='module')
def tiny_ava(tmp_path_factory):
    return generate_synthetic_ava(
        str(tmp_path_factory.mktemp('ava')),
        num_train_videos=3,
        num_val_videos=2,
        seconds=SECONDS,
        seed=0)


def write_ava_config(tmp_path, files) -> str:
    """The AVA v2.2 recipe with the small from-scratch model of the synthetic
    recipe, 8-frame 128x128 clips and the tiny set's files."""
    cfg = Config.fromfile(osp.join(REPO, 'configs', 'yowo_plus_ava_v2.2.py'))
    small = Config.fromfile(
        osp.join(REPO, 'configs', 'yowo_plus_synthetic.py'))
    cfg.model = small.model
    cfg.model.bbox_head.head_module.num_classes = NUM_ACTIONS
    cfg.optim_wrapper = small.optim_wrapper
    cfg.param_scheduler = [dict(type='ConstantLR', factor=1.0, by_epoch=True)]
    cfg.custom_hooks = []
    cfg.train_cfg = dict(
        type='EpochBasedTrainLoop', max_epochs=1, val_begin=1, val_interval=1)
    cfg.default_hooks.logger.interval = 1
    cfg.randomness = dict(seed=0)
    for split in ('train', 'val', 'test'):
        loader = cfg[f'{split}_dataloader']
        loader.update(batch_size=4, num_workers=0, persistent_workers=False)
        csv = 'train' if split == 'train' else 'val'
        loader.dataset.update(
            ann_file=files[f'{csv}_csv'],
            exclude_file=files[f'{csv}_exclude'],
            label_file=files['label_file'],
            num_classes=NUM_ACTIONS + 1,
            timestamp_end=900 + SECONDS,
            data_prefix=dict(img=files['rawframes']))
        for transform in loader.dataset.pipeline:
            if transform['type'] == 'KFRSampleFrames':
                transform['clip_len'] = 8
            if transform['type'] == 'Resize':
                transform['scale'] = (128, 128)
    for split in ('val', 'test'):
        cfg[f'{split}_evaluator'].update(
            ann_file=files['val_csv'],
            exclude_file=files['val_exclude'],
            label_file=files['eval_label_file'],
            num_classes=NUM_ACTIONS + 1,
            num_workers=0)
    path = str(tmp_path / 'tiny_ava.py')
    cfg.dump(path)
    return path


def logged_map(out: str) -> float:
    values = re.findall(r'mAP/overall: ([0-9.]+|nan)', out)
    assert values, out[-3000:]
    return float(values[-1])


def test_mim_train_and_test_on_ava_layout(tmp_path, tiny_ava):
    config = write_ava_config(tmp_path, tiny_ava)
    work_dir = tmp_path / 'work'
    out = mim(
        'train', 'mmaction', config, '--work-dir', str(work_dir), cwd=tmp_path)
    assert (work_dir / 'epoch_1.pth').is_file()
    # 3 videos x 3 key frames, one excluded; batches of 4 -> 2 iterations.
    assert '8 of 9 key frames kept, 1 excluded' in out
    assert re.search(r'Epoch\(train\) \[1\]\[2/2\]', out), out[-3000:]
    assert math.isfinite(logged_map(out))
    # The checkpoint hook found the metric it saves the best model by.
    assert list(work_dir.glob('best_mAP_overall_epoch_1.pth'))

    out = mim(
        'test',
        'mmaction',
        config,
        '--checkpoint',
        str(work_dir / 'epoch_1.pth'),
        '--work-dir',
        str(tmp_path / 'test'),
        cwd=tmp_path)
    value = logged_map(out)
    assert math.isfinite(value) and 0 <= value <= 1
    # AVAMetric's temporary result CSV went to a temporary folder.
    assert sorted(os.listdir(tmp_path)) == ['test', 'tiny_ava.py', 'work']
