"""Helpers of the end-to-end tests: a tiny synthetic set, a config on it and
the stock tools run as subprocesses."""
import os
import os.path as osp
import subprocess
import sys
from typing import Sequence

from mmyowo.preparation.synthetic import generate_synthetic_dataset

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
PYTHON = sys.executable
MIM = osp.join(osp.dirname(PYTHON), 'mim')


def make_tiny_data(root: str) -> str:
    """Generate 3 training and 2 test videos of 24 frames under ``root``."""
    generate_synthetic_dataset(
        str(root),
        num_train_videos=3,
        num_test_videos=2,
        num_frames=24,
        seed=1)
    return str(root)


def write_config(tmp_path,
                 data_root: str,
                 max_epochs: int,
                 extra: str = '',
                 name: str = '') -> str:
    """Write the synthetic config shrunk to the tiny set (batch 4, no workers,
    constant lr, validation and a checkpoint every epoch).

    Args:
        tmp_path (Path): Folder of the config.
        data_root (str): Output of :func:`make_tiny_data`.
        max_epochs (int): Training epochs.
        extra (str): Config lines appended at the end.
        name (str): Suffix of the file name, for several configs in one
            folder.

    Returns:
        str: Path of the config.
    """
    ann = osp.join(data_root, 'annotations', 'synthetic_gt.pkl')
    frames = osp.join(data_root, 'rawframes')
    base = osp.join(REPO, 'configs', 'yowo_plus_synthetic.py')
    path = tmp_path / f'tiny_{max_epochs}e{name}.py'
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
''' + extra)
    return str(path)


def run_command(cmd: Sequence[str], cwd, timeout: int = 900) -> str:
    """Run ``cmd``, assert it succeeds and return its merged output."""
    env = dict(os.environ, PYTHONUNBUFFERED='1')
    proc = subprocess.run(
        list(cmd),
        cwd=cwd,
        env=env,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        timeout=timeout)
    assert proc.returncode == 0, proc.stdout[-5000:]
    return proc.stdout


def mim(*args, cwd) -> str:
    """Run ``mim *args`` (e.g. ``train mmaction CONFIG``)."""
    return run_command([MIM, *args], cwd=cwd)
