"""WorkDirLockHook reads a lock file that anyone may have written: content
that is no lock of its own is refused, naming the file."""
import json
import logging
import os
import socket
from types import SimpleNamespace

import pytest
from mmengine.runner import BaseLoop

from mmyowo.engine.hooks import WorkDirLockedError, WorkDirLockHook
from mmyowo.utils.atomic_io import is_temporary


class _Loop(BaseLoop):

    def __init__(self):  # no runner, no data: only its type matters
        pass

    def run(self):
        pass


def make_runner(work_dir):
    return SimpleNamespace(
        _train_loop=_Loop(),
        work_dir=str(work_dir),
        logger=logging.getLogger(__name__))


def lock_text(pid):
    return json.dumps(dict(pid=pid, host=socket.gethostname())) + '\n'


def lock_bytes(pid):
    return lock_text(pid).encode()


@pytest.mark.parametrize(
    'content',
    [
        # os.kill raises OverflowError for a pid beyond pid_t.
        lock_bytes(2**63),
        lock_bytes(2**31),
        # 0 and negative pids signal process groups, not one process.
        lock_bytes(0),
        lock_bytes(-1),
        lock_bytes(True),
        # json's parser recurses per level: RecursionError.
        b'[' * 100000,
        b'\xff\xfe{"pid": 1}',
    ])
def test_lock_that_is_no_lock_is_refused_naming_it(tmp_path, content):
    lock = tmp_path / 'train.lock'
    lock.write_bytes(content)
    hook = WorkDirLockHook()
    with pytest.raises(
            WorkDirLockedError, match='not a lock written by '
            'WorkDirLockHook') as info:
        hook.before_run(make_runner(tmp_path))
    assert str(lock) in str(info.value)
    assert lock.read_bytes() == content  # left for the user


def test_stale_lock_is_taken_over(tmp_path):
    lock = tmp_path / 'train.lock'
    lock.write_text(lock_text(2**22 + 1))  # above any pid_max: no process
    hook = WorkDirLockHook()
    hook.before_run(make_runner(tmp_path))
    try:
        assert json.loads(lock.read_text())['pid'] == os.getpid()
    finally:
        hook.release()
    assert not lock.exists()
    assert not [n for n in os.listdir(tmp_path) if is_temporary(n)]
