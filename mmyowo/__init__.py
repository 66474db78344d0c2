"""mmyowo: YOWO-Plus spatio-temporal action detection as an MMAction2 plugin.

Importing the package registers every component into mmaction's registries.
"""
# isort: off
# compat patches the mmaction2 wheel, so it must run before anything imports
# ``mmaction.models`` (see its docstring); isort would sort it after ``apis``.
from .utils import compat  # noqa: F401
from . import apis, datasets, engine, evaluation, models  # noqa: F401
# isort: on
from .version import __version__

__all__ = ['__version__']
