"""Half-written checkpoints, with the battery's real checkpoint: through the
public functions of the crash-safe saving (``mmyowo.engine``: the write
mmengine's ``save_checkpoint`` does with the atomic backend, the choice.

auto-resume makes among the files of a work dir) and through what ``mim train
--resume PATH`` runs.

Killing a training run at random moments and resuming it is
tests/engine/test_crash_safe_*.py.
"""
import errno
import os
import os.path as osp
import shutil

import pytest
from mmengine.config import Config
from mmengine.runner import Runner
from mmengine.runner.checkpoint import save_checkpoint

from mmyowo.engine import (ATOMIC_BACKEND, checkpoint_problem,
                           latest_complete_checkpoint)
from mmyowo.utils import CheckpointLoadError, load_checkpoint_file
from ._inputs import DAMAGE, damaged_copy


def _disk_full(fd):
    raise OSError(errno.ENOSPC, 'No space left on device')


@pytest.mark.parametrize(
    'existing', [False, True], ids=['new file', 'overwrite'])
def test_failed_save_leaves_no_half_written_file(trained, tmp_path,
                                                 monkeypatch, existing):
    """mmengine's ``save_checkpoint`` with the backend AtomicCheckpointHook
    passes: a write failing after the bytes went out (here: the disk fills
    up at the flush) leaves the final name absent or as it was, and no
    temporary file."""
    checkpoint = load_checkpoint_file(trained['checkpoint'])
    path = tmp_path / 'epoch_2.pth'
    if existing:
        shutil.copy(trained['checkpoint'], path)
        before = path.read_bytes()
    monkeypatch.setattr(os, 'fsync', _disk_full)
    with pytest.raises(OSError, match='No space left on device'):
        save_checkpoint(
            checkpoint, str(path), backend_args=dict(backend=ATOMIC_BACKEND))
    monkeypatch.undo()
    assert os.listdir(tmp_path) == (['epoch_2.pth'] if existing else [])
    if existing:
        assert path.read_bytes() == before

    save_checkpoint(
        checkpoint, str(path), backend_args=dict(backend=ATOMIC_BACKEND))
    assert load_checkpoint_file(str(path))['meta']['epoch'] == 1


@pytest.mark.parametrize('damage', list(DAMAGE))
def test_resume_skips_a_damaged_newer_checkpoint(trained, tmp_path, damage):
    """A work dir as a crash under a non-atomic writer leaves it: complete
    ``epoch_1.pth``, a damaged ``epoch_2.pth`` named by
    ``last_checkpoint``, and a complete but temporary ``epoch_3``."""
    work = tmp_path / 'work'
    work.mkdir()
    good = shutil.copy(trained['checkpoint'], work / 'epoch_1.pth')
    bad = damaged_copy(trained['checkpoint'], damage, work / 'epoch_2.pth')
    shutil.copy(trained['checkpoint'],
                work / f'.epoch_3.pth.tmp-{os.getpid()}-0a1b2c3d')
    (work / 'last_checkpoint').write_text(bad)
    latest, skipped = latest_complete_checkpoint([str(work)], 'epoch_{}.pth')
    assert latest == str(good)
    assert [path for path, _ in skipped] == [bad]
    reason = skipped[0][1]
    if damage == 'empty':
        assert reason == 'the file is empty'
    else:
        assert reason.startswith('it is not a complete torch zip archive')
    assert load_checkpoint_file(latest)['meta']['epoch'] == 1


def test_complete_checkpoint_has_no_problem(trained):
    assert checkpoint_problem(trained['checkpoint']) is None
    assert checkpoint_problem(osp.join(trained['work_dir'], 'nope.pth')) \
        == 'the file does not exist'


def _resuming_runner(tiny_config, work_dir, load_from):
    """What ``mim train CONFIG --resume PATH`` runs (mmaction's
    tools/train.py), in this process."""
    cfg = Config.fromfile(tiny_config)
    cfg.work_dir = str(work_dir)
    cfg.resume = True
    cfg.load_from = load_from
    return Runner.from_cfg(cfg)


def test_resume_from_a_damaged_checkpoint_names_it(trained, tmp_path):
    bad = damaged_copy(trained['checkpoint'], 'half-written',
                       tmp_path / 'epoch_1.pth')
    runner = _resuming_runner(trained['config'], tmp_path / 'work', bad)
    with pytest.raises(CheckpointLoadError) as info:
        runner.train()
    assert str(info.value).startswith(
        f'{bad}: a damaged zip archive (no central directory: truncated or '
        'half-written)')
    assert runner.iter == 0
