"""Torch checkpoint files read as data: tensors, plain containers, numbers.

Both formats ``torch.save`` writes are read without ``torch.load``:

* the zip archive (torch >= 1.6): ``<name>/data.pkl`` is run by
  :class:`~mmyowo.fileio.safe_pickle.DataUnpickler`; its persistent ids name
  storage records ``<name>/data/<key>``, read into tensors of the dtype the
  storage class names (from a fixed table) after their sizes are checked;
* the legacy stream (torch < 1.6, e.g. torchvision's 2017 ResNet weights):
  a magic number, the protocol, the system info and the object pickle, each
  read the same way, then the storages' raw bytes.

Tensors are made with ``torch.as_strided`` on those storages after checking
that every view lies inside its storage, that its sizes, strides and offset
fit in torch's 64-bit integers and that it has at most
:attr:`~mmyowo.fileio.safe_pickle.PickleLimits.max_items` elements (a
stride of 0 repeats one element: a view of ``2**80`` elements needs one).
Zip records that are encrypted or stored as patches are refused. Other
torch objects (quantized, sparse or nested tensors, bare modules) are
refused; names of other libraries become placeholders
(:class:`~mmyowo.fileio.safe_pickle.Placeholder`, counted in the report),
except mmengine's ``HistoryBuffer``, which becomes the plain dict of
:mod:`mmyowo.fileio.message_hub_state`.

Resources: the declared size of every zip record counts against a budget of
:attr:`ArchiveLimits.max_expansion` times the file size (at least
:attr:`ArchiveLimits.min_budget`), so a small compressed record cannot
expand to gigabytes; a storage must have exactly the bytes its tensor
claims; the pickle itself is bounded by :class:`ArchiveLimits` and
:class:`~mmyowo.fileio.safe_pickle.PickleLimits`. Moving the result to
another device handles each object once, however often the file refers to
it (objects shared in the file stay shared).
"""
import io
import math
import os
import re
import zipfile
import zlib
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Optional, Tuple, Union

import numpy as np
import torch

from .message_hub_state import plain_history_buffer
from .safe_pickle import (DataUnpickler, GlobalRef, PendingObject,
                          PickleLimits, PickleRefusedError, PickleReport,
                          short_repr)

__all__ = ['ArchiveLimits', 'read_torch_checkpoint']

#: ``torch.<X>Storage`` names in persistent ids, and their dtypes.
STORAGE_DTYPES: Dict[str, torch.dtype] = {
    'FloatStorage': torch.float32,
    'DoubleStorage': torch.float64,
    'HalfStorage': torch.float16,
    'BFloat16Storage': torch.bfloat16,
    'LongStorage': torch.int64,
    'IntStorage': torch.int32,
    'ShortStorage': torch.int16,
    'CharStorage': torch.int8,
    'ByteStorage': torch.uint8,
    'BoolStorage': torch.bool,
    'ComplexFloatStorage': torch.complex64,
    'ComplexDoubleStorage': torch.complex128,
    'UntypedStorage': torch.uint8,
}
#: ``torch.float32`` & co. as values (dtypes pickle as a global name).
TORCH_DTYPE_VALUES: Dict[Tuple[str, str], Any] = {
    ('torch', name): value
    for name, value in vars(torch).items() if isinstance(value, torch.dtype)
}
_DEVICE = re.compile(r'^(cpu|cuda|mps|meta|xpu|hpu)(:\d{1,3})?$')
LEGACY_MAGIC = 0x1950a86a20f9469cfc6c
LEGACY_PROTOCOL = 1001
MiB = 1 << 20
#: Torch's sizes, strides and offsets are 64-bit signed integers.
_INT64 = 2**63
#: Zip flag bits of records zipfile cannot read: encrypted (0x1), patch
#: data (0x20), strongly encrypted (0x40). torch.save sets none of them.
UNREADABLE_ZIP_FLAGS = {
    0x1: 'is encrypted',
    0x20: 'holds patch data',
    0x40: 'is encrypted'
}

MapLocation = Union[None, str, torch.device, Dict[str, str], Callable]


@dataclass(frozen=True)
class ArchiveLimits:
    """Size limits of checkpoint files.

    Attributes:
        max_expansion (float): Bytes all zip records may declare, as a
            multiple of the file size (torch stores records uncompressed,
            so real checkpoints declare about 1x).
        min_budget (int): Bytes all records may declare in any case.
        max_pickle_bytes (int): Size of the object pickle (``data.pkl``);
            real ones are kilobytes to a few megabytes.
        pickle (PickleLimits): Limits of the pickle reader.
    """

    max_expansion: float = 4.0
    min_budget: int = 16 * MiB
    max_pickle_bytes: int = 256 * MiB
    pickle: PickleLimits = PickleLimits()


class _Storage:
    """A storage read from the file: a flat CPU tensor and its saved
    location."""

    __slots__ = ('flat', 'location')

    def __init__(self, flat: torch.Tensor, location: str) -> None:
        self.flat = flat
        self.location = location


class _StorageValue(PendingObject):
    """A storage that ends up as a value (not inside a tensor)."""

    def __init__(self, storage: _Storage) -> None:
        self.storage = storage

    def finish(self, vm: DataUnpickler) -> torch.Tensor:
        """A 1-D tensor over the storage."""
        return self.storage.flat


def _int(value: Any, vm: DataUnpickler, what: str) -> int:
    """A non-negative int (not a bool) that fits in 64 bits."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise vm.refuse(f'tensor {what} {short_repr(value, 40)} is not a '
                        'non-negative integer')
    if value >= _INT64:
        raise vm.refuse(f'tensor {what} {short_repr(value, 40)} does not fit '
                        'in 64 bits')
    return value


def _ints(value: Any, vm: DataUnpickler, what: str) -> Tuple[int, ...]:
    """A tuple of non-negative ints of at most 64 dimensions."""
    if not isinstance(value, tuple) or len(value) > 64:
        raise vm.refuse(f'tensor {what} is not a tuple')
    return tuple(_int(v, vm, what) for v in value)


def _storage_of(value: Any, vm: DataUnpickler) -> _Storage:
    """The storage argument of a tensor."""
    if isinstance(value, _StorageValue):
        return value.storage
    raise vm.refuse(f'a tensor over a {type(value).__name__}, not a storage '
                    'of the file')


def _tensor(vm: DataUnpickler, storage: Any, offset: Any, size: Any,
            stride: Any) -> torch.Tensor:
    """A view of ``storage`` after checking it lies inside it."""
    flat = _storage_of(storage, vm).flat
    offset = _int(offset, vm, 'offset')
    size = _ints(size, vm, 'size')
    stride = _ints(stride, vm, 'stride')
    if len(size) != len(stride):
        raise vm.refuse('tensor size and stride of different lengths')
    numel = math.prod(size)
    # Strides of 0 let a view of one element claim any number of them,
    # which torch cannot count past 2**63 and a copy cannot hold.
    if numel > vm.limits.max_items:
        raise vm.refuse(f'a tensor of size {size} has {numel} elements, more '
                        f'than {vm.limits.max_items} (limit)')
    if numel:
        last = offset + sum((n - 1) * s for n, s in zip(size, stride))
        if last >= flat.numel():
            raise vm.refuse(f'a tensor of size {size} and stride {stride} at '
                            f'offset {offset} reaches past its storage of '
                            f'{flat.numel()} elements')
    return torch.as_strided(flat, size, stride, offset)


def _drop_if_any(vm: DataUnpickler, value: Any, what: str) -> None:
    """Count non-empty hooks / metadata / state that are not read."""
    if value is not None and value != {} and value != ():
        vm.report.dropped[what] += 1


def _rebuild_tensor_v2(vm: DataUnpickler, args: tuple) -> torch.Tensor:
    """``_rebuild_tensor_v2(storage, offset, size, stride, requires_grad,
    backward_hooks[, metadata])``."""
    if len(args) not in (6, 7):
        raise vm.refuse('_rebuild_tensor_v2 with unexpected arguments')
    _drop_if_any(vm, args[5], 'tensor backward hooks')
    if len(args) == 7:
        _drop_if_any(vm, args[6], 'tensor metadata')
    return _tensor(vm, *args[:4])


def _rebuild_tensor(vm: DataUnpickler, args: tuple) -> torch.Tensor:
    """``_rebuild_tensor(storage, offset, size, stride)``."""
    if len(args) != 4:
        raise vm.refuse('_rebuild_tensor with unexpected arguments')
    return _tensor(vm, *args)


def _rebuild_parameter(vm: DataUnpickler, args: tuple) -> torch.Tensor:
    """``_rebuild_parameter[_with_state](data, requires_grad, hooks[,
    state])``: the plain tensor (state dicts hold tensors)."""
    if len(args) not in (3, 4) or not isinstance(args[0], torch.Tensor):
        raise vm.refuse('_rebuild_parameter with unexpected arguments')
    _drop_if_any(vm, args[2], 'tensor backward hooks')
    if len(args) == 4:
        _drop_if_any(vm, args[3], 'parameter state')
    return args[0]


_TENSOR_TYPES = (GlobalRef('torch',
                           'Tensor'), GlobalRef('torch._tensor', 'Tensor'),
                 GlobalRef('torch.nn.parameter', 'Parameter'))


def _rebuild_from_type_v2(vm: DataUnpickler, args: tuple) -> torch.Tensor:
    """``_rebuild_from_type_v2(func, type, args, state)`` for plain tensors and
    parameters."""
    if len(args) != 4 or args[1] not in _TENSOR_TYPES or \
            not isinstance(args[2], tuple) or \
            args[0] not in _TENSOR_FUNCTIONS:
        raise vm.refuse('_rebuild_from_type_v2 of a tensor subclass')
    _drop_if_any(vm, args[3], 'tensor state')
    return vm.call(args[0], args[2])


def _size(vm: DataUnpickler, args: tuple) -> torch.Size:
    """``torch.Size(dims)``."""
    if len(args) != 1:
        raise vm.refuse('torch.Size with unexpected arguments')
    return torch.Size(
        _ints(
            tuple(args[0]) if isinstance(args[0], list) else args[0], vm,
            'size'))


def _device(vm: DataUnpickler, args: tuple) -> torch.device:
    """``torch.device('cuda:0')`` / ``torch.device('cuda', 0)``."""
    text = ':'.join(str(a) for a in args) if len(args) == 2 and \
        isinstance(args[0], str) and isinstance(args[1], int) else \
        (args[0] if len(args) == 1 else None)
    if not isinstance(text, str) or not _DEVICE.match(text):
        raise vm.refuse(f'torch.device{short_repr(args, 60)}')
    return torch.device(text)


def _unsupported(vm: DataUnpickler, args: tuple) -> Any:
    """Tensors that are not plain dense tensors."""
    raise vm.refuse('a quantized, sparse, nested or device-specific tensor, '
                    'which checkpoints of this project do not hold')


_TENSOR_FUNCTIONS = (GlobalRef('torch._utils', '_rebuild_tensor_v2'),
                     GlobalRef('torch._utils', '_rebuild_tensor'))

TORCH_READERS = {
    ('torch._utils', '_rebuild_tensor_v2'): _rebuild_tensor_v2,
    ('torch._utils', '_rebuild_tensor'): _rebuild_tensor,
    ('torch._utils', '_rebuild_parameter'): _rebuild_parameter,
    ('torch._utils', '_rebuild_parameter_with_state'): _rebuild_parameter,
    ('torch._tensor', '_rebuild_from_type_v2'): _rebuild_from_type_v2,
    ('torch', 'Size'): _size,
    ('torch', 'device'): _device,
}
for _name in ('_rebuild_qtensor', '_rebuild_sparse_tensor',
              '_rebuild_sparse_csr_tensor', '_rebuild_nested_tensor',
              '_rebuild_device_tensor_from_numpy',
              '_rebuild_meta_tensor_no_storage', '_rebuild_wrapper_subclass',
              '_rebuild_xla_tensor', '_rebuild_mps_tensor',
              '_rebuild_device_tensor_from_cpu_tensor'):
    TORCH_READERS[('torch._utils', _name)] = _unsupported
TORCH_READERS[('torch.storage', '_load_from_bytes')] = _unsupported


class _HistoryBuffer(PendingObject):
    """mmengine's ``HistoryBuffer``: becomes a plain dict, never built.

    Its ``statistics_methods`` (``getattr(HistoryBuffer, 'mean')`` in the
    file) are dropped unread: the restored buffer uses mmengine's own.
    """

    state: Optional[dict] = None
    FIELDS = frozenset(
        ('max_length', '_log_history', '_count_history', 'statistics_methods'))

    def build(self, state: Any, vm: DataUnpickler) -> None:
        """Keep the numeric fields."""
        if not isinstance(state, dict) or self.state is not None:
            raise vm.refuse('a HistoryBuffer state that is not a dict')
        for name in set(state) - self.FIELDS:
            vm.report.dropped[f'HistoryBuffer.{name}'] += 1
        self.state = state

    def finish(self, vm: DataUnpickler) -> Dict[str, Any]:
        """The plain form (:func:`plain_history_buffer`)."""
        state = self.state or {}
        values = []
        for name in ('_log_history', '_count_history'):
            value = state.get(name, np.zeros(0))
            values.append(
                value.finish(vm) if isinstance(value, PendingObject) else value
            )
        try:
            return plain_history_buffer(
                state.get('max_length', 1_000_000), values[0], values[1],
                vm.source)
        except ValueError as err:
            raise vm.refuse(str(err)) from None


TORCH_CLASSES = {
    ('mmengine.logging.history_buffer', 'HistoryBuffer'):
    lambda vm, args: _HistoryBuffer(),
}
_LEAVES = (torch.Tensor, torch.dtype, torch.device, torch.Size)


def _storage_dtype(value: Any, vm: DataUnpickler) -> torch.dtype:
    """The dtype of a ``torch.<X>Storage`` name."""
    if isinstance(value, GlobalRef) and value.module == 'torch' and \
            value.name in STORAGE_DTYPES:
        return STORAGE_DTYPES[value.name]
    raise vm.refuse(f'storage type {short_repr(value, 60)}')


def _check_bool(flat: torch.Tensor, vm: DataUnpickler) -> None:
    """Booleans must be bytes 0 or 1 (torch assumes it)."""
    if flat.dtype == torch.bool and flat.numel() and \
            int(flat.view(torch.uint8).max()) > 1:
        raise vm.refuse('a boolean tensor with bytes other than 0 and 1')


def _from_bytes(buffer: bytearray, dtype: torch.dtype, little: bool,
                vm: DataUnpickler) -> torch.Tensor:
    """A flat tensor over ``buffer`` (byte-swapped from big-endian)."""
    if not buffer:
        return torch.empty(0, dtype=dtype)
    flat = torch.frombuffer(buffer, dtype=dtype)
    if not little and flat.element_size() > 1:
        if dtype == torch.bfloat16:
            raise vm.refuse('a big-endian bfloat16 storage')
        swapped = flat.numpy().byteswap()
        flat = torch.from_numpy(swapped)
    _check_bool(flat, vm)
    return flat


def _new_vm(data: Any,
            source: str,
            limits: ArchiveLimits,
            persistent_load: Optional[Callable[[Any], Any]] = None,
            unknown: str = 'placeholder') -> DataUnpickler:
    """A reader with the torch readers."""
    return DataUnpickler(
        data,
        source,
        unknown=unknown,
        readers=TORCH_READERS,
        classes=TORCH_CLASSES,
        values=TORCH_DTYPE_VALUES,
        persistent_load=persistent_load,
        leaves=_LEAVES,
        limits=limits.pickle)


def _read_record(archive: zipfile.ZipFile, info: zipfile.ZipInfo,
                 source: str) -> bytearray:
    """The bytes of one record, which must have its declared size."""
    buffer = bytearray(info.file_size)
    with archive.open(info) as stream:
        done = 0
        while done < len(buffer):
            chunk = stream.read(min(len(buffer) - done, 16 * MiB))
            if not chunk:
                break
            buffer[done:done + len(chunk)] = chunk
            done += len(chunk)
        if done != len(buffer) or stream.read(1):
            raise PickleRefusedError(
                f'{source}: record {info.filename} does not have its '
                'declared size')
    return buffer


def _read_zip(file: Any, size: int, source: str,
              limits: ArchiveLimits) -> Tuple[Any, PickleReport, List[Any]]:
    """The zip format; returns ``(value, report, storages)``."""
    try:
        archive = zipfile.ZipFile(file)
        infos = archive.infolist()
    except (zipfile.BadZipFile, ValueError, OSError, EOFError) as err:
        raise PickleRefusedError(
            f'{source}: a damaged zip archive ({err})') from None
    pickles = [
        i for i in infos
        if i.filename.endswith('/data.pkl') and i.filename.count('/') == 1
    ]
    if len(pickles) != 1:
        raise PickleRefusedError(
            f'{source}: a zip archive that is not a torch checkpoint (it '
            f'has {len(pickles)} <name>/data.pkl records)')
    prefix = pickles[0].filename[:-len('data.pkl')]
    budget = max(limits.min_budget, limits.max_expansion * size)
    declared = sum(i.file_size for i in infos)
    if declared > budget:
        raise PickleRefusedError(
            f'{source}: its records expand to {declared} bytes, more than '
            f'{limits.max_expansion:g}x the file size ({size} bytes; limit '
            f'{int(budget)} bytes): a zip bomb or not a torch checkpoint')
    for info in infos:
        if info.compress_type not in (zipfile.ZIP_STORED,
                                      zipfile.ZIP_DEFLATED):
            raise PickleRefusedError(
                f'{source}: record {info.filename} uses compression method '
                f'{info.compress_type} (torch stores records uncompressed)')
        for bit, what in UNREADABLE_ZIP_FLAGS.items():
            if info.flag_bits & bit:
                raise PickleRefusedError(
                    f'{source}: record {info.filename} {what} (torch stores '
                    'records as plain bytes)')
    if pickles[0].file_size > limits.max_pickle_bytes:
        raise PickleRefusedError(
            f'{source}: its object pickle has {pickles[0].file_size} bytes '
            f'(limit {limits.max_pickle_bytes})')
    names = {i.filename: i for i in infos}

    def read(info: zipfile.ZipInfo) -> bytearray:
        try:
            return _read_record(archive, info, source)
        except (zipfile.BadZipFile, zlib.error, EOFError, OSError,
                UnicodeDecodeError) as err:
            # A CRC or compression failure, or a local header whose name
            # is not the UTF-8 it claims.
            raise PickleRefusedError(
                f'{source}: record {info.filename} is damaged '
                f'({type(err).__name__}: {str(err)[:200]})') from None

    little = True
    if prefix + 'byteorder' in names:
        order = bytes(read(names[prefix + 'byteorder']))
        if order not in (b'little', b'big'):
            raise PickleRefusedError(f'{source}: byte order {order[:20]!r}')
        little = order == b'little'
    storages: Dict[str, _Storage] = {}

    def persistent_load(pid: Any) -> _StorageValue:
        if not isinstance(pid, tuple) or len(pid) != 5 or \
                pid[0] != 'storage':
            raise vm.refuse(f'persistent id {short_repr(pid)}')
        _, kind, key, location, numel = pid
        dtype = _storage_dtype(kind, vm)
        if not isinstance(key, str) or not isinstance(location, str):
            raise vm.refuse('a storage key or location that is not text')
        if key in storages:
            if storages[key].flat.dtype != dtype:
                raise vm.refuse(f'storage {key} read with two dtypes')
            return _StorageValue(storages[key])
        info = names.get(f'{prefix}data/{key}')
        if info is None:
            raise vm.refuse(f'storage record data/{key} is missing')
        itemsize = torch.empty(0, dtype=dtype).element_size()
        if kind.name != 'UntypedStorage':
            numel = _int(numel, vm, 'storage size')
            if info.file_size != numel * itemsize:
                raise vm.refuse(f'storage data/{key} has {info.file_size} '
                                f'bytes, its {kind.name} of {numel} '
                                f'elements needs {numel * itemsize}')
        storages[key] = _Storage(
            _from_bytes(read(info), dtype, little, vm), location)
        return _StorageValue(storages[key])

    vm = _new_vm(
        bytes(read(pickles[0])),
        source,
        limits,
        persistent_load=persistent_load)
    value = vm.load()
    return value, vm.report, list(storages.values())


def _read_legacy(data: bytes, source: str,
                 limits: ArchiveLimits) -> Tuple[Any, PickleReport, List[Any]]:
    """The legacy (torch < 1.6) stream format."""
    stream = io.BytesIO(data)
    try:
        magic = _new_vm(stream, source, limits, unknown='error').load()
    except PickleRefusedError:
        magic = None
    if magic != LEGACY_MAGIC:
        raise PickleRefusedError(
            f'{source}: not a torch checkpoint (neither a zip archive nor '
            'the legacy format)')
    protocol = _new_vm(stream, source, limits, unknown='error').load()
    info = _new_vm(stream, source, limits, unknown='error').load()
    if protocol != LEGACY_PROTOCOL or not isinstance(info, dict) or \
            not isinstance(info.get('little_endian', True), bool):
        raise PickleRefusedError(f'{source}: a legacy torch file of protocol '
                                 f'{short_repr(protocol, 20)}')
    little = info.get('little_endian', True)
    roots: Dict[str, _Storage] = {}
    views: Dict[str, _StorageValue] = {}

    def persistent_load(pid: Any) -> _StorageValue:
        if not isinstance(pid, tuple) or len(pid) != 6 or \
                pid[0] != 'storage':
            raise vm.refuse(f'persistent id {short_repr(pid)} (legacy files '
                            'holding modules are not read)')
        _, kind, key, location, numel, view = pid
        dtype = _storage_dtype(kind, vm)
        numel = _int(numel, vm, 'storage size')
        if not isinstance(key, str) or not isinstance(location, str):
            raise vm.refuse('a storage key or location that is not text')
        if key not in roots:
            itemsize = torch.empty(0, dtype=dtype).element_size()
            if numel * itemsize > len(data):
                raise vm.refuse(f'storage {key} declares {numel} elements, '
                                f'more than the file ({len(data)} bytes) '
                                'holds')
            roots[key] = _Storage(torch.empty(numel, dtype=dtype), location)
        root = roots[key]
        if root.flat.dtype != dtype:
            raise vm.refuse(f'storage {key} read with two dtypes')
        if view is None:
            return _StorageValue(root)
        if not (isinstance(view, tuple) and len(view) == 3
                and isinstance(view[0], str)):
            raise vm.refuse('a storage view of an unknown layout')
        offset, length = _int(view[1], vm, 'view'), _int(view[2], vm, 'view')
        if offset + length > root.flat.numel():
            raise vm.refuse(f'storage view {view[0]} outside storage {key}')
        if view[0] not in views:
            views[view[0]] = _StorageValue(
                _Storage(root.flat[offset:offset + length], location))
        return views[view[0]]

    vm = _new_vm(stream, source, limits, persistent_load=persistent_load)
    value = vm.load()
    keys = _new_vm(stream, source, limits, unknown='error').load()
    if not isinstance(keys, list) or set(keys) != set(roots):
        raise PickleRefusedError(
            f'{source}: the list of storages does not match the objects '
            '(truncated or damaged)')
    for key in keys:
        flat = roots[key].flat
        head = stream.read(8)
        nbytes = flat.numel() * flat.element_size()
        if len(head) != 8 or int.from_bytes(
                head, 'little' if little else 'big') != flat.numel():
            raise PickleRefusedError(
                f'{source}: storage {key} does not have its declared size '
                '(truncated or damaged)')
        raw = bytearray(stream.read(nbytes))
        if len(raw) != nbytes:
            raise PickleRefusedError(
                f'{source}: storage {key} is cut short (truncated)')
        flat.copy_(_from_bytes(raw, flat.dtype, little, vm))
    return value, vm.report, list(roots.values())


def _target(location: str, map_location: MapLocation) -> torch.device:
    """Where a storage saved at ``location`` goes (``torch.load``'s rules,
    except that a saved CUDA location without CUDA maps to the CPU)."""
    if callable(map_location):
        moved = map_location(torch.UntypedStorage(0), location)
        return torch.device('cpu') if moved is None else moved.device
    if isinstance(map_location, dict):
        location = map_location.get(location, location)
    elif map_location is not None:
        return torch.device(map_location)
    if location.startswith('cuda') and torch.cuda.is_available():
        return torch.device(location)
    return torch.device('cpu')


def _move(value: Any, device: torch.device) -> Any:
    """``value`` with every tensor on ``device`` (containers rebuilt).

    Each object is moved once (by id), so what the file shares (tied weights, a
    list referred to many times) stays shared and costs one step per reference,
    not one per path to it.
    """
    # id -> (object, moved): the object is kept so that its id stays unique.
    done: Dict[int, Tuple[Any, Any]] = {}

    def move(node: Any) -> Any:
        key = id(node)
        if key in done:
            return done[key][1]
        if isinstance(node, torch.Tensor):
            moved: Any = node.to(device)
        elif isinstance(node, dict):
            moved = type(node)()
            for k, v in node.items():
                moved[k] = move(v)
            if hasattr(node, '_metadata'):
                moved._metadata = node._metadata
        elif isinstance(node, (list, tuple)) and \
                not isinstance(node, torch.Size):
            moved = type(node)(move(v) for v in node)
        else:
            moved = node
        done[key] = (node, moved)
        return moved

    return move(value)


def read_torch_checkpoint(
    file: Union[str, bytes],
    source: Optional[str] = None,
    map_location: MapLocation = None,
    limits: ArchiveLimits = ArchiveLimits()
) -> Tuple[Any, PickleReport]:
    """Read a ``torch.save`` file as data (module docstring).

    Args:
        file: Local path, or the file's bytes.
        source: Name for messages (default: the path).
        map_location: As for ``torch.load``: a device, a string, a dict of
            saved to new locations or a callable ``fn(storage, location)``.
        limits: Size limits.

    Returns:
        ``(checkpoint, report)``: the report counts what was replaced by
        placeholders or dropped.

    Raises:
        PickleRefusedError: Naming the file: damaged, truncated, not a torch
            file, over a limit, or holding objects that are not read.
    """
    source = source or (file if isinstance(file, str) else '<bytes>')
    try:
        value, report, storages = _read(file, source, limits)
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError) as err:
        # A record whose bytes fail their CRC or their compression.
        raise PickleRefusedError(
            f'{source}: a damaged zip record ({err})') from None
    devices = {_target(s.location, map_location) for s in storages}
    if devices - {torch.device('cpu')}:
        if len(devices) > 1:
            raise PickleRefusedError(
                f'{source}: map_location sends storages to several devices '
                f'({sorted(map(str, devices))}); pass one device')
        value = _move(value, devices.pop())
    return value, report


def _read(file: Union[str, bytes], source: str,
          limits: ArchiveLimits) -> Tuple[Any, PickleReport, List[Any]]:
    """Dispatch on the format; see :func:`read_torch_checkpoint`."""
    head = file[:4] if isinstance(file, bytes) else _head(file)
    if isinstance(file, str):
        size = os.path.getsize(file)
        with open(file, 'rb') as stream:
            if zipfile.is_zipfile(stream):
                stream.seek(0)
                value, report, storages = _read_zip(stream, size, source,
                                                    limits)
            else:
                _refuse_damaged_zip(head, source)
                stream.seek(0)
                value, report, storages = _read_legacy(stream.read(), source,
                                                       limits)
    else:
        buffer = io.BytesIO(file)
        if zipfile.is_zipfile(buffer):
            value, report, storages = _read_zip(buffer, len(file), source,
                                                limits)
        else:
            _refuse_damaged_zip(head, source)
            value, report, storages = _read_legacy(bytes(file), source, limits)
    return value, report, storages


def _head(path: str) -> bytes:
    """The first four bytes of a file."""
    with open(path, 'rb') as f:
        return f.read(4)


def _refuse_damaged_zip(head: bytes, source: str) -> None:
    """A file that starts like a zip archive but is none: cut short."""
    if head == b'PK\x03\x04':
        raise PickleRefusedError(
            f'{source}: a damaged zip archive (no central directory: '
            'truncated or half-written)')
