"""End to end through the stock OpenMMLab tools: ``mim train`` (with
``--resume``) and ``mim test`` on a tiny generated synthetic set."""
import os
import os.path as osp
import re
import subprocess
import sys

import pytest
import torch

from mmyowo.datasets.synthetic import generate_synthetic_dataset

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
MIM = osp.join(osp.dirname(sys.executable), 'mim')


def write_config(tmp_path, data_root: str, max_epochs: int) -> str:
    ann = osp.join(data_root, 'annotations', 'synthetic_gt.pkl')
    frames = osp.join(data_root, 'rawframes')
    base = osp.join(REPO, 'configs', 'yowo_plus_synthetic.py')
    path = tmp_path / f'tiny_{max_epochs}e.py'
    path.write_text(f'''
_base_ = [{base!r}]
ann_file = {ann!r}
data = dict(ann_file=ann_file, data_prefix=dict(img={frames!r}))
train_dataloader = dict(batch_size=4, num_workers=0, persistent_workers=False,
                        dataset=data)
val_dataloader = dict(batch_size=4, num_workers=0, persistent_workers=False,
                      dataset=data)
test_dataloader = dict(batch_size=4, num_workers=0, persistent_workers=False,
                       dataset=data)
val_evaluator = dict(ann_file=ann_file)
test_evaluator = dict(ann_file=ann_file)
train_cfg = dict(max_epochs={max_epochs}, val_begin=1, val_interval=1)
param_scheduler = [dict(type='ConstantLR', factor=1.0, by_epoch=True)]
default_hooks = dict(logger=dict(interval=1),
                     checkpoint=dict(interval=1, max_keep_ckpts=5,
                                     save_best=None))
''')
    return str(path)


def mim(*args, cwd):
    env = dict(os.environ, PYTHONUNBUFFERED='1')
    proc = subprocess.run([MIM, *args], cwd=cwd, env=env, text=True,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          timeout=900)
    assert proc.returncode == 0, proc.stdout[-5000:]
    return proc.stdout


@pytest.fixture(scope='module')
def tiny_data(tmp_path_factory):
    root = tmp_path_factory.mktemp('synthetic')
    generate_synthetic_dataset(str(root), num_train_videos=3,
                               num_test_videos=2, num_frames=24, seed=1)
    return str(root)


def test_mim_train_resume_and_test(tmp_path, tiny_data):
    work_dir = tmp_path / 'work'
    out = mim('train', 'mmaction', write_config(tmp_path, tiny_data, 1),
              '--work-dir', str(work_dir), cwd=tmp_path)
    assert (work_dir / 'epoch_1.pth').is_file()
    assert 'mAP/frame@0.5' in out

    # "Interrupted" after epoch 1: resume to epoch 2 from the last checkpoint.
    out = mim('train', 'mmaction', write_config(tmp_path, tiny_data, 2),
              '--work-dir', str(work_dir), '--resume', cwd=tmp_path)
    assert re.search(r'resumed epoch: 1, iter: \d+', out), out[-3000:]
    assert 'Epoch(train) [2]' in out and 'Epoch(train) [1]' not in out
    ckpt = torch.load(work_dir / 'epoch_2.pth', weights_only=True)
    assert ckpt['meta']['epoch'] == 2
    iters_per_epoch = ckpt['meta']['iter'] // 2
    assert iters_per_epoch > 0

    out = mim('test', 'mmaction', write_config(tmp_path, tiny_data, 2),
              '--checkpoint', str(work_dir / 'epoch_2.pth'),
              '--work-dir', str(tmp_path / 'test'), cwd=tmp_path)
    for key in ('mAP/frame@0.5', 'mAP/video@0.2', 'mAP/video@0.5',
                'mAP/video@0.75'):
        assert re.search(re.escape(key) + r': [0-9.]+', out), key
