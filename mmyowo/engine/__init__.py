"""Runner extensions: hooks, crash-safe checkpoint files and the streaming
test loop."""
from . import hooks  # noqa: F401
from .atomic_io import ATOMIC_BACKEND, AtomicLocalBackend
from .checkpoint_integrity import (checkpoint_problem,
                                   latest_complete_checkpoint)
from .window_test_loop import WindowTestLoop

__all__ = [
    'ATOMIC_BACKEND', 'AtomicLocalBackend', 'checkpoint_problem',
    'WindowTestLoop', 'latest_complete_checkpoint'
]
