"""One training per work dir: a lock file naming the training that holds it."""
import atexit
import json
import os
import os.path as osp
import socket
import sys
import threading
import time
from typing import Any, Dict, List, Optional, Tuple

from mmaction.registry import HOOKS
from mmengine.dist import (broadcast_object_list, get_world_size,
                           is_main_process)
from mmengine.hooks import Hook
from mmengine.runner import BaseLoop

from mmyowo.utils.atomic_io import (claim_temporary, parse_json,
                                    release_temporary)

LOCK_NAME = 'train.lock'
#: Largest process id a lock may name: ``pid_t`` is a 32-bit int on Linux
#: and macOS (``os.kill`` raises ``OverflowError`` beyond it).
MAX_PID = 2**31 - 1

# Locks held by this process: path -> (the lock's content, the thread of
# the run holding it). Used to release them at exit and to tell an earlier
# run of this process that stopped with an error from one still running in
# another thread.
_HELD: Dict[str, Tuple[str, threading.Thread]] = {}
_HELD_LOCK = threading.Lock()


class WorkDirLockedError(RuntimeError):
    """Another training holds the work dir."""


def _proc_stat(pid: int) -> Optional[List[str]]:
    """Fields 3 on of ``/proc/<pid>/stat`` (Linux), ``None`` if unreadable."""
    try:
        with open(f'/proc/{pid}/stat', 'rb') as f:
            stat = f.read().decode('ascii', 'replace')
    except OSError:
        return None
    # The command name (field 2) may hold spaces and ')'.
    return stat.rsplit(')', 1)[-1].split()


def _process_start(pid: int) -> Optional[str]:
    """The start time of process ``pid`` in clock ticks since boot (field 22),
    which tells a process from a later one that got the same pid."""
    fields = _proc_stat(pid)
    return fields[19] if fields is not None and len(fields) > 19 else None


def _process_runs(pid: int) -> bool:
    """Whether a process with id ``pid`` runs on this host."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # alive, owned by another user
    fields = _proc_stat(pid)
    # A zombie (killed, not yet reaped by its parent) no longer runs.
    return not (fields and fields[0] == 'Z')


def _remove_if_ours(path: str, content: str) -> None:
    """Remove the lock at ``path`` if it still holds ``content``."""
    try:
        with open(path, encoding='utf-8', errors='replace') as f:
            if f.read() != content:
                return
        os.remove(path)
    except FileNotFoundError:
        return


def _release_all_at_exit() -> None:
    """Release the locks of runs of this process that did not reach
    ``after_run`` (an error ends the process through here)."""
    with _HELD_LOCK:
        held = list(_HELD.items())
        _HELD.clear()
    for path, (content, _) in held:
        _remove_if_ours(path, content)


atexit.register(_release_all_at_exit)


@HOOKS.register_module()
class WorkDirLockHook(Hook):
    """Refuse to train in a work dir where another training runs.

    Two trainings started with the same ``--work-dir`` both ran to the end:
    the second overwrote and pruned (``max_keep_ckpts``) the first's
    checkpoints and took over ``last_checkpoint``, so the first's results
    and its ``--resume`` were silently lost.

    Before anything of a training reads or writes the work dir (``before_run``
    at the highest priority: before ``AtomicCheckpointHook`` checks
    ``last_checkpoint`` and the runner resumes), the main process creates
    ``<work_dir>/train.lock`` atomically (written whole under a temporary
    name, then hard-linked to the lock's name, which fails when it exists).
    It holds the process id, host, start time and command of the training.
    When the lock exists:

    * its training still runs (same host, the process exists and started
      when the lock says): :class:`WorkDirLockedError` naming that process;
    * it was left by a training that no longer runs on this host (killed,
      e.g. before a ``--resume``): the lock is taken over with a warning;
    * it names another host: this host cannot tell whether that training
      runs, so it is refused, saying which file to delete if it does not.

    The lock is removed in ``after_run``; a training that stops with an
    error releases it when its process exits. Testing and validation
    (``mim test``) do not lock: they only add their own timestamped log
    folders. In distributed training only the main process locks, and every
    process stops when it cannot.

    Args:
        lock_name (str): File name of the lock in the work dir.
    """
    priority = 'HIGHEST'

    def __init__(self, lock_name: str = LOCK_NAME) -> None:
        if not lock_name or osp.basename(lock_name) != lock_name:
            raise ValueError('lock_name must be a file name, got '
                             f'{lock_name!r}')
        self.lock_name = lock_name
        self._path: Optional[str] = None
        self._content: Optional[str] = None

    def before_run(self, runner) -> None:
        """Lock the work dir of a training, or raise.

        Args:
            runner (Runner): The runner.

        Raises:
            WorkDirLockedError: When another training holds the work dir.
        """
        if not isinstance(getattr(runner, '_train_loop', None), BaseLoop):
            return  # testing / validating: the runner built no train loop
        error = None
        if is_main_process():
            try:
                self._acquire(runner)
            except WorkDirLockedError as err:
                error = str(err)
        if get_world_size() > 1:
            shared = [error]
            broadcast_object_list(shared)
            error = shared[0]
        if error is not None:
            raise WorkDirLockedError(error)

    def after_run(self, runner) -> None:
        """Release the lock.

        Args:
            runner (Runner): The runner.
        """
        self.release()

    def release(self) -> None:
        """Remove the lock if this hook holds it."""
        if self._path is None or self._content is None:
            return
        with _HELD_LOCK:
            _HELD.pop(self._path, None)
        _remove_if_ours(self._path, self._content)
        self._path = self._content = None

    def _acquire(self, runner) -> None:
        """Create the lock, taking over a stale one."""
        path = osp.join(osp.abspath(runner.work_dir), self.lock_name)
        content = json.dumps(
            dict(
                pid=os.getpid(),
                host=socket.gethostname(),
                started=time.strftime('%Y-%m-%d %H:%M:%S %z'),
                process_start=_process_start(os.getpid()),
                command=' '.join(sys.argv)),
            indent=1) + '\n'
        # A lock that vanishes or is taken over between our steps sends us
        # round again; three rounds are plenty for two contenders.
        for _ in range(3):
            if self._create(path, content):
                self._path, self._content = path, content
                with _HELD_LOCK:
                    _HELD[path] = (content, threading.current_thread())
                return
            try:
                # Anyone may have written it: undecodable bytes are
                # replaced, and _parse refuses the text.
                with open(path, encoding='utf-8', errors='replace') as f:
                    existing = f.read()
            except FileNotFoundError:
                continue  # released meanwhile
            holder = self._parse(path, existing)
            why = self._stale_because(path, holder)
            if why is None:
                raise WorkDirLockedError(
                    self._locked_message(runner, path, holder))
            if self._take_over(path, existing):
                runner.logger.warning(
                    f'{path}: taking over the lock of a training that no '
                    f'longer runs ({self._describe(holder)}): {why}')
        raise WorkDirLockedError(
            f'{path}: could not lock the work dir {runner.work_dir}: other '
            'trainings keep creating and removing the lock')

    @staticmethod
    def _create(path: str, content: str) -> bool:
        """Create ``path`` holding ``content``; ``False`` if it exists."""
        os.makedirs(osp.dirname(path), exist_ok=True)
        # Written whole under a temporary name first, so that nobody reads
        # a half-written lock; link() fails when the name exists. Claimed,
        # so that an atomic write in the work dir meanwhile leaves it.
        tmp = claim_temporary(path)
        try:
            with open(tmp, 'x', encoding='utf-8') as f:
                f.write(content)
                f.flush()
                os.fsync(f.fileno())
            try:
                os.link(tmp, path)
            except FileExistsError:
                return False
            finally:
                os.remove(tmp)
        finally:
            release_temporary(tmp)
        return True

    @staticmethod
    def _take_over(path: str, seen: str) -> bool:
        """Remove the stale lock ``path`` if it still holds ``seen``."""
        # Renamed away first: of several processes taking over, one gets
        # the file; a fresh lock created meanwhile is put back.
        aside = claim_temporary(path)
        try:
            try:
                os.rename(path, aside)
            except FileNotFoundError:
                return False
            with open(aside, encoding='utf-8', errors='replace') as f:
                now = f.read()
            if now != seen:
                try:
                    os.link(aside, path)
                except FileExistsError:
                    pass
                os.remove(aside)
                return False
            os.remove(aside)
        finally:
            release_temporary(aside)
        return True

    @staticmethod
    def _parse(path: str, text: str) -> Dict[str, Any]:
        """The holder a lock file names."""
        try:
            holder = parse_json(text, path, ValueError)
        except ValueError:
            holder = None
        pid = holder.get('pid') if isinstance(holder, dict) else None
        # A pid <= 0 would signal a process group, one beyond pid_t would
        # make os.kill raise: neither names one training.
        if not (type(pid) is int and 0 < pid <= MAX_PID
                and isinstance(holder.get('host'), str)):
            raise WorkDirLockedError(
                f'{path} exists but is not a lock written by '
                f'WorkDirLockHook ({text[:80]!r}); delete it if no training '
                'runs in that work dir')
        return holder

    @staticmethod
    def _stale_because(path: str, holder: Dict[str, Any]) -> Optional[str]:
        """Why ``holder`` no longer trains, or ``None`` if it may."""
        if holder['host'] != socket.gethostname():
            return None  # cannot be checked from here
        pid = holder['pid']
        if pid == os.getpid():
            with _HELD_LOCK:
                held = _HELD.get(path)
            if held is not None and held[1].is_alive() and \
                    held[1] is not threading.current_thread():
                return None  # a training in another thread of ours
            return ('an earlier training of this process stopped without '
                    'releasing it')
        if not _process_runs(pid):
            return f'process {pid} does not exist'
        started = holder.get('process_start')
        now = _process_start(pid)
        if started is not None and now is not None and started != now:
            return f'process {pid} is another process than the training'
        return None

    @staticmethod
    def _describe(holder: Dict[str, Any]) -> str:
        """``process P on host H, started T (command)``."""
        text = (f'process {holder["pid"]} on host {holder["host"]}, '
                f'started {holder.get("started", "at an unknown time")}')
        if holder.get('command'):
            text += f': {holder["command"]}'
        return text

    def _locked_message(self, runner, path: str, holder: Dict[str,
                                                              Any]) -> str:
        """The error for a work dir held by a running training."""
        remote = holder['host'] != socket.gethostname()
        check = (' (on another host: this host cannot check whether it '
                 'still runs)') if remote else ''
        return (
            f'the work dir {runner.work_dir} is in use by another training: '
            f'{self._describe(holder)}{check}; lock file {path}. Two '
            'trainings in one work dir overwrite and prune each other\'s '
            'checkpoints and last_checkpoint. Wait for it to finish or stop '
            'it, or train with another --work-dir; if it no longer runs, '
            f'delete {path}.')
