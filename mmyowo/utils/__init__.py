"""Utilities: stack compatibility fixes and safe checkpoint loading."""
from . import compat  # noqa: F401  (must run before mmaction.models loads)
from .checkpoint import (CheckpointLoadError, CheckpointMismatchError,
                         check_state_dict_fits, checkpoint_cache_dir,
                         load_checkpoint_bytes, load_checkpoint_file,
                         load_checkpoint_url, load_model_checkpoint,
                         register_checkpoint_loaders)

register_checkpoint_loaders()

__all__ = [
    'CheckpointLoadError', 'CheckpointMismatchError', 'check_state_dict_fits',
    'checkpoint_cache_dir', 'load_checkpoint_bytes', 'load_checkpoint_file',
    'load_checkpoint_url', 'load_model_checkpoint',
    'register_checkpoint_loaders'
]
