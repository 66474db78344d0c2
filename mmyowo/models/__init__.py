"""Models: every submodule registers its components into mmaction's
``MODELS`` / ``TASK_UTILS`` registries."""
from . import (backbones, dense_heads, detectors, layers, losses, necks,
               task_modules, utils)

__all__ = [
    'backbones', 'dense_heads', 'detectors', 'layers', 'losses', 'necks',
    'task_modules', 'utils'
]
