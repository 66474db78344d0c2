"""Training-loop extensions: hooks and crash-safe checkpoint files."""
from . import hooks  # noqa: F401
from .atomic_io import ATOMIC_BACKEND, AtomicLocalBackend
from .checkpoint_integrity import (checkpoint_problem,
                                   latest_complete_checkpoint)

__all__ = [
    'ATOMIC_BACKEND', 'AtomicLocalBackend', 'checkpoint_problem',
    'latest_complete_checkpoint'
]
