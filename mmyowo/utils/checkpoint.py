"""Safe, loud checkpoint loading for every way a checkpoint is named.

Checkpoints are untrusted input: a pickle can name any importable callable
and make the unpickler call it, and even allow-listed classes run their own
restore code on file data. Here no checkpoint goes through ``torch.load``:
:func:`load_checkpoint_file` reads it with
:func:`mmyowo.fileio.read_torch_checkpoint`, which builds nothing but
tensors, numpy arrays of numeric dtypes and plain containers (see
:mod:`mmyowo.fileio.safe_pickle`). Objects of other types (an
``argparse.Namespace`` in an old model-zoo ``meta``, or a payload such as
``os.system``) are never built: they become inert
:class:`~mmyowo.fileio.Placeholder` objects, counted in a warning that
names the file. mmengine's ``HistoryBuffer`` (runner checkpoints) becomes a
plain dict that :class:`~mmyowo.engine.AtomicCheckpointHook` turns back
into a buffer on ``--resume``.

:func:`register_checkpoint_loaders` (run on ``import mmyowo``) routes every
scheme of mmengine's ``CheckpointLoader`` through it: local paths,
``http(s)://`` (downloaded into mmyowo's own cache, see
:func:`checkpoint_cache_dir`; a refused download is deleted),
``torchvision://`` / ``modelzoo://``, ``open-mmlab://`` / ``openmmlab://``,
``mmcls://`` (their URLs resolved as mmengine does) and ``s3://`` /
``petrel://`` (the file's bytes). ``pavi://`` and schemes other libraries
registered are refused with a message saying what to do. So ``--resume``,
``load_from``, ``mim test --checkpoint``, pretrained ``init_cfg``,
``init_detector``, the demo and the converters all load safely.
Nothing process-wide changes: no allow-list, no class attribute, no
library object is touched.

A truncated, empty, refused or over-limit file raises
:class:`CheckpointLoadError` naming the file and the reason.
"""
import hashlib
import logging
import os
import os.path as osp
import re
from typing import Any, Dict, List, Mapping, Optional, Sequence
from urllib.parse import urlparse

import torch
from mmengine.dist import barrier, get_dist_info
from mmengine.fileio import get_file_backend
from mmengine.logging import print_log
from mmengine.runner import checkpoint as mmengine_checkpoint
from mmengine.runner.checkpoint import CheckpointLoader

from mmyowo.fileio import (PickleRefusedError, PickleReport, Placeholder,
                           read_torch_checkpoint)
from mmyowo.fileio.torch_checkpoint import MapLocation


class CheckpointLoadError(ValueError):
    """A checkpoint file that cannot be (or may not be) loaded."""


class CheckpointMismatchError(CheckpointLoadError):
    """A checkpoint whose weights do not fit the model."""


#: Environment variable naming mmyowo's download cache (default
#: ``~/.cache/mmyowo``); checkpoints go to its ``checkpoints`` folder.
CACHE_ENV = 'MMYOWO_HOME'
# torch.hub's file-name convention: ``name-<sha256 prefix>.ext``.
_HASH_IN_NAME = re.compile(r'-([a-f0-9]{8,})\.')


def _warn_skipped(report: PickleReport, filename: str) -> None:
    """Log what the reader did not build (placeholders, dropped state)."""
    summary = report.summary()
    if summary:
        print_log(
            f'{filename}: {summary}. These objects were not built (only '
            'tensors, numeric arrays and plain data are read from '
            'checkpoints); weights are unaffected.',
            logger='current',
            level=logging.WARNING)


def _checked(checkpoint: Any, report: PickleReport, filename: str) -> Any:
    """Refuse a checkpoint that is itself an object not built."""
    if isinstance(checkpoint, Placeholder):
        raise CheckpointLoadError(
            f'{filename}: the file holds a {checkpoint.qualname} object, '
            'not a checkpoint; it was not built (the file may be '
            'malicious)')
    _warn_skipped(report, filename)
    return checkpoint


def load_checkpoint_file(filename: str,
                         map_location: MapLocation = None) -> Any:
    """Read a local checkpoint as data, naming the file on failure.

    Args:
        filename: Local path (``~`` expanded).
        map_location: As for ``torch.load``.

    Returns:
        The checkpoint: tensors, numpy arrays and plain containers (objects
        of other types are :class:`~mmyowo.fileio.Placeholder` objects,
        logged with counts).

    Raises:
        FileNotFoundError: If the file does not exist.
        CheckpointLoadError: If the file is empty, truncated, not a torch
            checkpoint, over a size limit or not data.
    """
    filename = osp.expanduser(filename)
    if not osp.isfile(filename):
        raise FileNotFoundError(f'checkpoint not found: {filename}')
    if osp.getsize(filename) == 0:
        raise CheckpointLoadError(f'{filename}: the checkpoint file is empty')
    try:
        checkpoint, report = read_torch_checkpoint(
            filename, map_location=map_location)
    except PickleRefusedError as err:
        # The message names the file and says what is wrong.
        raise CheckpointLoadError(str(err)) from None
    return _checked(checkpoint, report, filename)


def load_checkpoint_bytes(data: bytes,
                          source: str,
                          map_location: MapLocation = None) -> Any:
    """:func:`load_checkpoint_file` for a checkpoint's bytes (remote
    storage)."""
    if not data:
        raise CheckpointLoadError(f'{source}: the checkpoint file is empty')
    try:
        checkpoint, report = read_torch_checkpoint(
            data, source, map_location=map_location)
    except PickleRefusedError as err:
        raise CheckpointLoadError(str(err)) from None
    return _checked(checkpoint, report, source)


def checkpoint_cache_dir() -> str:
    """Where downloaded checkpoints are kept: ``$MMYOWO_HOME/checkpoints``
    (default ``~/.cache/mmyowo/checkpoints``), never torch hub's cache,
    which ``torch.hub`` loads with ``weights_only=False``."""
    home = os.environ.get(CACHE_ENV) or osp.join('~', '.cache', 'mmyowo')
    return osp.join(osp.expanduser(home), 'checkpoints')


def _sha256(path: str) -> str:
    """Hex SHA-256 of a file."""
    digest = hashlib.sha256()
    with open(path, 'rb') as f:
        for block in iter(lambda: f.read(1 << 20), b''):
            digest.update(block)
    return digest.hexdigest()


def load_checkpoint_url(url: str,
                        map_location: MapLocation = None,
                        model_dir: Optional[str] = None) -> Any:
    """Download ``url`` once into mmyowo's cache, then load it as data.

    A download whose name carries a SHA-256 prefix (torch hub's
    ``name-<hash>.pth`` convention) is checked against it. A file that is
    refused (damaged, wrong hash, not a checkpoint) is deleted, so a later
    load downloads it again instead of reusing it. In distributed runs local
    rank 0 downloads while the others wait.

    Raises:
        CheckpointLoadError: Naming the URL and the cached file.
    """
    if model_dir is None:
        model_dir = checkpoint_cache_dir()
    name = osp.basename(urlparse(url).path)
    if not name or name in ('.', '..'):
        raise CheckpointLoadError(f'{url}: the URL names no file')
    filename = osp.join(model_dir, name)
    rank, world_size = get_dist_info()
    local_rank = int(os.environ.get('LOCAL_RANK', rank))
    if local_rank == 0 and not osp.isfile(filename):
        os.makedirs(model_dir, exist_ok=True)
        # Writes a temporary file and renames it when complete.
        torch.hub.download_url_to_file(url, filename, progress=False)
    if world_size > 1:
        barrier()
    try:
        expected = _HASH_IN_NAME.search(name)
        if expected and not _sha256(filename).startswith(expected.group(1)):
            raise CheckpointLoadError(
                f'{url} (cached as {filename}): its SHA-256 does not start '
                f'with {expected.group(1)} as its name says')
        return load_checkpoint_file(filename, map_location)
    except CheckpointLoadError:
        if local_rank == 0 and osp.isfile(filename):
            os.remove(filename)
        raise


def load_from_safe_local(filename: str, map_location: Any = None) -> Any:
    """mmengine loader of local files (it logs "safe_local backend")."""
    return load_checkpoint_file(filename, map_location)


def load_from_safe_http(url: str, map_location: Any = None) -> Any:
    """mmengine loader of http(s) URLs (it logs "safe_http backend")."""
    return load_checkpoint_url(url, map_location)


def _model_url(table: Mapping[str, str], name: str, scheme: str) -> str:
    """A model name's URL from one of mmengine's tables."""
    if name not in table:
        raise CheckpointLoadError(
            f'{scheme}{name}: unknown model name (mmengine knows '
            f'{len(table)} names under {scheme})')
    return table[name]


def load_from_safe_torchvision(filename: str, map_location: Any = None) -> Any:
    """``torchvision://NAME`` / ``modelzoo://NAME``: torchvision's URL, loaded
    as data."""
    scheme = 'modelzoo://' if filename.startswith('modelzoo://') else \
        'torchvision://'
    urls = mmengine_checkpoint.get_torchvision_models()
    return load_checkpoint_url(
        _model_url(urls, filename[len(scheme):], scheme), map_location)


def load_from_safe_openmmlab(filename: str, map_location: Any = None) -> Any:
    """``open-mmlab://NAME`` / ``openmmlab://NAME``: OpenMMLab's URL (or a file
    under mmengine's home), loaded as data."""
    scheme = 'open-mmlab://' if filename.startswith('open-mmlab://') else \
        'openmmlab://'
    name = filename[len(scheme):]
    deprecated = mmengine_checkpoint.get_deprecated_model_names()
    name = deprecated.get(name, name)
    url = _model_url(mmengine_checkpoint.get_external_models(), name, scheme)
    if url.startswith(('http://', 'https://')):
        return load_checkpoint_url(url, map_location)
    return load_checkpoint_file(
        osp.join(mmengine_checkpoint._get_mmengine_home(), url), map_location)


def load_from_safe_mmcls(filename: str, map_location: Any = None) -> Any:
    """``mmcls://NAME``: the backbone of an mmcls model, as data."""
    url = _model_url(mmengine_checkpoint.get_mmcls_models(),
                     filename[len('mmcls://'):], 'mmcls://')
    checkpoint = load_checkpoint_url(url, map_location)
    return mmengine_checkpoint._process_mmcls_checkpoint(checkpoint)


def load_from_safe_storage(filename: str, map_location: Any = None) -> Any:
    """``s3://`` / ``petrel://``: the bytes from mmengine's file backend,
    read as data."""
    backend = get_file_backend(filename, backend_args={'backend': 'petrel'})
    return load_checkpoint_bytes(
        backend.get(filename), filename, map_location=map_location)


def _refusing_loader(scheme: str) -> Any:
    """A loader that refuses ``scheme`` with what to do instead."""

    def load_from_refused_scheme(filename: str,
                                 map_location: Any = None) -> Any:
        raise CheckpointLoadError(
            f'{filename}: mmyowo does not load {scheme} checkpoints (their '
            'loader would unpickle the file with weights_only=False); '
            'download the file and pass its local path')

    return load_from_refused_scheme


#: mmengine's schemes and the loader that replaces each.
SAFE_LOADERS = {
    '': load_from_safe_local,
    'http://': load_from_safe_http,
    'https://': load_from_safe_http,
    'torchvision://': load_from_safe_torchvision,
    'modelzoo://': load_from_safe_torchvision,
    'open-mmlab://': load_from_safe_openmmlab,
    'openmmlab://': load_from_safe_openmmlab,
    'mmcls://': load_from_safe_mmcls,
    r'(\S+\:)?s3://': load_from_safe_storage,
    r'(\S+\:)?petrel://': load_from_safe_storage,
}


def register_checkpoint_loaders() -> None:
    """Route every scheme of mmengine's ``CheckpointLoader`` through the data
    reader; refuse those it cannot (``pavi://``, other libraries' schemes
    registered before this call)."""
    for scheme in list(CheckpointLoader._schemes):
        if scheme not in SAFE_LOADERS:
            CheckpointLoader.register_scheme(
                scheme, _refusing_loader(scheme), force=True)
    for scheme, loader in SAFE_LOADERS.items():
        CheckpointLoader.register_scheme(scheme, loader, force=True)


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
