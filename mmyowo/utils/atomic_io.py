"""Crash-safe (atomic) writes of local files.

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

Every file mmyowo writes goes through here: checkpoints (through
:class:`mmyowo.engine.atomic_io.AtomicLocalBackend`), annotation files,
results files, plots and the tools' outputs. The module lives in
:mod:`mmyowo.utils` so that datasets and evaluation, which must not import
:mod:`mmyowo.engine`, can use it.
"""
import contextlib
import os
import os.path as osp
import re
import secrets
import threading
from pathlib import Path
from typing import BinaryIO, Iterator, List, Set, Union

from mmengine.utils import mkdir_or_exist

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


@contextlib.contextmanager
def atomic_writer(path: Union[str, Path]) -> Iterator[BinaryIO]:
    """Open ``path`` for writing bytes so that it is never partially written.

    The yielded file is a temporary in the same folder; when the block ends
    without an error it is flushed, fsync'ed and renamed to ``path``. For
    writers that want a file object (``pickle.dump``, ``np.savez``,
    ``torch.save``, ``Figure.savefig``)::

        with atomic_writer('gt.pkl') as f:
            pickle.dump(gt, f)

    Args:
        path (str | Path): Final file path; missing folders are created.

    Yields:
        BinaryIO: The temporary file, open for binary writing.

    Raises:
        OSError: When writing fails (e.g. disk full). On any error in the
            block the temporary file is removed and ``path`` keeps its
            previous content.
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
                yield f
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


def atomic_write_bytes(data: bytes, path: Union[str, Path]) -> None:
    """Write ``data`` to ``path`` so that ``path`` is never partially written.

    Args:
        data (bytes): The whole content.
        path (str | Path): Final file path; missing folders are created.

    Raises:
        OSError: When writing fails (e.g. disk full). The temporary file is
            removed and ``path`` keeps its previous content.
    """
    with atomic_writer(path) as f:
        f.write(data)


def atomic_write_text(text: str,
                      path: Union[str, Path],
                      encoding: str = 'utf-8') -> None:
    """:func:`atomic_write_bytes` for text."""
    atomic_write_bytes(text.encode(encoding), path)
