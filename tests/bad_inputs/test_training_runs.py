"""Trainings a new user gets wrong (issue 17, section 3, items 7, 10, 13): a
typo in the checkpoint hook, ``--resume`` after a kill during the final
validation, and two trainings in one work dir.

The trainings run what ``mim train`` runs (mmaction's tools/train.py:
``Runner.from_cfg`` then ``train()``; ``--resume`` sets ``resume=True``) in
this process, except the training that holds a work dir, which is mmaction's
``train.py`` in a subprocess, as a user's first ``mim train`` would be.
"""
import glob
import os
import os.path as osp
import socket
import subprocess
import time

import mmaction
import pytest
from mmengine.config import Config
from mmengine.runner import Runner

from mmyowo.engine.hooks import WorkDirLockedError
from mmyowo.evaluation.metrics import FrameMAPMetric
from .._e2e import PYTHON, write_config

TRAIN_PY = osp.join(
    osp.dirname(mmaction.__file__), '.mim', 'tools', 'train.py')

#: One short epoch, validated on every 4th frame, keeping the best
#: checkpoint.
VALIDATED_RUN = '''
loader = dict(batch_size=4, num_workers=0, persistent_workers=False)
train_dataloader = dict(loader, dataset=dict(data, key_frame_stride=3))
val_dataloader = dict(loader, dataset=dict(data, key_frame_stride=4))
val_evaluator = dict(ann_file=ann_file, video_iou_thrs=None)
default_hooks = dict(logger=dict(interval=1),
                     checkpoint=dict(interval=1, save_best='auto'))
'''


class Killed(BaseException):
    """Stands for the SIGKILL that stops a training at that point."""


def log_of(runner) -> str:
    """The text a runner logged."""
    with open(osp.join(runner.log_dir, f'{runner.timestamp}.log')) as f:
        return f.read()


def test_unknown_checkpoint_hook_argument_is_refused_before_training(
        tiny_config, tmp_path):
    """``max_keep_ckpt`` (for ``max_keep_ckpts``) trained a whole epoch, then
    failed inside mmengine's ``save_checkpoint`` with no checkpoint."""
    cfg = Config.fromfile(tiny_config)
    cfg.work_dir = str(tmp_path / 'work')
    cfg.default_hooks.checkpoint.max_keep_ckpt = 1
    with pytest.raises(TypeError) as info:
        Runner.from_cfg(cfg).train()
    assert "AtomicCheckpointHook (default_hooks.checkpoint in the config) " \
        "got unknown argument(s) 'max_keep_ckpt' (did you mean " \
        "'max_keep_ckpts'?)" in str(info.value)
    assert not glob.glob(str(tmp_path / 'work' / 'epoch_*.pth'))


def test_resume_runs_the_validation_a_kill_interrupted(tiny_data, tmp_path,
                                                       monkeypatch):
    """Killed during the validation of the last epoch, ``--resume`` reported
    success at once: no validation, no best checkpoint."""
    cfg = Config.fromfile(
        write_config(tmp_path, tiny_data, 1, extra=VALIDATED_RUN))
    cfg.work_dir = str(tmp_path / 'work')

    def killed(*args, **kwargs):
        raise Killed

    with monkeypatch.context() as patch:
        patch.setattr(FrameMAPMetric, 'compute_metrics', killed)
        with pytest.raises(Killed):
            Runner.from_cfg(cfg).train()
    assert osp.isfile(osp.join(cfg.work_dir, 'epoch_1.pth'))
    assert not glob.glob(osp.join(cfg.work_dir, 'best_*.pth'))

    cfg.resume = True
    runner = Runner.from_cfg(cfg)
    runner.train()
    log = log_of(runner)
    assert 'resumed epoch: 1' in log
    assert 'The validation after epoch 1 did not complete before the ' \
        'previous run stopped; running it now' in log
    assert 'Epoch(val) [1]' in log
    assert glob.glob(osp.join(cfg.work_dir, 'best_mAP_frame@0.5_epoch_1.pth'))

    # A validation that completed is not run again.
    calls = []
    with monkeypatch.context() as patch:
        patch.setattr(FrameMAPMetric, 'compute_metrics',
                      lambda *args: calls.append(args) or {})
        Runner.from_cfg(cfg).train()
    assert calls == []


def wait_for(path, proc, log_path, timeout=300):
    """Wait until ``path`` exists while ``proc`` runs."""
    end = time.monotonic() + timeout
    while not osp.exists(path):
        assert proc.poll() is None, open(log_path).read()[-3000:]
        assert time.monotonic() < end, open(log_path).read()[-3000:]
        time.sleep(0.2)


def test_second_training_in_a_work_dir_in_use_is_refused(
        tiny_data, tiny_config, tmp_path):
    """Both trainings used to run to the end, the second overwriting and
    pruning the first's checkpoints; once the first is killed, ``--resume``
    takes its lock over."""
    work = str(tmp_path / 'work')
    lock = osp.join(work, 'train.lock')
    # The first training: long enough to be running throughout.
    first_cfg = write_config(
        tmp_path,
        tiny_data,
        100,
        name='_first',
        extra='train_cfg = dict(max_epochs=100, val_begin=1000)\n')
    log_path = str(tmp_path / 'first.log')
    with open(log_path, 'w') as log:
        proc = subprocess.Popen(
            [PYTHON, TRAIN_PY, first_cfg, '--work-dir', work],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=dict(os.environ, PYTHONUNBUFFERED='1'))
    try:
        wait_for(lock, proc, log_path)
        cfg = Config.fromfile(tiny_config)
        cfg.work_dir = work
        with pytest.raises(WorkDirLockedError) as info:
            Runner.from_cfg(cfg).train()
        assert str(info.value).startswith(
            f'the work dir {work} is in use by another training: process '
            f'{proc.pid} on host {socket.gethostname()}, started '), str(
                info.value)
        assert f'lock file {lock}' in str(info.value)
        assert proc.poll() is None
    finally:
        proc.kill()
        proc.wait()

    cfg.resume = True
    runner = Runner.from_cfg(cfg)
    runner.train()
    assert f'{lock}: taking over the lock of a training that no longer runs ' \
        f'(process {proc.pid} on host {socket.gethostname()}' in log_of(runner)
    assert not osp.exists(lock)
