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

2. torch >= 2.6 loads checkpoints with ``weights_only=True``. Checkpoints saved
   by mmengine's runner carry its message hub (``HistoryBuffer`` objects with
   numpy arrays inside), so ``mim test ... --checkpoint`` fails with
   "Unsupported global". :func:`register_safe_globals` adds exactly what
   such checkpoints hold (``HistoryBuffer``, numpy arrays/dtypes/scalars and
   ``getattr``) to torch's safe-globals allow-list, keeping safe loading on:
   arbitrary pickled code is still refused.

3. mmcv 2.1.0 registers ReLU, LeakyReLU, SiLU, GELU... but not Mish, the
   activation of YOLOv4's CSPDarknet53. ``ConvModule`` builds activations from
   mmengine's root registry, so :func:`register_mish` puts ``torch.nn.Mish``
   there: ``dict(type='Mish')`` then resolves under any default scope.
"""
import importlib.util
import os.path as osp
import sys
import types
from typing import List

import numpy as np
import torch
import torch.nn as nn
from mmengine.registry import MODELS as MMENGINE_MODELS

DRN_MODULE = 'mmaction.models.localizers.drn'


class _MissingDRN:
    """Placeholder for the ``DRN`` localizer missing from the mmaction2 wheel."""

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
    return not osp.isfile(osp.join(root, 'models', 'localizers', 'drn',
                                   'drn.py'))


def patch_mmaction_drn() -> bool:
    """Provide the missing ``drn`` modules; return whether a patch was needed."""
    if DRN_MODULE + '.drn' in sys.modules or not mmaction_lacks_drn():
        return False
    package = types.ModuleType(DRN_MODULE)
    package.__path__ = []  # a package, so ``drn.drn`` resolves
    module = types.ModuleType(DRN_MODULE + '.drn')
    module.DRN = _MissingDRN
    package.drn = module
    sys.modules[DRN_MODULE] = package
    sys.modules[DRN_MODULE + '.drn'] = module
    return True


def checkpoint_safe_globals() -> List[object]:
    """The non-tensor classes found in checkpoints saved by mmengine."""
    from mmengine.logging.history_buffer import HistoryBuffer
    numpy_globals: List[object] = [np.ndarray, np.dtype]
    # ndarray pickles reduce through ``_reconstruct``, whose module moved in
    # numpy 2 (numpy.core -> numpy._core); admit whichever this numpy uses.
    reconstruct = getattr(np, '_core', None) or np.core
    numpy_globals.append(reconstruct.multiarray._reconstruct)
    numpy_globals.append(reconstruct.multiarray.scalar)
    # Concrete dtype classes (numpy >= 1.25) appear in pickled dtypes.
    dtypes = getattr(np, 'dtypes', None)
    if dtypes is not None:
        numpy_globals.extend(
            getattr(dtypes, name) for name in dir(dtypes)
            if name.endswith('DType'))
    # HistoryBuffer pickles its statistics methods as ``getattr(cls, name)``.
    # Allowing ``getattr`` stays safe: the weights-only unpickler only calls
    # allow-listed callables, so a fetched attribute can never be invoked.
    return [HistoryBuffer, getattr, *numpy_globals]


def register_safe_globals() -> None:
    """Allow-list mmengine's checkpoint contents for ``weights_only`` loads."""
    add = getattr(torch.serialization, 'add_safe_globals', None)
    if add is not None:  # torch < 2.4 has no allow-list (and no default)
        add(checkpoint_safe_globals())


def register_mish() -> None:
    """Register ``torch.nn.Mish`` as ``dict(type='Mish')`` if mmcv lacks it."""
    if MMENGINE_MODELS.get('Mish') is None:
        MMENGINE_MODELS.register_module(name='Mish', module=nn.Mish)


patch_mmaction_drn()
register_safe_globals()
register_mish()
