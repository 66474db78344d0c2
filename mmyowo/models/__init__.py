"""Models: every submodule registers its components into ``mmaction.registry.MODELS``."""
from . import (backbones, dense_heads, detectors, layers, losses, necks,  # noqa: F401
               task_modules, utils)
