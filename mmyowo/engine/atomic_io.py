"""The mmengine file backend that writes checkpoints atomically.

The atomic write itself (a temporary in the same folder, fsync, then
:func:`os.replace`) is :mod:`mmyowo.utils.atomic_io`'s, re-exported here under
its former names.
"""
from pathlib import Path
from typing import Union

from mmengine.fileio import LocalBackend, register_backend

from mmyowo.utils.atomic_io import (TMP_MARK, atomic_write_bytes,
                                    atomic_write_text, atomic_writer,
                                    is_temporary, remove_stale_temporaries,
                                    temporary_path)

#: Name under which :class:`AtomicLocalBackend` is registered in mmengine's
#: file-backend registry (``backend_args=dict(backend=ATOMIC_BACKEND)``).
ATOMIC_BACKEND = 'atomic_local'

__all__ = [
    'ATOMIC_BACKEND', 'AtomicLocalBackend', 'TMP_MARK', 'atomic_write_bytes',
    'atomic_write_text', 'atomic_writer', 'is_temporary',
    'remove_stale_temporaries', 'temporary_path'
]


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
