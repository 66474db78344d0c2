"""Crash-safe (atomic) writes of local files.

mmengine writes a checkpoint with ``LocalBackend.put``, which opens the final
path with ``'wb'`` and writes into it: a process killed during the write
leaves a truncated file under the checkpoint's final name. Here the bytes go
to a hidden temporary file in the same folder, are flushed and fsync'ed, and
only then take the final name with :func:`os.replace`, which POSIX makes
atomic within one file system. A kill at any moment therefore leaves either
the previous complete file or the new complete one under the final name,
plus at most a leftover temporary that nothing reads.

Temporaries are named ``.<name>.tmp-<pid>-<token>``, or
``.<stem>.tmp-<pid>-<token><suffix>`` for writers that pick the format from
the suffix (OpenCV's ``VideoWriter``). Each successful write removes the
leftovers in its folder whose writing process no longer exists, so the
temporaries of a killed run disappear with the next checkpoint; the
temporaries this process is writing are registered (:func:`claim_temporary`)
so that such a cleanup never removes them.

Every file mmyowo writes goes through here: checkpoints (through
:class:`mmyowo.engine.atomic_io.AtomicLocalBackend`), annotation files,
results files, plots and the tools' outputs. The module lives in
:mod:`mmyowo.utils` so that datasets and evaluation, which must not import
:mod:`mmyowo.engine`, can use it.

:func:`load_json` is the reading side for JSON files: every failure to parse
one (bad bytes, bad syntax, nesting deeper than the parser can recurse)
becomes the caller's error type, naming the file.
"""
import contextlib
import json
import os
import os.path as osp
import re
import secrets
import threading
from pathlib import Path
from typing import Any, BinaryIO, Iterator, List, Set, Type, Union

from mmengine.utils import mkdir_or_exist

TMP_MARK = '.tmp-'
# The optional suffix is the one temporary_path(..., keep_suffix=True) keeps.
_TMP_RE = re.compile(r'^\..+' + re.escape(TMP_MARK) +
                     r'(\d+)-[0-9a-f]+(?:\.[^.]+)?$')

# Temporaries this process is writing right now, so that a cleanup running
# in another thread of the same process does not remove them.
_in_flight: Set[str] = set()
_lock = threading.Lock()


def temporary_path(path: str, keep_suffix: bool = False) -> str:
    """A fresh temporary name for ``path``, hidden, in the same folder.

    The same folder keeps the final :func:`os.replace` on one file system,
    which is what makes it atomic.

    Args:
        path (str): The final path.
        keep_suffix (bool): End the name with ``path``'s suffix
            (``.out.tmp-<pid>-<token>.mp4``), for writers that choose the
            format by it.
    """
    dirname, name = osp.split(osp.abspath(path))
    token = secrets.token_hex(4)
    suffix = ''
    if keep_suffix:
        name, suffix = osp.splitext(name)
    return osp.join(dirname, f'.{name}{TMP_MARK}{os.getpid()}-{token}{suffix}')


def claim_temporary(path: str, keep_suffix: bool = False) -> str:
    """A :func:`temporary_path` for ``path`` that cleanups leave alone.

    :func:`remove_stale_temporaries` (run after every atomic write) counts
    the temporaries of this process as leftovers unless they are claimed:
    claim the temporaries written outside :func:`atomic_writer`, and
    :func:`release_temporary` them once renamed or removed.

    Args:
        path (str): The final path.
        keep_suffix (bool): See :func:`temporary_path`.

    Returns:
        str: The temporary path (absolute); nothing is created.
    """
    tmp = temporary_path(path, keep_suffix)
    with _lock:
        _in_flight.add(tmp)
    return tmp


def release_temporary(tmp: str) -> None:
    """Undo :func:`claim_temporary` (a no-op for an unclaimed path)."""
    with _lock:
        _in_flight.discard(tmp)


def is_temporary(name: str) -> bool:
    """Whether a file name is one of :func:`temporary_path`'s names."""
    return _TMP_RE.match(osp.basename(name)) is not None


def _process_exists(pid: int) -> bool:
    """Whether a process with id ``pid`` is running."""
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, OverflowError):
        # OverflowError: beyond pid_t, so no process has that id.
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
        # A folder of that name is nobody's temporary file.
        if path in in_flight or osp.isdir(path):
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
def atomic_writer(path: Union[str, Path],
                  *,
                  durable: bool = True,
                  remove_stale: bool = True) -> Iterator[BinaryIO]:
    """Open ``path`` for writing bytes so that it is never partially written.

    The yielded file is a temporary in the same folder; when the block ends
    without an error it is flushed, fsync'ed and renamed to ``path``. For
    writers that want a file object (``pickle.dump``, ``np.savez``,
    ``torch.save``, ``Figure.savefig``)::

        with atomic_writer('gt.pkl') as f:
            pickle.dump(gt, f)

    Args:
        path (str | Path): Final file path; missing folders are created.
        durable (bool): fsync the file and the folder, so that the new
            content also survives a power loss. Without it a kill still
            leaves the old or the new file, never a partial one; writers of
            many small files that can be made again (video frames) skip it,
            since each fsync costs milliseconds.
        remove_stale (bool): Remove the folder's stale temporaries
            afterwards. Lists the folder: a writer of many files in one
            folder calls :func:`remove_stale_temporaries` once instead.

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
    tmp = claim_temporary(path)
    try:
        # O_EXCL: never write into someone else's file; mode 0o666 lets the
        # umask decide the permissions, as ``open(path, 'wb')`` would.
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        try:
            with os.fdopen(fd, 'wb') as f:
                yield f
                if durable:
                    f.flush()
                    os.fsync(f.fileno())
            os.replace(tmp, path)
        except BaseException:
            # Also on KeyboardInterrupt; the error is re-raised.
            if osp.exists(tmp):
                os.remove(tmp)
            raise
    finally:
        release_temporary(tmp)
    if durable:
        _fsync_dir(dirname)
    if remove_stale:
        remove_stale_temporaries(dirname)


def atomic_write_bytes(data: bytes,
                       path: Union[str, Path],
                       *,
                       durable: bool = True,
                       remove_stale: bool = True) -> None:
    """Write ``data`` to ``path`` so that ``path`` is never partially written.

    Args:
        data (bytes): The whole content.
        path (str | Path): Final file path; missing folders are created.
        durable (bool): See :func:`atomic_writer`.
        remove_stale (bool): See :func:`atomic_writer`.

    Raises:
        OSError: When writing fails (e.g. disk full). The temporary file is
            removed and ``path`` keeps its previous content.
    """
    with atomic_writer(path, durable=durable, remove_stale=remove_stale) as f:
        f.write(data)


def atomic_write_text(text: str,
                      path: Union[str, Path],
                      encoding: str = 'utf-8') -> None:
    """:func:`atomic_write_bytes` for text."""
    atomic_write_bytes(text.encode(encoding), path)


@contextlib.contextmanager
def atomic_output_path(path: Union[str, Path],
                       keep_suffix: bool = True) -> Iterator[str]:
    """A temporary path for a library that writes a file by name, renamed to
    ``path`` when the block ends without an error.

    For writers that take a path rather than a file object (OpenCV's
    ``VideoWriter``); they must have closed the file when the block ends::

        with atomic_output_path('out.mp4') as tmp:
            writer = cv2.VideoWriter(tmp, fourcc, fps, size)
            ...
            writer.release()

    If nothing was written to the temporary, ``path`` is left as it was.

    Args:
        path (str | Path): Final file path; missing folders are created.
        keep_suffix (bool): See :func:`temporary_path`; on by default, since
            such writers tend to choose the format by the suffix.

    Yields:
        str: The temporary path (not created).

    Raises:
        OSError: When the rename fails. On any error in the block the
            temporary is removed and ``path`` keeps its previous content.
    """
    path = osp.abspath(os.fspath(path))
    dirname = osp.dirname(path)
    mkdir_or_exist(dirname)
    tmp = claim_temporary(path, keep_suffix)
    try:
        try:
            yield tmp
        except BaseException:
            if osp.exists(tmp):
                os.remove(tmp)
            raise
        if not osp.exists(tmp):
            return
        # The library closed the file without syncing it.
        fd = os.open(tmp, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    finally:
        release_temporary(tmp)
    _fsync_dir(dirname)
    remove_stale_temporaries(dirname)


def parse_json(text: Union[str, bytes], source: str,
               error_cls: Type[Exception]) -> Any:
    """``json.loads(text)``, any failure raised as ``error_cls`` naming
    ``source``.

    Args:
        text (str | bytes): The JSON text (bytes: UTF-8).
        source (str): The file (and line) it comes from, for the message.
        error_cls (type): The caller's error type, built from one message.

    Raises:
        error_cls: For bytes that are not UTF-8, invalid JSON, a number
            Python refuses to convert, or nesting deeper than the parser can
            recurse (a few kilobytes of ``[`` would otherwise raise
            ``RecursionError``, which no caller expects).
    """
    try:
        if isinstance(text, bytes):
            text = text.decode('utf-8')
        return json.loads(text)
    except ValueError as err:
        # JSONDecodeError, UnicodeDecodeError and the int digits limit.
        raise error_cls(f'{source}: invalid JSON: {err}') from err
    except RecursionError as err:
        raise error_cls(f'{source}: invalid JSON: nested deeper than the '
                        'parser can follow') from err


def load_json(path: Union[str, Path],
              error_cls: Type[Exception] = ValueError) -> Any:
    """Read a UTF-8 JSON file; see :func:`parse_json` for the errors.

    Args:
        path (str | Path): The file.
        error_cls (type): The caller's error type, built from one message
            naming ``path``.

    Raises:
        OSError: When the file cannot be read.
        error_cls: When it does not hold JSON.
    """
    with open(path, 'rb') as f:
        data = f.read()
    return parse_json(data, os.fspath(path), error_cls)
