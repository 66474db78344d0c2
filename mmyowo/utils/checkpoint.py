"""Safe, loud checkpoint loading for mmengine checkpoints.

Checkpoints are untrusted input: a pickle can name any importable callable
and make the unpickler call it. torch >= 2.6 loads with ``weights_only=True``,
whose unpickler only admits tensors, containers and an allow-list of globals.
mmengine's runner checkpoints also hold the message hub (``HistoryBuffer``
objects with numpy arrays, whose statistics methods are pickled as
``getattr(HistoryBuffer, 'mean')``), which that allow-list refuses.

What is admitted, and why it cannot run code:

* ``HistoryBuffer``, through :class:`CheckpointHistoryBuffer`, which checks
  the state before ``HistoryBuffer.__setstate__`` copies the file's
  statistics methods into a class-level table shared by the whole process;
  numpy's array reconstructor, ``ndarray``, ``dtype``, the concrete dtype
  classes and numpy's ``scalar``: they build data, never call what the
  file names.
* ``builtins.getattr`` is **not** admitted. The name is mapped to
  :func:`history_buffer_statistic`, which returns only the statistics methods
  of ``HistoryBuffer`` (``min``, ``max``, ``current``, ``mean``) and refuses
  everything else. A real ``getattr`` lets a crafted file read any
  attribute reachable from an admitted class (function globals, modules)
  and plant what it finds in ``HistoryBuffer``'s method table, which
  mmengine's logger then calls.

The allow-list is scoped with ``torch.serialization.safe_globals`` to the
duration of :func:`load_checkpoint_file`: importing mmyowo leaves every other
``torch.load`` of the process untouched.

:func:`register_checkpoint_loaders` makes mmengine's ``CheckpointLoader`` use
this loader for local files and for ``http(s)://`` URLs (mmengine downloads
those through ``torch.hub.load_state_dict_from_url``, which unpickles with
``weights_only=False``), so ``--resume``, ``load_from``, ``mim test
--checkpoint``, pretrained ``init_cfg`` and the inference API all load safely.
A truncated, empty or refused file raises :class:`CheckpointLoadError`
naming the file.
"""
import os
import os.path as osp
import pickle
import struct
from typing import (Any, Callable, Dict, List, Mapping, Optional, Sequence,
                    Tuple, Union)
from urllib.parse import urlparse

import numpy as np
import torch
from mmengine.dist import barrier, get_dist_info
from mmengine.logging.history_buffer import HistoryBuffer
from mmengine.runner.checkpoint import CheckpointLoader

SafeGlobal = Union[Callable, Tuple[Callable, str]]


class CheckpointLoadError(ValueError):
    """A checkpoint file that cannot be (or may not be) loaded."""


class CheckpointMismatchError(CheckpointLoadError):
    """A checkpoint whose weights do not fit the model."""


DEFAULT_STATISTICS = ('min', 'max', 'current', 'mean')
HISTORY_BUFFER_KEYS = frozenset(
    ('max_length', '_log_history', '_count_history', 'statistics_methods'))


def _is_statistic(name: Any, method: Any = None) -> bool:
    """Whether ``name`` is a statistics method of ``HistoryBuffer`` (and
    ``method``, if given, is that very method)."""
    if not isinstance(name, str):
        return False
    own = HistoryBuffer.__dict__.get(name)
    known = name in DEFAULT_STATISTICS or \
        name in HistoryBuffer._statistics_methods
    return known and callable(own) and (method is None or method is own)


def history_buffer_statistic(owner: Any, name: Any) -> Callable:
    """Stand-in for ``getattr`` in checkpoints: ``HistoryBuffer`` statistics.

    Args:
        owner: Must be the ``HistoryBuffer`` class.
        name: One of its statistics methods (``mean``, ...).

    Returns:
        The method, as ``getattr(HistoryBuffer, name)`` would.

    Raises:
        pickle.UnpicklingError: For any other object or attribute.
    """
    # In a checkpoint, the name HistoryBuffer resolves to the checking
    # subclass (see checkpoint_safe_globals).
    if owner not in (HistoryBuffer, CheckpointHistoryBuffer) or \
            not _is_statistic(name):
        raise pickle.UnpicklingError(
            f'getattr({owner!r}, {name!r}) is not allowed in a checkpoint: '
            'only the statistics methods of mmengine\'s HistoryBuffer are')
    return HistoryBuffer.__dict__[name]


class CheckpointHistoryBuffer(HistoryBuffer):
    """Unpickles a ``HistoryBuffer`` after checking its state.

    ``HistoryBuffer.__setstate__`` copies the file's ``statistics_methods``
    into the class-level table that every buffer of the process uses (e.g.
    the logger's ``statistics('mean')``), so a file could plant callables
    there. Here the state may only hold the buffer's own fields, numeric
    arrays and the statistics methods under their own names; the object then
    becomes a plain ``HistoryBuffer``.
    """

    def __setstate__(self, state: Any) -> None:
        """Validate ``state``, then restore a plain ``HistoryBuffer``."""
        if not isinstance(state, dict):
            raise pickle.UnpicklingError(
                'a HistoryBuffer in the checkpoint has a state of type '
                f'{type(state).__name__}')
        if not set(state) <= HISTORY_BUFFER_KEYS:
            raise pickle.UnpicklingError(
                'a HistoryBuffer in the checkpoint has unexpected fields '
                f'{sorted(map(str, set(state) - HISTORY_BUFFER_KEYS))}')
        methods = state.get('statistics_methods', {})
        if not isinstance(methods, dict) or not all(
                _is_statistic(name, method)
                for name, method in methods.items()):
            raise pickle.UnpicklingError(
                'a HistoryBuffer in the checkpoint maps statistics to '
                'something other than its own methods')
        for key in ('_log_history', '_count_history'):
            if key in state and not (isinstance(state[key], np.ndarray)
                                     and state[key].dtype.kind in 'biuf'):
                raise pickle.UnpicklingError(
                    f'a HistoryBuffer in the checkpoint has a non-numeric '
                    f'{key}')
        self.__class__ = HistoryBuffer
        HistoryBuffer.__setstate__(self, state)


def _numpy_globals() -> List[SafeGlobal]:
    """numpy's array and dtype reconstructors, under numpy 1 and 2 names."""
    core = getattr(np, '_core', None) or np.core
    safe: List[SafeGlobal] = [np.ndarray, np.dtype]
    # Files written under numpy 1 name numpy.core, under numpy 2
    # numpy._core; admit both spellings for the same functions.
    for module in ('numpy.core.multiarray', 'numpy._core.multiarray'):
        safe.append((core.multiarray._reconstruct, f'{module}._reconstruct'))
        safe.append((core.multiarray.scalar, f'{module}.scalar'))
    dtypes = getattr(np, 'dtypes', None)
    if dtypes is not None:  # concrete dtype classes (numpy >= 1.25)
        safe.extend(
            getattr(dtypes, name) for name in dir(dtypes)
            if name.endswith('DType'))
    return safe


def checkpoint_safe_globals() -> List[SafeGlobal]:
    """What mmengine checkpoints hold besides tensors (module docstring)."""
    return [(CheckpointHistoryBuffer,
             'mmengine.logging.history_buffer.HistoryBuffer'),
            (history_buffer_statistic, 'builtins.getattr'), *_numpy_globals()]


def load_checkpoint_file(filename: str,
                         map_location: Optional[Any] = None) -> Any:
    """``torch.load`` a local checkpoint safely, naming the file on failure.

    Args:
        filename: Local path (``~`` expanded).
        map_location: As for ``torch.load``.

    Returns:
        The unpickled checkpoint.

    Raises:
        FileNotFoundError: If the file does not exist.
        CheckpointLoadError: If the file is empty, truncated, not a torch
            checkpoint, or holds objects that safe loading refuses.
    """
    filename = osp.expanduser(filename)
    if not osp.isfile(filename):
        raise FileNotFoundError(f'checkpoint not found: {filename}')
    if osp.getsize(filename) == 0:
        raise CheckpointLoadError(f'{filename}: the checkpoint file is empty')
    try:
        with torch.serialization.safe_globals(checkpoint_safe_globals()):
            return torch.load(
                filename, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as err:
        raise CheckpointLoadError(
            f'{filename}: refused by safe loading (weights_only=True): the '
            'file holds objects other than tensors, containers and the '
            f'mmengine message hub. {_first_line(err)}') from err
    except (RuntimeError, EOFError, ValueError, OSError, IndexError, KeyError,
            struct.error) as err:
        # torch raises RuntimeError for a damaged zip archive
        # ("PytorchStreamReader failed ..."), EOFError / ValueError for
        # truncated legacy pickles and OSError when it cannot map the file.
        # Bytes that are no pickle at all (a text file) make its
        # weights-only unpickler fail on a stray opcode: IndexError (an
        # empty stack), KeyError (an unknown memo) or struct.error (an
        # argument cut short).
        raise CheckpointLoadError(
            f'{filename}: cannot be read as a torch checkpoint (truncated, '
            f'half-written or not a checkpoint): {_first_line(err)}') from err


def _first_line(err: BaseException) -> str:
    """The first line of an error's message (or its type)."""
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__


def load_checkpoint_url(url: str,
                        map_location: Optional[Any] = None,
                        model_dir: Optional[str] = None) -> Any:
    """Download ``url`` once into torch hub's cache, then load it safely.

    In distributed runs local rank 0 downloads while the others wait.
    """
    if model_dir is None:
        model_dir = osp.join(torch.hub.get_dir(), 'checkpoints')
    filename = osp.join(model_dir, osp.basename(urlparse(url).path))
    rank, world_size = get_dist_info()
    local_rank = int(os.environ.get('LOCAL_RANK', rank))
    if local_rank == 0 and not osp.isfile(filename):
        os.makedirs(model_dir, exist_ok=True)
        torch.hub.download_url_to_file(url, filename, progress=False)
    if world_size > 1:
        barrier()
    return load_checkpoint_file(filename, map_location)


def load_from_safe_local(filename: str, map_location: Any = None) -> Any:
    """mmengine loader of local files (it logs "safe_local backend")."""
    return load_checkpoint_file(filename, map_location)


def load_from_safe_http(url: str, map_location: Any = None) -> Any:
    """mmengine loader of http(s) URLs (it logs "safe_http backend")."""
    return load_checkpoint_url(url, map_location)


def register_checkpoint_loaders() -> None:
    """Route mmengine's local and http(s) checkpoint loading through here."""
    CheckpointLoader.register_scheme('', load_from_safe_local, force=True)
    CheckpointLoader.register_scheme(('http://', 'https://'),
                                     load_from_safe_http,
                                     force=True)


#: Keys under which training scripts store the weights of a checkpoint
#: (mmengine / mmaction model zoo: ``state_dict``; timm / DeiT: ``model``).
WRAPPER_KEYS = ('state_dict', 'model')
#: Prefix that ``DistributedDataParallel`` adds to every key.
DDP_PREFIX = 'module.'


def unwrap_state_dict(checkpoint: Any, filename: str) -> Dict[str, Any]:
    """The state dict of a loaded checkpoint, ``module.`` prefixes removed.

    A ``state_dict`` or ``model`` entry is unwrapped (mmengine / model zoo /
    timm layouts); otherwise the checkpoint itself must be the state dict.

    Raises:
        CheckpointLoadError: Naming the file, if it holds no state dict.
    """
    for key in WRAPPER_KEYS:
        if isinstance(checkpoint, Mapping) and isinstance(
                checkpoint.get(key), Mapping):
            checkpoint = checkpoint[key]
            break
    if not isinstance(checkpoint, Mapping):
        raise CheckpointLoadError(
            f'{filename} holds a {type(checkpoint).__name__}, not a state '
            'dict')
    state_dict = {}
    for key, value in checkpoint.items():
        if not isinstance(key, str):
            raise CheckpointLoadError(
                f'{filename} is not a state dict: it has the key {key!r}')
        state_dict[key[len(DDP_PREFIX):] if key.startswith(DDP_PREFIX
                                                           ) else key] = value
    return state_dict


def compare_state_dicts(expected: Mapping[str, torch.Tensor],
                        given: Mapping[str, Any]) -> Dict[str, List[str]]:
    """Keys of ``given`` that fit ``expected``, and those that do not.

    Returns:
        dict of key lists, in the order of the dicts: ``loaded`` (a tensor
        of the expected shape), ``missing`` (expected, absent),
        ``unexpected`` (given, not expected) and ``mismatched`` (both, but
        not a tensor of the expected shape).
    """
    report: Dict[str, List[str]] = dict(
        loaded=[], missing=[], unexpected=[], mismatched=[])
    for key, value in given.items():
        if key not in expected:
            report['unexpected'].append(key)
        elif isinstance(value, torch.Tensor) and \
                value.shape == expected[key].shape:
            report['loaded'].append(key)
        else:
            report['mismatched'].append(key)
    report['missing'] = [key for key in expected if key not in given]
    return report


def describe_mismatch(report: Mapping[str, Sequence[str]],
                      limit: int = 5) -> str:
    """One readable paragraph of a :func:`compare_state_dicts` report."""
    parts = [f'{len(report["loaded"])} tensors fit']
    for kind in ('missing', 'unexpected', 'mismatched'):
        keys = report[kind]
        if keys:
            shown = ', '.join(keys[:limit])
            more = f' and {len(keys) - limit} more' if len(keys) > limit \
                else ''
            parts.append(f'{len(keys)} {kind} ({shown}{more})')
    return '; '.join(parts)


def check_state_dict_fits(model: torch.nn.Module, state_dict: Mapping,
                          filename: str) -> Dict[str, List[str]]:
    """Raise unless ``state_dict`` has exactly the model's keys and shapes.

    Raises:
        CheckpointMismatchError: Naming the file and what does not fit (e.g.
            a checkpoint trained for another number of classes).
    """
    expected = model.state_dict()
    report = compare_state_dicts(expected, state_dict)
    if report['missing'] or report['unexpected'] or report['mismatched']:
        shapes = '; '.join(
            f'{key}: {tuple(getattr(state_dict[key], "shape", ()))} in the '
            f'file, {tuple(expected[key].shape)} in the model'
            for key in report['mismatched'][:3])
        raise CheckpointMismatchError(
            f'{filename}: the checkpoint does not fit the model: '
            f'{describe_mismatch(report)}' +
            (f' [{shapes}]' if shapes else '') +
            '. Was it trained with another config (classes, widths, '
            'branches)?')
    return report


def load_model_checkpoint(model: torch.nn.Module,
                          filename: str,
                          map_location: Optional[Any] = 'cpu') -> Any:
    """Load a whole-model checkpoint for testing or inference, strictly.

    Unlike mmengine's ``load_checkpoint`` (``strict=False``: mismatched
    weights are only logged and the model keeps random ones), every model
    tensor must come from the file with its shape.

    Returns:
        The loaded checkpoint (for its ``meta``).

    Raises:
        FileNotFoundError, CheckpointLoadError: Unreadable file.
        CheckpointMismatchError: Missing, unexpected or mis-shaped weights.
    """
    checkpoint = CheckpointLoader.load_checkpoint(
        filename, map_location=map_location)
    state = unwrap_state_dict(checkpoint, filename)
    check_state_dict_fits(model, state, filename)
    model.load_state_dict(state, strict=True)
    return checkpoint
