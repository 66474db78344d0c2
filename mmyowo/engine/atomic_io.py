"""Crash-safe (atomic) writes of local files, and the file backend using them.

mmengine writes a checkpoint with ``LocalBackend.put``, which opens the final
path with ``'wb'`` and writes into it: a process killed during the write
leaves a truncated file under the checkpoint's final name. Here the bytes go
to a hidden temporary file in the same folder, are flushed and fsync'ed, and
only then take the final name with :func:`os.replace`, which POSIX makes
atomic within one file system. A kill at any moment therefore leaves either
the previous complete file or the new complete one under the final name,
plus at most a leftover temporary that nothing reads.

Temporaries are named ``.<name>.tmp-<pid>-<token>``. Each successful write
removes the leftovers in its folder whose writing process no longer exists,
so the temporaries of a killed run disappear with the next checkpoint.
"""
import os
import os.path as osp
import re
import secrets
import threading
from pathlib import Path
from typing import List, Set, Union

from mmengine.fileio import LocalBackend, register_backend
from mmengine.utils import mkdir_or_exist

#: Name under which :class:`AtomicLocalBackend` is registered in mmengine's
#: file-backend registry (``backend_args=dict(backend=ATOMIC_BACKEND)``).
ATOMIC_BACKEND = 'atomic_local'

TMP_MARK = '.tmp-'
_TMP_RE = re.compile(r'^\..+' + re.escape(TMP_MARK) + r'(\d+)-[0-9a-f]+$')

# Temporaries this process is writing right now, so that a cleanup running
# in another thread of the same process does not remove them.
_in_flight: Set[str] = set()
_lock = threading.Lock()


def temporary_path(path: str) -> str:
    """A fresh temporary name for ``path``, hidden, in the same folder.

    The same folder keeps the final :func:`os.replace` on one file system,
    which is what makes it atomic.
    """
    dirname, name = osp.split(osp.abspath(path))
    token = secrets.token_hex(4)
    return osp.join(dirname, f'.{name}{TMP_MARK}{os.getpid()}-{token}')


def is_temporary(name: str) -> bool:
    """Whether a file name is one of :func:`temporary_path`'s names."""
    return _TMP_RE.match(osp.basename(name)) is not None


def _process_exists(pid: int) -> bool:
    """Whether a process with id ``pid`` is running."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        # Alive, owned by another user.
        return True
    return True


def _fsync_dir(dirname: str) -> None:
    """Flush a folder entry (a rename) to disk, where possible."""
    # Makes the rename itself durable across a power loss; a kill alone
    # does not need it. Not every platform can open a folder.
    if not hasattr(os, 'O_DIRECTORY'):
        return
    fd = os.open(dirname, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def remove_stale_temporaries(dirname: str) -> List[str]:
    """Remove temporaries in ``dirname`` whose writer no longer runs.

    A temporary of this process counts as stale unless it is being written
    now; one of another process only when that process does not exist.

    Args:
        dirname (str): Folder to clean (not recursive).

    Returns:
        list[str]: The removed paths.
    """
    removed = []
    own_pid = os.getpid()
    with _lock:
        in_flight = set(_in_flight)
    for name in sorted(os.listdir(dirname)):
        match = _TMP_RE.match(name)
        if match is None:
            continue
        path = osp.join(dirname, name)
        pid = int(match.group(1))
        if path in in_flight:
            continue
        if pid != own_pid and _process_exists(pid):
            continue
        try:
            os.remove(path)
        except FileNotFoundError:
            # Another cleanup got there first.
            continue
        removed.append(path)
    return removed


def atomic_write_bytes(data: bytes, path: Union[str, Path]) -> None:
    """Write ``data`` to ``path`` so that ``path`` is never partially written.

    Args:
        data (bytes): The whole content.
        path (str | Path): Final file path; missing folders are created.

    Raises:
        OSError: When writing fails (e.g. disk full). The temporary file is
            removed and ``path`` keeps its previous content.
    """
    path = osp.abspath(os.fspath(path))
    dirname = osp.dirname(path)
    mkdir_or_exist(dirname)
    tmp = temporary_path(path)
    with _lock:
        _in_flight.add(tmp)
    try:
        # O_EXCL: never write into someone else's file; mode 0o666 lets the
        # umask decide the permissions, as ``open(path, 'wb')`` would.
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        try:
            with os.fdopen(fd, 'wb') as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except BaseException:
            # Also on KeyboardInterrupt; the error is re-raised.
            if osp.exists(tmp):
                os.remove(tmp)
            raise
    finally:
        with _lock:
            _in_flight.discard(tmp)
    _fsync_dir(dirname)
    remove_stale_temporaries(dirname)


def atomic_write_text(text: str,
                      path: Union[str, Path],
                      encoding: str = 'utf-8') -> None:
    """:func:`atomic_write_bytes` for text."""
    atomic_write_bytes(text.encode(encoding), path)


@register_backend(ATOMIC_BACKEND)
class AtomicLocalBackend(LocalBackend):
    """mmengine's local file backend with atomic ``put`` / ``put_text``.

    mmengine's ``save_checkpoint`` serialises the checkpoint into memory and
    hands the bytes to the file backend's ``put``; this backend is selected
    with ``backend_args=dict(backend='atomic_local')`` (what
    :class:`~mmyowo.engine.hooks.AtomicCheckpointHook` passes for local
    folders), so only the writes that ask for it change. Every other method
    is the local backend's.
    """

    def put(self, obj: bytes, filepath: Union[str, Path]) -> None:
        """Write bytes atomically (see :func:`atomic_write_bytes`)."""
        atomic_write_bytes(obj, filepath)

    def put_text(self,
                 obj: str,
                 filepath: Union[str, Path],
                 encoding: str = 'utf-8') -> None:
        """Write text atomically (see :func:`atomic_write_bytes`)."""
        atomic_write_text(obj, filepath, encoding=encoding)
