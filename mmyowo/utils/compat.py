"""Compatibility fixes for the pinned stack, kept in one place.

Imported first by ``mmyowo/__init__.py``; every fix is idempotent.

1. The PyPI wheel of mmaction2 1.2.0 ships ``mmaction/models/localizers/
   __init__.py`` with ``from .drn.drn import DRN`` but not the ``drn`` package
   itself, so ``import mmaction.models`` (and every config whose registry
   imports it) fails with ``ModuleNotFoundError``. When, and only when, the
   installed mmaction lacks that file, :func:`patch_mmaction_drn` provides the
   missing module with a ``DRN`` class that raises a clear ``ImportError`` if
   anybody tries to build it. ``DRN`` is not registered, so ``type='DRN'``
   fails in the registry as for any unknown model.

2. mmcv 2.1.0 registers ReLU, LeakyReLU, SiLU, GELU... but not Mish, the
   activation of YOLOv4's CSPDarknet53. ``ConvModule`` builds activations from
   mmengine's root registry, so :func:`register_mish` puts ``torch.nn.Mish``
   there: ``dict(type='Mish')`` then resolves under any default scope.
"""
import importlib.util
import os.path as osp
import sys
import types

import torch.nn as nn
from mmengine.registry import MODELS as MMENGINE_MODELS

DRN_MODULE = 'mmaction.models.localizers.drn'


class _MissingDRN:
    """Stand-in for the ``DRN`` localizer missing from the mmaction2 wheel."""

    def __init__(self, *args, **kwargs) -> None:
        raise ImportError(
            'mmaction.models.localizers.drn is missing from the installed '
            'mmaction2 wheel (a packaging bug of mmaction2 1.2.0); install '
            'mmaction2 from source to use DRN.')


def mmaction_lacks_drn() -> bool:
    """Whether the installed mmaction misses the ``drn`` localizer package."""
    spec = importlib.util.find_spec('mmaction')
    if spec is None or not spec.submodule_search_locations:
        raise ImportError('mmaction2 is not installed: pip install '
                          'mmaction2==1.2.0')
    root = list(spec.submodule_search_locations)[0]
    return not osp.isfile(
        osp.join(root, 'models', 'localizers', 'drn', 'drn.py'))


def patch_mmaction_drn() -> bool:
    """Provide the missing ``drn`` modules; return whether one was needed."""
    if DRN_MODULE + '.drn' in sys.modules or not mmaction_lacks_drn():
        return False
    package = types.ModuleType(DRN_MODULE)
    package.__path__ = []  # a package, so ``drn.drn`` resolves
    module = types.ModuleType(DRN_MODULE + '.drn')
    # setattr: a ModuleType declares no such attributes for type checkers.
    setattr(module, 'DRN', _MissingDRN)
    setattr(package, 'drn', module)
    sys.modules[DRN_MODULE] = package
    sys.modules[DRN_MODULE + '.drn'] = module
    return True


def register_mish() -> None:
    """Register ``torch.nn.Mish`` as ``dict(type='Mish')`` if mmcv lacks it."""
    if MMENGINE_MODELS.get('Mish') is None:
        MMENGINE_MODELS.register_module(name='Mish', module=nn.Mish)


patch_mmaction_drn()
register_mish()
