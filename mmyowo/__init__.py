"""mmyowo: YOWO-Plus spatio-temporal action detection as an MMAction2 plugin.

Importing the package registers every component into mmaction's registries.
"""
# compat must run before anything imports ``mmaction.models`` (see its docstring).
from .utils import compat  # noqa: F401,I001
from . import apis, datasets, engine, evaluation, models  # noqa: F401,E402
from .version import __version__  # noqa: E402

__all__ = ['__version__']
