"""Tell complete checkpoint files from incomplete ones without loading them.

``torch.save`` writes a zip archive (one member per tensor storage, the
pickled object graph in ``<archive>/data.pkl``) whose central directory and
end record come last. A file cut short by a kill, a full disk or an older,
non-atomic writer therefore lacks the end record and is not a readable zip;
a file damaged later fails the members' CRC-32 check. Neither check
unpickles anything, so they are safe on untrusted files. Records that
:mod:`zipfile` cannot read (encrypted, patch data: torch.save writes
neither), broken compressed streams and read errors are reasons too, so
that auto-resume skips such a file instead of crashing on it.
"""
import os
import os.path as osp
import re
import zipfile
import zlib
from typing import List, Optional, Sequence, Tuple

from mmyowo.fileio.torch_checkpoint import UNREADABLE_ZIP_FLAGS
from .atomic_io import is_temporary


def checkpoint_problem(path: str, verify_crc: bool = True) -> Optional[str]:
    """Why the file at ``path`` is not a complete checkpoint, or ``None``.

    Args:
        path (str): A local file path.
        verify_crc (bool): Also read every member and compare its CRC-32
            (reads the whole file). Defaults to True.

    Returns:
        str | None: ``None`` for a complete torch zip checkpoint, else a
        short reason (missing, empty, truncated or not a torch checkpoint,
        a record that cannot be read, corrupt member, read error).
    """
    if not osp.exists(path):
        return 'the file does not exist'
    if not osp.isfile(path):
        return 'it is not a regular file'
    if osp.getsize(path) == 0:
        return 'the file is empty'
    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
            if not any(n == 'data.pkl' or n.endswith('/data.pkl')
                       for n in names):
                return 'the zip archive has no data.pkl record'
            for info in archive.infolist():
                for bit, what in UNREADABLE_ZIP_FLAGS.items():
                    if info.flag_bits & bit:
                        return (f'record {info.filename} {what} (torch.save '
                                'writes plain records)')
            if verify_crc:
                return _crc_problem(archive)
    except zipfile.BadZipFile as err:
        return ('it is not a complete torch zip archive (truncated, or not '
                f'written by torch.save): {err}')
    except (OSError, UnicodeDecodeError) as err:
        # Unreadable (permissions, I/O error) or a name that is not the
        # UTF-8 its record claims.
        return f'it cannot be read: {type(err).__name__}: {err}'
    return None


def _crc_problem(archive: zipfile.ZipFile) -> Optional[str]:
    """Why a record of ``archive`` fails to read back, or ``None``."""
    for info in archive.infolist():
        try:
            with archive.open(info) as stream:
                while stream.read(1 << 20):
                    pass
        except zipfile.BadZipFile as err:
            return f'record {info.filename} fails its CRC check ({err})'
        except (zlib.error, EOFError, RuntimeError, NotImplementedError,
                OSError, UnicodeDecodeError) as err:
            # A broken compressed stream (zlib.error, EOFError) or a record
            # zipfile cannot open (RuntimeError, NotImplementedError).
            return (f'record {info.filename} cannot be read '
                    f'({type(err).__name__}: {err})')
    return None


def _template_regex(filename_tmpl: str) -> re.Pattern:
    """A regex matching ``filename_tmpl`` with the step as group 1."""
    parts = filename_tmpl.split('{}')
    if len(parts) != 2:
        raise ValueError('filename_tmpl must contain exactly one "{}", got '
                         f'{filename_tmpl!r}')
    return re.compile(
        re.escape(parts[0]) + r'(\d+)' + re.escape(parts[1]) + '$')


def checkpoints_by_step(directory: str,
                        filename_tmpl: str) -> List[Tuple[int, str]]:
    """Files of ``directory`` named by ``filename_tmpl``, newest step first.

    Temporaries of :mod:`mmyowo.engine.atomic_io` never match (their names
    start with a dot and end with the temporary suffix).

    Args:
        directory (str): Folder to list (not recursive).
        filename_tmpl (str): Checkpoint name template with one ``{}`` for
            the epoch or iteration, e.g. ``'epoch_{}.pth'``.

    Returns:
        list[tuple[int, str]]: ``(step, path)`` sorted by descending step.
    """
    if not osp.isdir(directory):
        return []
    pattern = _template_regex(filename_tmpl)
    directory = osp.abspath(directory)
    found = []
    for name in os.listdir(directory):
        match = pattern.match(name)
        if match is None or is_temporary(name):
            continue
        found.append((int(match.group(1)), osp.join(directory, name)))
    return sorted(found, reverse=True)


def latest_complete_checkpoint(
        directories: Sequence[str],
        filename_tmpl: str) -> Tuple[Optional[str], List[Tuple[str, str]]]:
    """The newest complete checkpoint in ``directories``.

    Args:
        directories (Sequence[str]): Folders to search (duplicates and
            missing folders are fine).
        filename_tmpl (str): See :func:`checkpoints_by_step`.

    Returns:
        tuple: The path of the newest complete checkpoint (``None`` if there
        is none) and the ``(path, reason)`` pairs of the newer, incomplete
        files skipped on the way.
    """
    candidates = set()
    for directory in directories:
        candidates.update(checkpoints_by_step(directory, filename_tmpl))
    skipped: List[Tuple[str, str]] = []
    for _, path in sorted(candidates, reverse=True):
        problem = checkpoint_problem(path)
        if problem is None:
            return path, skipped
        skipped.append((path, problem))
    return None, skipped
