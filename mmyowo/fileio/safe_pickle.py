"""A pickle reader that builds nothing but data.

Python's unpickler is a small virtual machine whose ``GLOBAL``/``REDUCE``/
``BUILD`` opcodes import any name, call it and hand it file-controlled state:
a checkpoint or annotation pickle is a program. Allow-lists on top of it
(torch's ``weights_only``, a ``find_class`` override) still let admitted
classes run their own restore code on file data, which is how a file planted
callables in mmengine's ``HistoryBuffer`` table or made numpy read an object
pointer from attacker bytes.

:class:`DataUnpickler` runs the opcodes itself (their arguments are decoded
by :func:`pickletools.genops`, which checks every declared length against the
bytes left) and never imports, calls or restores anything named by the file:

* primitives, ``list``/``tuple``/``dict``/``set``/``frozenset``,
  ``bytes``/``bytearray`` come from the opcodes that make them;
* a name the file refers to (``GLOBAL``) becomes an inert
  :class:`GlobalRef`; calling it (``REDUCE``, ``NEWOBJ``, ``INST``,
  ``OBJ``) looks the name up in a fixed table of *readers*, pure functions of
  this module (or of an extension such as the torch checkpoint reader) that
  check their arguments and build plain data: numpy arrays from raw bytes
  with a dtype from a fixed numeric list (:data:`NUMPY_DTYPES`) and a
  checked shape, ``OrderedDict``/``Counter`` of checked keys, ``bytes`` from
  ``latin-1`` text;
* any other name becomes a :class:`Placeholder` (``unknown='placeholder'``,
  counted in the :class:`PickleReport`) or a :class:`PickleRefusedError`
  (``unknown='error'``). Its arguments and state are dropped unread;
* ``BUILD`` (restore state) is honoured only by this module's own pending
  objects (numpy arrays and dtypes) and, for an ``OrderedDict``, only for the
  ``_metadata`` attribute that torch state dicts carry; other attributes are
  dropped and counted. Nothing sets attributes on library objects.

Resources are bounded: declared lengths cannot exceed the bytes left,
the opcode count (hence the number of objects) is capped by
:class:`PickleLimits`, nesting depth is capped, dictionary keys and set
members must be strings, bytes, ``None``, booleans, 64-bit integers or
tuples of those, and
the only codecs are ``latin-1`` and UTF-8. Work that follows references
does not multiply with them: a pickle can refer to one object many times
(``t = (t, t)`` twenty times over is a few dozen bytes with a million
leaves), so

* a key's size counts every member of its nested tuples each time it
  occurs, up to :attr:`PickleLimits.max_key_items`, which bounds what
  checking, hashing and comparing one key costs;
* keys of one dict or set that share a hash value cost a comparison each
  on every insertion, and the hashes of integers and tuples are not
  randomised, so a file could hold thousands of keys crafted to collide
  (quadratic time): the comparisons of a load are budgeted
  (:attr:`PickleLimits.max_collisions`);
* walks over results remember the objects they have seen;
* messages show file data through :func:`short_repr`, which looks at a
  bounded number of members (three levels, six per container) and never at
  the repr of other objects.

Every refusal names the source and the limit.

Example:
    >>> import pickle
    >>> data = pickle.dumps({'a': [1, 2.5, 'x']}, protocol=4)
    >>> DataUnpickler(data, 'example.pkl').load()
    {'a': [1, 2.5, 'x']}
    >>> evil = pickle.dumps(print)
    >>> DataUnpickler(evil, 'evil.pkl', unknown='error').load()
    Traceback (most recent call last):
    ...
    mmyowo.fileio.safe_pickle.PickleRefusedError: evil.pkl: refusing ...
"""
import io
import itertools
import math
import pickletools
import re
from collections import Counter, OrderedDict
from dataclasses import dataclass, field
from typing import (IO, Any, Callable, Dict, List, Mapping, Optional, Set,
                    Tuple, Union)

import _compat_pickle
import numpy as np

__all__ = [
    'DataUnpickler', 'GlobalRef', 'NUMPY_DTYPES', 'PendingObject',
    'Placeholder', 'PickleLimits', 'PickleRefusedError', 'PickleReport',
    'Reader', 'load_data_pickle', 'short_repr'
]


class PickleRefusedError(ValueError):
    """A pickle the data reader refuses; the message names the source."""


class PlaceholderUseError(TypeError):
    """A placeholder (an object the reader did not build) was used."""


@dataclass(frozen=True)
class PickleLimits:
    """Resource limits of :class:`DataUnpickler`.

    Attributes:
        max_ops (int): Opcodes per pickle. Each opcode makes at most one
            object, so this bounds the objects (about 100 bytes each for the
            smallest) whatever the file declares.
        max_depth (int): Nesting depth of containers in the result.
        max_items (int): Elements of one numpy array read from the file
            (its bytes must be in the file as well), or of one tensor.
        max_key_items (int): Size of one dict key or set member: 1 for a
            plain key, and for a tuple 1 plus the sizes of its members,
            counted each time they occur (a key that repeats one tuple is
            as large as one that spells it out), so no key costs more than
            this many steps to check, hash or compare.
        max_collisions (int): Comparisons with earlier keys of the same
            hash value (in their dict or set) that the insertions of one
            load may cost, on top of :attr:`collisions_per_key` per key.
            Honest data has few equal hashes (e.g. ``-1`` and ``-2`` hash
            alike, so tuples that differ only there do); keys crafted to
            collide cost one comparison per earlier key each and run out of
            the budget after about 1,500 (hash flooding).
        collisions_per_key (int): See :attr:`max_collisions`.
    """

    max_ops: int = 20_000_000
    max_depth: int = 100
    max_items: int = 2**34
    max_key_items: int = 64
    max_collisions: int = 1_000_000
    collisions_per_key: int = 16


@dataclass
class PickleReport:
    """What a load skipped.

    Attributes:
        placeholders (Counter): Names of the objects replaced by
            :class:`Placeholder`, with counts.
        dropped (Counter): Attributes / state dropped from objects that were
            read (e.g. ``OrderedDict.items``), with counts.
    """

    placeholders: Counter = field(default_factory=Counter)
    dropped: Counter = field(default_factory=Counter)

    def summary(self, limit: int = 5) -> str:
        """``'argparse.Namespace (2), os.system (1)'``-style text; empty when
        nothing was skipped."""
        parts = []
        for what, counter in (('objects not built', self.placeholders),
                              ('attributes dropped', self.dropped)):
            if counter:
                shown = ', '.join(
                    f'{name} ({count})'
                    for name, count in counter.most_common(limit))
                more = len(counter) - limit
                parts.append(f'{sum(counter.values())} {what}: {shown}' +
                             (f' and {more} more kinds' if more > 0 else ''))
        return '; '.join(parts)


@dataclass(frozen=True)
class GlobalRef:
    """A name the pickle refers to (``GLOBAL``), never imported.

    Attributes:
        module (str): Module part, after Python 2 names are mapped.
        name (str): Attribute part.
    """

    module: str
    name: str

    @property
    def qualname(self) -> str:
        """``module.name``."""
        return f'{self.module}.{self.name}'


class Placeholder:
    """Stands where the file held an object the reader does not build.

    It keeps only the object's name and the source; any use other than
    looking at it (indexing, iterating, calling, reading an attribute) raises
    :class:`PlaceholderUseError` naming both.

    Args:
        qualname (str): The name the file gave (e.g. ``os.system``).
        source (str): The file it came from.
    """

    __slots__ = ('qualname', 'source')

    def __init__(self, qualname: str, source: str) -> None:
        object.__setattr__(self, 'qualname', qualname)
        object.__setattr__(self, 'source', source)

    def _refuse(self, *args: Any, **kwargs: Any) -> Any:
        """Raise: the object was never built."""
        raise PlaceholderUseError(
            f'{self.source}: holds a {self.qualname} object here, which '
            'loading does not build (only tensors, arrays and plain data '
            'are read from untrusted files); it is a placeholder')

    __getitem__ = __iter__ = __len__ = __call__ = _refuse

    def __getattr__(self, name: str) -> Any:
        """Refuse attribute reads other than special names."""
        if name.startswith('__'):
            raise AttributeError(name)
        return self._refuse()

    def __setattr__(self, name: str, value: Any) -> None:
        """Placeholders are immutable."""
        self._refuse()

    def __repr__(self) -> str:
        return f'<placeholder for {self.qualname} from {self.source}>'

    def __reduce__(self) -> Tuple[Any, Tuple[str, str]]:
        """Pickles as itself (saving a checkpoint that holds one)."""
        return Placeholder, (self.qualname, self.source)


class PendingObject:
    """An object made by a reader that may still receive ``BUILD`` state.

    Subclasses implement :meth:`build` (check and keep the state) and
    :meth:`finish` (turn into plain data once the pickle is read).
    """

    def build(self, state: Any, vm: 'DataUnpickler') -> None:
        """Receive ``BUILD`` state; refused unless overridden."""
        raise vm.refuse(f'{type(self).__name__} takes no state')

    def finish(self, vm: 'DataUnpickler') -> Any:
        """The plain value that replaces this object in the result."""
        raise NotImplementedError


class _Foreign(PendingObject):
    """An object of a name not read: becomes a :class:`Placeholder`."""

    def __init__(self, qualname: str) -> None:
        self.qualname = qualname

    def build(self, state: Any, vm: 'DataUnpickler') -> None:
        """Drop the state unread."""

    def finish(self, vm: 'DataUnpickler') -> Any:
        """Count and replace by a :class:`Placeholder`."""
        vm.report.placeholders[self.qualname] += 1
        return Placeholder(self.qualname, vm.source)


# --------------------------------------------------------------- messages --
_REPR_LEVELS = 3
_REPR_MEMBERS = 6
_REPR_TEXT = 40


def short_repr(value: Any, limit: int = 80) -> str:
    """A repr of file data for messages, made in bounded time.

    ``f'{value!r:.80}'`` builds the whole repr before cutting it, and a
    tuple that holds one tuple twice, 30 deep, has a repr of a billion
    leaves. This looks at most three levels deep and at six members per
    container, shows text and bytes by their first 40 characters, integers
    over 64 bits by their size, and other objects (arrays, tensors,
    placeholders, readers' pending objects) by their type alone, never by
    their own repr.

    Args:
        value: Anything read from a file.
        limit: Characters of the result, ``...`` included.

    Returns:
        str: At most ``limit`` characters.
    """
    text = _short(value, _REPR_LEVELS)
    return text if len(text) <= limit else text[:max(limit - 3, 0)] + '...'


def _short(value: Any, level: int) -> str:
    """One node of :func:`short_repr`, ``level`` levels left."""
    if value is None or isinstance(
            value, (bool, float, complex, np.number, np.bool_)):
        return repr(value)
    if isinstance(value, int):
        if value.bit_length() > 64:
            return f'<{value.bit_length()}-bit integer>'
        return repr(value)
    if isinstance(value, (str, bytes, bytearray)):
        head = repr(value[:_REPR_TEXT])
        return head + '...' if len(value) > _REPR_TEXT else head
    if isinstance(value, GlobalRef):
        name = value.qualname
        return f'<{name[:_REPR_TEXT]}...>' if len(name) > _REPR_TEXT else \
            f'<{name}>'
    if isinstance(value, dict):
        members: Any = value.items()
        left, right = '{', '}'
    elif isinstance(value, (tuple, list, set, frozenset)):
        members = value
        left, right = {
            list: ('[', ']'),
            set: ('{', '}'),
            frozenset: ('frozenset({', '})')
        }.get(type(value), ('(', ')'))
    else:
        return f'<{type(value).__name__}>'
    if not value:
        return left + right
    if level <= 0:
        return left + '...' + right
    shown = itertools.islice(members, _REPR_MEMBERS)
    if isinstance(value, dict):
        parts = [
            f'{_short(k, level - 1)}: {_short(v, level - 1)}' for k, v in shown
        ]
    else:
        parts = [_short(m, level - 1) for m in shown]
    if len(value) > _REPR_MEMBERS:
        parts.append('...')
    trail = ',' if len(value) == 1 and left == '(' else ''
    return left + ', '.join(parts) + trail + right


# ------------------------------------------------------------------ numpy --
#: dtype strings (without byte order) numpy arrays may have in a file:
#: numbers, booleans and fixed-size text/bytes. No objects, no structured or
#: sub-array dtypes, no datetimes.
NUMPY_DTYPES = frozenset(('b1', 'i1', 'i2', 'i4', 'i8', 'u1', 'u2', 'u4', 'u8',
                          'f2', 'f4', 'f8', 'c8', 'c16'))
_TEXT_DTYPE = re.compile(r'^([US])(\d{1,6})$')
_BYTE_ORDERS = frozenset('<>|=')


def numpy_dtype(spec: Any, byteorder: Any, vm: 'DataUnpickler') -> np.dtype:
    """A dtype from the fixed list (:data:`NUMPY_DTYPES`, ``U<n>``, ``S<n>``),
    with a checked byte order."""
    if not isinstance(spec, str) or not (spec in NUMPY_DTYPES
                                         or _TEXT_DTYPE.match(spec)):
        raise vm.refuse(f'numpy dtype {short_repr(spec)} is not one of the '
                        'numeric or text dtypes read from files')
    if byteorder not in _BYTE_ORDERS:
        raise vm.refuse(f'numpy dtype byte order {short_repr(byteorder)}')
    order = '' if byteorder in '|=' else byteorder
    return np.dtype(order + spec)


class _DType(PendingObject):
    """``numpy.dtype(spec, align, copy)`` plus its ``BUILD`` state."""

    def __init__(self, spec: Any, vm: 'DataUnpickler') -> None:
        self.spec = spec
        self.byteorder = '='
        numpy_dtype(spec, '=', vm)  # refuse early

    def build(self, state: Any, vm: 'DataUnpickler') -> None:
        """Keep the byte order; refuse fields, sub-arrays and metadata."""
        if not isinstance(state, tuple) or len(state) not in (8, 9):
            raise vm.refuse('numpy dtype state of an unknown layout')
        version, byteorder, subdescr, names, fields = state[:5]
        if version not in (3, 4) or subdescr is not None or \
                names is not None or fields is not None:
            raise vm.refuse('numpy dtype with fields or sub-arrays')
        if len(state) == 9 and state[8] is not None:
            raise vm.refuse('numpy dtype with metadata')
        self.byteorder = byteorder

    def finish(self, vm: 'DataUnpickler') -> np.dtype:
        """The checked dtype."""
        return numpy_dtype(self.spec, self.byteorder, vm)


def _as_dtype(value: Any, vm: 'DataUnpickler') -> np.dtype:
    """A dtype argument: a pending :class:`_DType` or an already read one."""
    if isinstance(value, _DType):
        return value.finish(vm)
    if isinstance(value, np.dtype):
        return value
    raise vm.refuse(f'expected a numpy dtype, got {_kind(value)}')


def _as_shape(value: Any, vm: 'DataUnpickler') -> Tuple[int, ...]:
    """A shape: a tuple of non-negative ints with a bounded product."""
    if isinstance(value, int) and not isinstance(value, bool):
        value = (value, )
    if not isinstance(value, tuple) or len(value) > 32 or not all(
            isinstance(v, int) and not isinstance(v, bool) and v >= 0
            for v in value):
        raise vm.refuse(f'array shape {short_repr(value)} is not a tuple of '
                        'non-negative integers')
    if math.prod(value) > vm.limits.max_items:
        raise vm.refuse(f'array shape {value} has more than '
                        f'{vm.limits.max_items} elements (limit)')
    return value


def _as_raw(value: Any, vm: 'DataUnpickler') -> bytes:
    """Raw array bytes (``str`` in Python 2 pickles, read as latin-1)."""
    if isinstance(value, str):
        return value.encode('latin-1')
    if isinstance(value, (bytes, bytearray)):
        return bytes(value)
    raise vm.refuse(f'array data of type {_kind(value)} (object arrays are '
                    'not read)')


def array_from_bytes(raw: Any, dtype: Any, shape: Any, fortran: bool,
                     vm: 'DataUnpickler') -> np.ndarray:
    """A writable array from raw bytes, a checked dtype and shape."""
    dtype = _as_dtype(dtype, vm)
    shape = _as_shape(shape, vm)
    raw = _as_raw(raw, vm)
    expected = math.prod(shape) * dtype.itemsize
    if len(raw) != expected:
        raise vm.refuse(f'array of shape {shape} and dtype {dtype} needs '
                        f'{expected} bytes, the file has {len(raw)}')
    flat = np.frombuffer(raw, dtype=dtype)
    if dtype.kind == 'b' and flat.size and flat.view(np.uint8).max() > 1:
        raise vm.refuse('boolean array with values other than 0 and 1')
    return flat.reshape(shape, order='F' if fortran else 'C').copy(order='K')


class _Array(PendingObject):
    """``numpy.core.multiarray._reconstruct(ndarray, ...)`` + ``BUILD``."""

    array: Optional[np.ndarray] = None

    def build(self, state: Any, vm: 'DataUnpickler') -> None:
        """``(version, shape, dtype, is_fortran, rawdata)``."""
        if self.array is not None:
            raise vm.refuse('numpy array state given twice')
        if isinstance(state, tuple) and len(state) == 5:
            state = state[1:]
        if not isinstance(state, tuple) or len(state) != 4:
            raise vm.refuse('numpy array state of an unknown layout')
        shape, dtype, fortran, raw = state
        if not isinstance(fortran, bool):
            raise vm.refuse('numpy array order flag is not a boolean')
        self.array = array_from_bytes(raw, dtype, shape, fortran, vm)

    def finish(self, vm: 'DataUnpickler') -> np.ndarray:
        """The array (refused if its state never came)."""
        if self.array is None:
            raise vm.refuse('numpy array without data')
        return self.array


def _np_reconstruct(vm: 'DataUnpickler', args: tuple) -> _Array:
    """``_reconstruct(numpy.ndarray, (0,), b'b')``: an array to be built."""
    if len(args) != 3 or args[0] != GlobalRef('numpy', 'ndarray'):
        raise vm.refuse('numpy _reconstruct of something other than ndarray')
    return _Array()


def _np_dtype(vm: 'DataUnpickler', args: tuple) -> _DType:
    """``numpy.dtype(spec, align, copy)``."""
    if not 1 <= len(args) <= 3:
        raise vm.refuse('numpy dtype with unexpected arguments')
    return _DType(args[0], vm)


def _np_scalar(vm: 'DataUnpickler', args: tuple) -> Any:
    """``numpy.core.multiarray.scalar(dtype, raw)``: one number."""
    if len(args) != 2:
        raise vm.refuse('numpy scalar with unexpected arguments')
    return array_from_bytes(args[1], args[0], (), False, vm)[()]


def _np_frombuffer(vm: 'DataUnpickler', args: tuple) -> np.ndarray:
    """``numpy.core.numeric._frombuffer(buf, dtype, shape, order)``."""
    if len(args) != 4 or args[3] not in ('C', 'F'):
        raise vm.refuse('numpy _frombuffer with unexpected arguments')
    return array_from_bytes(args[0], args[1], args[2], args[3] == 'F', vm)


# --------------------------------------------------------------- builtins --
def _codecs_encode(vm: 'DataUnpickler', args: tuple) -> bytes:
    """``_codecs.encode(text, 'latin1')``: how protocol 2 stores bytes."""
    if len(args) == 1:
        args = (args[0], 'utf-8')
    if len(args) != 2 or not isinstance(args[0], str) or \
            args[1] not in ('latin1', 'latin-1', 'iso-8859-1', 'utf-8'):
        raise vm.refuse(f'_codecs.encode with codec {short_repr(args[1:])}: '
                        'only latin-1 (and utf-8) text is decoded')
    try:
        return args[0].encode(args[1])
    except UnicodeEncodeError as err:
        raise vm.refuse(f'bytes that are not {args[1]}: {err}') from None


def _byte_string(vm: 'DataUnpickler', args: tuple, kind: type) -> Any:
    """``bytes(...)`` / ``bytearray(...)`` from data, never from a size."""
    if not args:
        return kind()
    if len(args) == 2 and isinstance(args[0], str):
        return kind(_codecs_encode(vm, args))
    if len(args) == 1 and isinstance(args[0], (bytes, bytearray)):
        return kind(args[0])
    if len(args) == 1 and isinstance(args[0], list) and all(
            isinstance(v, int) and 0 <= v < 256 for v in args[0]):
        return kind(args[0])
    raise vm.refuse(f'{kind.__name__} from {_kind(args[0])} (a size or an '
                    'object): only bytes or latin-1 text are read')


def _make_set(vm: 'DataUnpickler', args: tuple, kind: type) -> Any:
    """``set(items)`` / ``frozenset(items)`` of checked members."""
    if len(args) > 1:
        raise vm.refuse(f'{kind.__name__} with several arguments')
    items = args[0] if args else ()
    if not isinstance(items, (list, tuple, set, frozenset)):
        raise vm.refuse(f'{kind.__name__} of {_kind(items)}')
    members: set = set()
    for item in items:
        vm.check_key(item)
        vm.count_key(members, item)
        members.add(item)
    return members if kind is set else kind(members)


def _complex(vm: 'DataUnpickler', args: tuple) -> complex:
    """``complex(real, imag)`` of numbers."""
    if not 1 <= len(args) <= 2 or not all(
            isinstance(v, (int, float)) for v in args):
        raise vm.refuse('complex of something other than numbers')
    return complex(*args)


def _ordered_dict(vm: 'DataUnpickler', args: tuple) -> OrderedDict:
    """``OrderedDict()`` or ``OrderedDict(pairs)``."""
    result: OrderedDict = OrderedDict()
    vm.own_dicts[id(result)] = result
    if args:
        vm.fill_dict(result, _pairs(vm, args))
    return result


def _counter(vm: 'DataUnpickler', args: tuple) -> Counter:
    """``Counter(mapping)`` of numbers."""
    result: Counter = Counter()
    vm.own_dicts[id(result)] = result
    if args:
        pairs = _pairs(vm, args)
        if not all(isinstance(v, (int, float)) for _, v in pairs):
            raise vm.refuse('Counter with counts that are not numbers')
        vm.fill_dict(result, pairs)
    return result


def _pairs(vm: 'DataUnpickler', args: tuple) -> List[Tuple[Any, Any]]:
    """Key-value pairs of a dict-like constructor's single argument."""
    if len(args) != 1:
        raise vm.refuse('dict constructor with several arguments')
    items = args[0]
    if isinstance(items, dict):
        return list(items.items())
    if isinstance(items, (list, tuple)) and all(
            isinstance(p, (list, tuple)) and len(p) == 2 for p in items):
        return [(p[0], p[1]) for p in items]
    raise vm.refuse(f'dict constructor from {_kind(items)}')


def _reconstructor(vm: 'DataUnpickler', args: tuple) -> Any:
    """``copyreg._reconstructor(cls, object, None)`` (protocols 0 and 1)."""
    if len(args) != 3 or args[1] != GlobalRef('builtins', 'object') or \
            args[2] is not None:
        raise vm.refuse('copyreg._reconstructor of a builtin-derived type')
    return vm.new_object(args[0], ())


def _newobj(vm: 'DataUnpickler', args: tuple) -> Any:
    """``copyreg.__newobj__(cls, *args)``."""
    if not args:
        raise vm.refuse('copyreg.__newobj__ without a class')
    return vm.new_object(args[0], args[1:])


Reader = Callable[['DataUnpickler', tuple], Any]

#: Readers of the names data pickles use; each builds data only.
BASE_READERS: Dict[Tuple[str, str], Reader] = {
    ('_codecs', 'encode'): _codecs_encode,
    ('builtins', 'bytes'): lambda vm, a: _byte_string(vm, a, bytes),
    ('builtins', 'bytearray'): lambda vm, a: _byte_string(vm, a, bytearray),
    ('builtins', 'set'): lambda vm, a: _make_set(vm, a, set),
    ('builtins', 'frozenset'): lambda vm, a: _make_set(vm, a, frozenset),
    ('builtins', 'complex'): _complex,
    ('collections', 'OrderedDict'): _ordered_dict,
    ('collections', 'Counter'): _counter,
    ('copyreg', '_reconstructor'): _reconstructor,
    ('copyreg', '__newobj__'): _newobj,
}
for _module in ('numpy.core.multiarray', 'numpy._core.multiarray'):
    BASE_READERS[(_module, '_reconstruct')] = _np_reconstruct
    BASE_READERS[(_module, 'scalar')] = _np_scalar
for _module in ('numpy.core.numeric', 'numpy._core.numeric'):
    BASE_READERS[(_module, '_frombuffer')] = _np_frombuffer
BASE_READERS[('numpy', 'dtype')] = _np_dtype

#: Classes that ``NEWOBJ`` may make (``cls.__new__(cls)``): the same
#: readers with no arguments.
BASE_CLASSES: Dict[Tuple[str, str], Reader] = {
    ('collections', 'OrderedDict'): _ordered_dict,
    ('collections', 'Counter'): _counter,
    ('builtins', 'set'): lambda vm, a: _make_set(vm, (), set),
}

_INT64 = 2**63
# Size from which count_key tracks a container's hash values.
_TRACKED_FROM = 16


def _kind(value: Any) -> str:
    """A short description of a value's type for messages."""
    if isinstance(value, GlobalRef):
        return value.qualname
    return type(value).__name__


class DataUnpickler:
    """Reads one pickle into plain data (module docstring).

    Args:
        data (bytes | BinaryIO): The pickle, or a stream positioned at it
            (e.g. the next pickle of a legacy torch file); the stream is
            left after the ``STOP`` opcode.
        source (str): Name of the file, for messages.
        unknown (str): ``'placeholder'`` (replace objects of names without
            a reader by :class:`Placeholder`, counted) or ``'error'``.
        readers (dict, optional): Extra readers ``{(module, name): fn}``,
            ``fn(vm, args) -> value`` (e.g. torch tensors).
        classes (dict, optional): Extra ``NEWOBJ`` classes, same form.
        values (dict, optional): Names that stand for a constant when used
            as a value (e.g. ``torch.float32``).
        persistent_load (callable, optional): ``fn(pid) -> value`` for
            ``PERSID``/``BINPERSID`` (torch storages); refused without.
        leaves (tuple[type]): Further types readers return as finished
            values (e.g. ``torch.Tensor``).
        limits (PickleLimits): Resource limits.
    """

    def __init__(
        self,
        data: Union[bytes, bytearray, IO[bytes]],
        source: str,
        unknown: str = 'placeholder',
        readers: Optional[Mapping[Tuple[str, str], Reader]] = None,
        classes: Optional[Mapping[Tuple[str, str], Reader]] = None,
        values: Optional[Mapping[Tuple[str, str], Any]] = None,
        persistent_load: Optional[Callable[[Any], Any]] = None,
        leaves: Tuple[type, ...] = (),
        limits: PickleLimits = PickleLimits()
    ) -> None:
        if unknown not in ('placeholder', 'error'):
            raise ValueError(f'unknown={unknown!r}')
        self.file = io.BytesIO(data) if isinstance(data, (bytes,
                                                          bytearray)) else data
        self.source = source
        self.unknown = unknown
        self.readers = {**BASE_READERS, **(readers or {})}
        self.classes = {**BASE_CLASSES, **(classes or {})}
        self.values = dict(values or {})
        self.persistent_load = persistent_load
        self.leaves = _LEAVES + tuple(leaves)
        self.limits = limits
        self.report = PickleReport()
        # Dicts made by readers (OrderedDict, Counter), by id, and the
        # attribute state BUILD gave them.
        self.own_dicts: Dict[int, dict] = {}
        self.dict_state: Dict[int, Any] = {}
        # Per dict or set of over _TRACKED_FROM keys filled here, by id: the
        # container (kept alive so that its id is not reused) and its number
        # of keys per hash value; and the budget's counts (count_key).
        self.key_hashes: Dict[int, Tuple[Any, Counter]] = {}
        self.keys_counted = 0
        self.collisions = 0
        self.proto = 0

    # ------------------------------------------------------------ errors --
    def refuse(self, why: str) -> PickleRefusedError:
        """The error to raise for ``why``, naming the source."""
        return PickleRefusedError(f'{self.source}: refusing to read the '
                                  f'pickle: {why}')

    # -------------------------------------------------------------- keys --
    def check_key(self, key: Any) -> None:
        """Refuse dict keys / set members that could flood a hash table or cost
        more than :attr:`PickleLimits.max_key_items` steps to hash."""
        limit = self.limits.max_key_items
        size = 1
        # (member, tuple nesting depth); walked without recursion.
        pending: List[Tuple[Any, int]] = [(key, 0)]
        while pending:
            item, depth = pending.pop()
            if isinstance(item, (str, bytes)) or item is None or \
                    isinstance(item, bool):
                continue
            if isinstance(item, (int, np.integer)):
                if -_INT64 <= int(item) < _INT64:
                    continue
                raise self.refuse('an integer key outside 64 bits')
            if not isinstance(item, tuple) or depth >= 4:
                raise self.refuse(
                    f'a dict key or set member of type {_kind(item)} (keys '
                    'may be text, bytes, 64-bit integers, None, booleans or '
                    'tuples of those)')
            # Counted before the members are looked at, so a long tuple
            # costs nothing to refuse.
            size += len(item)
            if size > limit:
                raise self.refuse(
                    f'a dict key or set member of more than {limit} '
                    'elements (limit; members of nested tuples count each '
                    'time they occur)')
            pending.extend((member, depth + 1) for member in item)

    def count_key(self, container: Union[dict, set], key: Any) -> None:
        """Charge the insertion of ``key`` into ``container`` (a dict or set
        about to receive it) to the collision budget
        (:attr:`PickleLimits.max_collisions`): a new key costs one comparison
        per key of ``container`` with its hash value.

        Containers are tracked from :data:`_TRACKED_FROM` keys on (their
        earlier keys counted then): smaller ones cost at most that many
        comparisons per insertion, which the per-key allowance covers, and
        most containers of a pickle are small. The ``in`` test is bounded
        by the same budget; :meth:`check_key` must have accepted ``key``.
        """
        self.keys_counted += 1
        if len(container) < _TRACKED_FROM or key in container:
            return
        entry = self.key_hashes.get(id(container))
        if entry is None:
            counts: Counter = Counter(hash(k) for k in container)
            self.key_hashes[id(container)] = (container, counts)
            self.collisions += sum(n * (n - 1) // 2 for n in counts.values())
        else:
            counts = entry[1]
        value = hash(key)
        self.collisions += counts[value]
        counts[value] += 1
        limits = self.limits
        if self.collisions > limits.max_collisions + \
                limits.collisions_per_key * self.keys_counted:
            raise self.refuse(
                f'dict keys or set members that share hash values cost over '
                f'{limits.max_collisions} comparisons (limit: keys crafted '
                'to collide would make reading take quadratic time)')

    def fill_dict(self, target: dict, pairs: List[Tuple[Any, Any]]) -> None:
        """``target[k] = v`` for checked keys."""
        for key, value in pairs:
            self.check_key(key)
            self.count_key(target, key)
            target[key] = value

    # ----------------------------------------------------------- objects --
    def call(self, func: Any, args: Any) -> Any:
        """``REDUCE``/``INST``/``OBJ``: a reader, or a foreign object."""
        if not isinstance(func, GlobalRef):
            raise self.refuse(f'calls a {_kind(func)}, not a name')
        if not isinstance(args, tuple):
            raise self.refuse(f'call arguments of type {_kind(args)}')
        reader = self.readers.get((func.module, func.name))
        if reader is not None:
            return reader(self, args)
        return self.foreign(func)

    def new_object(self, cls: Any, args: Any) -> Any:
        """``NEWOBJ``: a class reader, or a foreign object."""
        if not isinstance(cls, GlobalRef):
            raise self.refuse(f'makes an instance of a {_kind(cls)}')
        if not isinstance(args, tuple):
            raise self.refuse(f'constructor arguments of type {_kind(args)}')
        reader = self.classes.get((cls.module, cls.name))
        if reader is not None:
            return reader(self, args)
        return self.foreign(cls)

    def foreign(self, ref: GlobalRef) -> Any:
        """An object of a name without a reader (``unknown`` policy)."""
        if self.unknown == 'error':
            raise self.refuse(
                f'it names {ref.qualname}, which this file type may not '
                'hold (the file may be malicious or of another kind)')
        return _Foreign(ref.qualname)

    def build(self, inst: Any, state: Any) -> None:
        """``BUILD``: only pending objects and readers' dicts take state."""
        if isinstance(inst, PendingObject):
            inst.build(state, self)
        elif id(inst) in self.own_dicts:
            self.dict_state[id(inst)] = state
        else:
            raise self.refuse(f'sets the state of a {_kind(inst)}')

    def global_ref(self, module: Any, name: Any) -> GlobalRef:
        """A :class:`GlobalRef`, Python 2 names mapped as pickle does."""
        if not isinstance(module, str) or not isinstance(name, str):
            raise self.refuse('a global whose name is not text')
        if self.proto < 3:
            if (module, name) in _compat_pickle.NAME_MAPPING:
                module, name = _compat_pickle.NAME_MAPPING[(module, name)]
            elif module in _compat_pickle.IMPORT_MAPPING:
                module = _compat_pickle.IMPORT_MAPPING[module]
        return GlobalRef(module, name)

    # -------------------------------------------------------------- load --
    def load(self) -> Any:
        """Run the pickle and return its plain-data result.

        Raises:
            PickleRefusedError: Naming the source and what was refused or
                malformed (truncated, a declared length past the end, an
                unknown opcode, a limit).
        """
        try:
            result = self._run()
            self.key_hashes.clear()
        except PickleRefusedError:
            raise
        except (ValueError, TypeError, KeyError, IndexError, EOFError,
                UnicodeDecodeError, OverflowError, MemoryError) as err:
            # pickletools' decoding of a malformed or truncated argument
            # (ValueError), an empty stack (IndexError), an unknown memo
            # key (KeyError)...
            raise self.refuse(f'not a valid pickle ({type(err).__name__}: '
                              f'{str(err)[:200]})') from None
        return self._finish_all(result)

    def _run(self) -> Any:
        """The opcode loop; returns the raw result (pending objects in).

        ``stack`` is rebound by ``MARK`` and :func:`pop_mark`: take the
        marked items before touching ``stack`` again.
        """
        stack: List[Any] = []
        metastack: List[List[Any]] = []
        memo: Dict[int, Any] = {}

        def pop_mark() -> List[Any]:
            nonlocal stack
            items = stack
            stack = metastack.pop()
            return items

        ops = 0
        for opcode, decoded, _ in pickletools.genops(self.file):
            # The opcode's decoded argument (an int, text, bytes ...).
            arg: Any = decoded
            ops += 1
            if ops > self.limits.max_ops:
                raise self.refuse(f'more than {self.limits.max_ops} opcodes '
                                  '(limit)')
            name = opcode.name
            if name in _PUSH_ARG:
                stack.append(arg)
            elif name in ('NEWTRUE', 'NEWFALSE'):
                stack.append(name == 'NEWTRUE')
            elif name == 'BYTEARRAY8':
                stack.append(bytearray(arg))
            elif name == 'MARK':
                metastack.append(stack)
                stack = []
            elif name == 'STOP':
                return stack.pop()
            elif name == 'POP':
                if stack:
                    stack.pop()
                else:
                    pop_mark()
            elif name == 'POP_MARK':
                pop_mark()
            elif name == 'DUP':
                stack.append(stack[-1])
            elif name == 'EMPTY_LIST':
                stack.append([])
            elif name == 'EMPTY_TUPLE':
                stack.append(())
            elif name == 'EMPTY_DICT':
                stack.append({})
            elif name == 'EMPTY_SET':
                stack.append(set())
            elif name == 'LIST':
                items = pop_mark()
                stack.append(items)
            elif name == 'TUPLE':
                items = pop_mark()
                stack.append(tuple(items))
            elif name in _TUPLE_N:
                n = _TUPLE_N[name]
                if len(stack) < n:
                    raise IndexError('stack underflow')
                last = tuple(stack[-n:])
                del stack[-n:]
                stack.append(last)
            elif name == 'DICT':
                items = pop_mark()
                if len(items) % 2:
                    raise IndexError('odd number of DICT items')
                target: dict = {}
                self.fill_dict(target, list(zip(items[::2], items[1::2])))
                stack.append(target)
            elif name == 'FROZENSET':
                items = pop_mark()
                stack.append(_make_set(self, (items, ), frozenset))
            elif name == 'APPEND':
                value = stack.pop()
                self._list(stack[-1]).append(value)
            elif name == 'APPENDS':
                items = pop_mark()
                self._list(stack[-1]).extend(items)
            elif name == 'SETITEM':
                value = stack.pop()
                key = stack.pop()
                self.fill_dict(self._dict(stack[-1]), [(key, value)])
            elif name == 'SETITEMS':
                items = pop_mark()
                if len(items) % 2:
                    raise IndexError('odd number of SETITEMS items')
                self.fill_dict(
                    self._dict(stack[-1]), list(zip(items[::2], items[1::2])))
            elif name == 'ADDITEMS':
                items = pop_mark()
                target_set = stack[-1]
                if type(target_set) is not set:
                    raise self.refuse(f'adds items to a {_kind(target_set)}')
                for item in items:
                    self.check_key(item)
                    self.count_key(target_set, item)
                    target_set.add(item)
            elif name in ('GLOBAL', 'INST'):
                module, _, attr = arg.partition(' ')
                ref = self.global_ref(module, attr)
                if name == 'GLOBAL':
                    stack.append(ref)
                else:
                    items = pop_mark()
                    stack.append(self.call(ref, tuple(items)))
            elif name == 'STACK_GLOBAL':
                attr = stack.pop()
                module = stack.pop()
                stack.append(self.global_ref(module, attr))
            elif name == 'OBJ':
                items = pop_mark()
                stack.append(self.call(items[0], tuple(items[1:])))
            elif name == 'REDUCE':
                args = stack.pop()
                stack[-1] = self.call(stack[-1], args)
            elif name == 'NEWOBJ':
                args = stack.pop()
                stack[-1] = self.new_object(stack[-1], args)
            elif name == 'NEWOBJ_EX':
                kwargs = stack.pop()
                args = stack.pop()
                if kwargs:
                    raise self.refuse('keyword arguments to a constructor')
                stack[-1] = self.new_object(stack[-1], args)
            elif name == 'BUILD':
                state = stack.pop()
                self.build(stack[-1], state)
            elif name in ('PERSID', 'BINPERSID'):
                pid = arg if name == 'PERSID' else stack.pop()
                if self.persistent_load is None:
                    raise self.refuse('a persistent id, which only torch '
                                      'checkpoints use')
                stack.append(self.persistent_load(pid))
            elif name in ('PUT', 'BINPUT', 'LONG_BINPUT'):
                if arg < 0:
                    raise ValueError('negative memo key')
                memo[arg] = stack[-1]
            elif name == 'MEMOIZE':
                memo[len(memo)] = stack[-1]
            elif name in ('GET', 'BINGET', 'LONG_BINGET'):
                stack.append(memo[arg])
            elif name == 'PROTO':
                if not 0 <= arg <= 5:
                    raise self.refuse(f'unsupported pickle protocol {arg}')
                self.proto = arg
            elif name == 'FRAME':
                pass
            else:
                # EXT1/2/4 (the copyreg extension registry) and the
                # out-of-band buffers of protocol 5.
                raise self.refuse(f'opcode {name} is not read')
        raise self.refuse('no STOP opcode (truncated)')

    def _list(self, value: Any) -> list:
        """The list an ``APPEND`` targets."""
        if type(value) is not list:
            raise self.refuse(f'appends to a {_kind(value)}')
        return value

    def _dict(self, value: Any) -> dict:
        """The dict a ``SETITEM`` targets."""
        if type(value) is not dict and id(value) not in self.own_dicts:
            raise self.refuse(f'sets items of a {_kind(value)}')
        return value

    # ----------------------------------------------------------- finish --
    def _finish_all(self, result: Any) -> Any:
        """Replace pending objects by their values, everywhere, once."""
        # id -> (object, value): the object is kept so that its id is not
        # reused by a temporary made later during the walk.
        done: Dict[int, Tuple[Any, Any]] = {}
        active: Set[int] = set()
        return self._finish(result, done, active, 0)

    def _finish(self, obj: Any, done: Dict[int, Tuple[Any, Any]],
                active: Set[int], depth: int) -> Any:
        """One node of :meth:`_finish_all` (memoised: shared objects stay
        shared, cycles are refused)."""
        if obj is None or isinstance(obj, self.leaves):
            return obj
        key = id(obj)
        if key in done:
            return done[key][1]
        if key in active:
            raise self.refuse('a container that contains itself')
        if depth > self.limits.max_depth:
            raise self.refuse(f'containers nested deeper than '
                              f'{self.limits.max_depth} (limit)')
        active.add(key)
        kind = type(obj)

        def sub(value: Any) -> Any:
            return self._finish(value, done, active, depth + 1)

        if kind is list:
            value: Any = [sub(v) for v in obj]
        elif kind is tuple:
            value = tuple(sub(v) for v in obj)
        elif kind in (set, frozenset):
            value = kind(sub(v) for v in obj)
        elif isinstance(obj, dict):
            value = kind()
            for k, v in obj.items():
                value[sub(k)] = sub(v)
            if key in self.dict_state:
                self._dict_attributes(value, self.dict_state[key], sub)
        elif isinstance(obj, PendingObject):
            value = sub(obj.finish(self))
        elif isinstance(obj, GlobalRef):
            if (obj.module, obj.name) in self.values:
                value = self.values[(obj.module, obj.name)]
            else:
                # A bare name used as a value (a class or function object).
                value = sub(self.foreign(obj))
        else:
            raise self.refuse(f'an object of type {kind.__name__}')
        active.discard(key)
        done[key] = (obj, value)
        return value

    def _dict_attributes(self, target: dict, state: Any,
                         sub: Callable[[Any], Any]) -> None:
        """Attributes ``BUILD`` gave a reader's dict: torch state dicts'
        ``_metadata`` (plain data) is kept, anything else dropped."""
        if isinstance(state, tuple) and len(state) == 2 and state[1] is None:
            state = state[0]
        if not isinstance(state, dict):
            self.report.dropped[f'{type(target).__name__} state'] += 1
            return
        for name, value in state.items():
            if name == '_metadata' and isinstance(target, OrderedDict):
                metadata = sub(value)
                if isinstance(metadata, dict) and _is_plain(metadata):
                    setattr(target, '_metadata', metadata)
                    continue
            self.report.dropped[f'{type(target).__name__}.{name}'] += 1


_PUSH_ARG = frozenset(
    ('INT', 'BININT', 'BININT1', 'BININT2', 'LONG', 'LONG1', 'LONG4', 'STRING',
     'BINSTRING', 'SHORT_BINSTRING', 'BINBYTES', 'SHORT_BINBYTES', 'BINBYTES8',
     'NONE', 'UNICODE', 'SHORT_BINUNICODE', 'BINUNICODE', 'BINUNICODE8',
     'FLOAT', 'BINFLOAT'))
_TUPLE_N = {'TUPLE1': 1, 'TUPLE2': 2, 'TUPLE3': 3}
_LEAVES = (str, bytes, bytearray, int, float, complex, np.ndarray, np.generic,
           np.dtype, Placeholder)


def _is_plain(value: Any, max_depth: int = 8) -> bool:
    """Whether ``value`` is builtin data at most ``max_depth`` levels deep.

    Each container is looked at once (by id), however often the file refers to
    it, so the check costs one step per object and reference.
    """
    # id -> height (levels below it), None when not plain data; the value
    # is read from the file, so its objects stay alive and ids stay unique.
    heights: Dict[int, Optional[int]] = {}

    def height(node: Any, depth: int) -> Optional[int]:
        if node is None or isinstance(node, (str, bytes, int, float)):
            return 0
        if depth > max_depth or not isinstance(node, (list, tuple, dict)):
            return None
        key = id(node)
        if key in heights:
            return heights[key]
        heights[key] = None  # a cycle is not plain data
        members = itertools.chain.from_iterable(node.items()) if \
            isinstance(node, dict) else node
        most = 0
        for member in members:
            below = height(member, depth + 1)
            if below is None or depth + 1 + below > max_depth:
                return None
            most = max(most, below + 1)
        heights[key] = most
        return most

    return height(value, 0) is not None


def load_data_pickle(
    data: Union[bytes, bytearray],
    source: str,
    unknown: str = 'error',
    limits: PickleLimits = PickleLimits()
) -> Tuple[Any, PickleReport]:
    """Read a pickle of plain data and numpy arrays (no torch, no placeholders
    by default).

    Args:
        data: The pickle's bytes.
        source: Name of the file, for messages.
        unknown: See :class:`DataUnpickler`.
        limits: Resource limits.

    Returns:
        ``(value, report)``.

    Raises:
        PickleRefusedError: Naming the source and the reason.
    """
    vm = DataUnpickler(data, source, unknown=unknown, limits=limits)
    return vm.load(), vm.report
