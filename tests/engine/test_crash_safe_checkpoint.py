"""Crash-safe checkpoints: atomic writes, pointer order, resume fallback.

Writes are broken the way a real crash breaks them: ``RLIMIT_FSIZE`` stops
the write after a few KiB, either with an error (Python ignores SIGXFSZ, so
``write`` raises EFBIG) or, in a forked child that restores SIGXFSZ's default
action, by killing the process mid-write. The end-to-end kill loop is in
``test_crash_safe_training.py``.
"""
import multiprocessing
import os
import os.path as osp
import pickle
import resource
import signal
import struct
import uuid
import zipfile
from contextlib import contextmanager

import pytest
import torch
import torch.nn as nn
from mmengine.evaluator import BaseMetric
from mmengine.hooks import CheckpointHook, Hook
from mmengine.model import BaseModel
from mmengine.registry import DefaultScope
from mmengine.runner import Runner
from torch.utils.data import Dataset

from mmyowo.engine import checkpoint_problem
from mmyowo.engine.atomic_io import (AtomicLocalBackend, atomic_write_bytes,
                                     is_temporary)
from ..fileio._payloads import set_zip_flags

LIMIT = 8 * 1024  # bytes a broken write gets to disk; checkpoints are larger


class _Toy(BaseModel):

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(64, 64)

    def forward(self, inputs, data_samples=None, mode='tensor'):
        out = self.fc(inputs)
        return dict(loss=out.pow(2).mean()) if mode == 'loss' else out


class _Data(Dataset):

    def __len__(self):
        return 8

    def __getitem__(self, i):
        return dict(inputs=torch.full((64, ), float(i) / 8))


class _StartIter(Hook):
    """Records the iteration training starts from (after any resume)."""

    def before_train(self, runner):
        self.iter = runner.iter


def make_runner(work_dir,
                max_iters,
                hook_type='AtomicCheckpointHook',
                max_keep_ckpts=-1,
                resume=False,
                **kwargs):
    """A Runner of ``_Toy``, by iterations with a checkpoint after each unless
    ``kwargs`` (Runner arguments) say otherwise."""
    start = _StartIter()
    checkpoint = dict(
        type=hook_type,
        interval=1,
        by_epoch=False,
        max_keep_ckpts=max_keep_ckpts)
    checkpoint.update(kwargs.pop('checkpoint', {}))
    args = dict(
        model=_Toy(),
        work_dir=str(work_dir),
        default_scope='mmaction',
        experiment_name=f'toy_{uuid.uuid4().hex}',
        train_dataloader=dict(
            dataset=_Data(),
            batch_size=2,
            num_workers=0,
            collate_fn=dict(type='default_collate'),
            sampler=dict(type='DefaultSampler', shuffle=False)),
        optim_wrapper=dict(optimizer=dict(type='AdamW', lr=1e-3)),
        param_scheduler=dict(type='ConstantLR', factor=1.0, by_epoch=False),
        train_cfg=dict(type='IterBasedTrainLoop', max_iters=max_iters),
        default_hooks=dict(checkpoint=checkpoint),
        custom_hooks=[start],
        resume=resume)
    args.update(kwargs)
    # The Runner makes its scope the process-wide default; restore it.
    with DefaultScope.overwrite_default_scope('mmaction'):
        runner = Runner(**args)
    return runner, start


def train(runner):
    with DefaultScope.overwrite_default_scope('mmaction'):
        runner.train()


def log_text(runner):
    with open(osp.join(runner.log_dir, f'{runner.timestamp}.log')) as f:
        return f.read()


def pointer(work_dir):
    with open(osp.join(work_dir, 'last_checkpoint')) as f:
        return f.read()


def loads(path):
    """Independent check: torch's own loader reads the whole file (written
    by this test, so full unpickling is safe)."""
    return torch.load(path, map_location='cpu', weights_only=False)


def temporaries(folder):
    return [n for n in os.listdir(folder) if is_temporary(n)]


@contextmanager
def file_size_limit(limit):
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))


def save_next(runner):
    """What the hook does after the next iteration: save ``iter + 1``."""
    hook = [h for h in runner.hooks if isinstance(h, CheckpointHook)][0]
    hook._save_checkpoint(runner)


def test_atomic_write_bytes(tmp_path):
    path = tmp_path / 'sub' / 'f.bin'
    atomic_write_bytes(b'old', path)
    atomic_write_bytes(b'new content', path)
    assert path.read_bytes() == b'new content'
    assert temporaries(path.parent) == []
    # The umask decides the mode, as for a file opened with open().
    ref = tmp_path / 'ref'
    ref.write_bytes(b'')
    assert path.stat().st_mode == ref.stat().st_mode


def test_atomic_write_error_keeps_previous_content(tmp_path):
    path = tmp_path / 'f.bin'
    path.write_bytes(b'previous')
    with file_size_limit(LIMIT), pytest.raises(OSError):
        atomic_write_bytes(os.urandom(4 * LIMIT), path)
    assert path.read_bytes() == b'previous'
    assert temporaries(tmp_path) == []


def test_checkpoint_problem(tmp_path):
    path = str(tmp_path / 'ok.pth')
    torch.save(dict(w=torch.arange(5000.0), meta=dict(iter=3)), path)
    assert checkpoint_problem(path) is None
    with open(path, 'rb') as f:
        data = f.read()
    for cut in (1, len(data) // 3, len(data) - 1):
        part = tmp_path / f'cut{cut}.pth'
        part.write_bytes(data[:cut])
        assert 'truncated' in checkpoint_problem(str(part))
        # torch fails in one of several ways depending on the cut.
        with pytest.raises((RuntimeError, OSError, pickle.UnpicklingError)):
            loads(part)
    # One flipped bit in the tensor data: only the CRC tells.
    with zipfile.ZipFile(path) as archive:
        info = [i for i in archive.infolist() if '/data/' in i.filename][0]
    # The member's bytes start after its local header (torch pads the
    # header's extra field, so read both lengths from the file).
    offset = info.header_offset
    name_len, extra_len = struct.unpack('<HH', data[offset + 26:offset + 30])
    flipped = bytearray(data)
    flipped[offset + 30 + name_len + extra_len + 100] ^= 1
    bad = tmp_path / 'flip.pth'
    bad.write_bytes(bytes(flipped))
    assert 'CRC' in checkpoint_problem(str(bad))
    (tmp_path / 'empty.pth').write_bytes(b'')
    assert 'empty' in checkpoint_problem(str(tmp_path / 'empty.pth'))
    assert 'does not exist' in checkpoint_problem(str(tmp_path / 'nope.pth'))
    with zipfile.ZipFile(tmp_path / 'other.zip', 'w') as archive:
        archive.writestr('a.txt', 'x')
    assert 'data.pkl' in checkpoint_problem(str(tmp_path / 'other.zip'))


@pytest.mark.parametrize('bits, reason', [(0x1, 'encrypted'),
                                          (0x20, 'patch data'),
                                          (0x40, 'encrypted')])
def test_checkpoint_problem_of_records_zipfile_cannot_read(
        tmp_path, bits, reason):
    """Zipfile raises RuntimeError / NotImplementedError for these records,
    which crashed auto-resume instead of skipping the file."""
    path = tmp_path / 'ok.pth'
    torch.save(dict(w=torch.ones(3)), path)
    with zipfile.ZipFile(path) as archive:
        first = archive.infolist()[0].filename
    path.write_bytes(set_zip_flags(path.read_bytes(), bits))
    problem = checkpoint_problem(str(path))
    assert problem is not None and reason in problem
    assert first in problem


def test_checkpoint_problem_of_a_broken_deflate_stream(tmp_path):
    path = tmp_path / 'deflated.pth'
    with zipfile.ZipFile(path, 'w', zipfile.ZIP_DEFLATED) as archive:
        archive.writestr('archive/data.pkl', pickle.dumps(list(range(999))))
    data = bytearray(path.read_bytes())
    # The first byte of the stream: block type 3 (reserved) is invalid.
    data[30 + len('archive/data.pkl')] |= 0x06
    path.write_bytes(bytes(data))
    problem = checkpoint_problem(str(path))
    assert problem is not None and 'archive/data.pkl' in problem


def test_saves_prune_after_pointer(tmp_path):
    runner, _ = make_runner(tmp_path, max_iters=3, max_keep_ckpts=2)
    train(runner)
    names = sorted(n for n in os.listdir(tmp_path) if n.endswith('.pth'))
    assert names == ['iter_2.pth', 'iter_3.pth']
    assert pointer(tmp_path) == str(tmp_path / 'iter_3.pth')
    for step in (2, 3):
        assert loads(tmp_path / f'iter_{step}.pth')['meta']['iter'] == step
    assert temporaries(tmp_path) == []


class _Rising(BaseMetric):
    """A metric that improves at every validation: 1, 2, 3..."""

    def __init__(self):
        super().__init__()
        self.calls = 0

    def process(self, data_batch, data_samples):
        self.results.append(0)

    def compute_metrics(self, results):
        self.calls += 1
        return dict(acc=float(self.calls))


def test_best_checkpoints_are_written_atomically(tmp_path, monkeypatch):
    written = []
    put = AtomicLocalBackend.put

    def spy(self, obj, filepath):
        written.append(osp.basename(filepath))
        put(self, obj, filepath)

    monkeypatch.setattr(AtomicLocalBackend, 'put', spy)
    runner, _ = make_runner(
        tmp_path,
        None,
        max_keep_ckpts=1,
        checkpoint=dict(by_epoch=True, save_best='acc', rule='greater'),
        train_cfg=dict(by_epoch=True, max_epochs=2, val_interval=1),
        val_dataloader=dict(
            dataset=_Data(),
            batch_size=2,
            num_workers=0,
            collate_fn=dict(type='default_collate'),
            sampler=dict(type='DefaultSampler', shuffle=False)),
        val_cfg=dict(),
        val_evaluator=[_Rising()])
    train(runner)
    # Epoch, best, then the epoch again (mmengine re-saves it to record
    # the new best in its message hub): every one through the atomic put.
    assert written == [
        'epoch_1.pth', 'best_acc_epoch_1.pth', 'epoch_1.pth', 'epoch_2.pth',
        'best_acc_epoch_2.pth', 'epoch_2.pth'
    ]
    names = sorted(n for n in os.listdir(tmp_path) if n.endswith('.pth'))
    assert names == ['best_acc_epoch_2.pth', 'epoch_2.pth']
    for name in names:
        assert loads(tmp_path / name)['meta']['epoch'] == 2
    assert pointer(tmp_path) == str(tmp_path / 'epoch_2.pth')


def test_fault_injection_breaks_the_stock_hook(tmp_path):
    # The defect (issue 10, item 3) reproduced with mmengine's hook: a write
    # stopped mid-way leaves a truncated file under the final name, and
    # with max_keep_ckpts=1 the previous checkpoint is already gone.
    runner, _ = make_runner(
        tmp_path, max_iters=2, max_keep_ckpts=1, hook_type='CheckpointHook')
    train(runner)
    with file_size_limit(LIMIT), pytest.raises(OSError):
        save_next(runner)
    assert not (tmp_path / 'iter_2.pth').exists()
    assert (tmp_path / 'iter_3.pth').stat().st_size == LIMIT
    assert 'truncated' in checkpoint_problem(str(tmp_path / 'iter_3.pth'))


def test_write_error_keeps_previous_checkpoint(tmp_path):
    runner, _ = make_runner(tmp_path, max_iters=2, max_keep_ckpts=1)
    train(runner)
    before = (tmp_path / 'iter_2.pth').read_bytes()
    with file_size_limit(LIMIT), pytest.raises(OSError):
        save_next(runner)
    assert not (tmp_path / 'iter_3.pth').exists()
    assert (tmp_path / 'iter_2.pth').read_bytes() == before
    assert pointer(tmp_path) == str(tmp_path / 'iter_2.pth')
    assert temporaries(tmp_path) == []


def _killed_mid_save(runner):
    signal.signal(signal.SIGXFSZ, signal.SIG_DFL)
    resource.setrlimit(resource.RLIMIT_FSIZE, (LIMIT, LIMIT))
    save_next(runner)


def test_kill_mid_write_then_resume(tmp_path):
    runner, _ = make_runner(tmp_path, max_iters=2, max_keep_ckpts=1)
    train(runner)
    before = (tmp_path / 'iter_2.pth').read_bytes()
    child = multiprocessing.get_context('fork').Process(
        target=_killed_mid_save, args=(runner, ))
    child.start()
    child.join(60)
    assert child.exitcode == -signal.SIGXFSZ  # killed by the kernel
    leftover = temporaries(tmp_path)
    assert [n.split('.tmp-')[1].split('-')[0]
            for n in leftover] == [str(child.pid)]
    assert not (tmp_path / 'iter_3.pth').exists()
    assert (tmp_path / 'iter_2.pth').read_bytes() == before
    assert pointer(tmp_path) == str(tmp_path / 'iter_2.pth')

    resumed, start = make_runner(
        tmp_path, max_iters=4, max_keep_ckpts=1, resume=True)
    train(resumed)
    assert start.iter == 2
    assert loads(tmp_path / 'iter_4.pth')['meta']['iter'] == 4
    assert temporaries(tmp_path) == []  # removed by the first new save


def _older_version_leftovers(tmp_path, pointer_text):
    """A work dir as a kill during a non-atomic save leaves it: complete
    iter_1/iter_2, a truncated iter_3 and a stale temporary."""
    runner, _ = make_runner(tmp_path, max_iters=3)
    train(runner)
    data = (tmp_path / 'iter_3.pth').read_bytes()
    (tmp_path / 'iter_3.pth').write_bytes(data[:len(data) // 2])
    (tmp_path / '.iter_4.pth.tmp-999999999-abcd').write_bytes(data)
    if pointer_text is None:
        os.remove(tmp_path / 'last_checkpoint')
    else:
        (tmp_path / 'last_checkpoint').write_text(pointer_text)


@pytest.mark.parametrize('case', ['truncated', 'missing', 'empty'])
def test_resume_falls_back_to_latest_complete(tmp_path, case):
    text = dict(
        truncated=str(tmp_path / 'iter_3.pth'), missing=None, empty='')[case]
    _older_version_leftovers(tmp_path, text)
    runner, start = make_runner(tmp_path, max_iters=4, resume=True)
    train(runner)
    assert start.iter == 2
    log = log_text(runner)
    assert 'resuming from the newest complete checkpoint ' + str(
        tmp_path / 'iter_2.pth') in log
    assert f'{tmp_path / "iter_3.pth"}' in log and 'truncated' in log
    # iter_3 was redone and is complete now; the stale temporary is gone.
    assert loads(tmp_path / 'iter_3.pth')['meta']['iter'] == 3
    assert pointer(tmp_path) == str(tmp_path / 'iter_4.pth')
    assert temporaries(tmp_path) == []


def test_resume_without_complete_checkpoint_starts_over(tmp_path):
    data_dir = tmp_path / 'w'
    _older_version_leftovers(data_dir, str(data_dir / 'iter_3.pth'))
    for step in (1, 2):
        os.remove(data_dir / f'iter_{step}.pth')
    runner, start = make_runner(data_dir, max_iters=1, resume=True)
    train(runner)
    assert start.iter == 0
    assert 'training starts from scratch' in log_text(runner)
    assert pointer(data_dir) == str(data_dir / 'iter_1.pth')


def test_valid_pointer_is_respected(tmp_path):
    runner, _ = make_runner(tmp_path, max_iters=3)
    train(runner)
    # A pointer naming an older complete file is not second-guessed.
    (tmp_path / 'last_checkpoint').write_text(str(tmp_path / 'iter_2.pth'))
    resumed, start = make_runner(tmp_path, max_iters=3, resume=True)
    train(resumed)
    assert start.iter == 2
    assert 'Auto-resume' not in log_text(resumed)
