"""The data reader builds data and nothing else, within bounded resources.

Every payload of ``_payloads.py`` is checked here against the reader
itself; tests/fileio/test_untrusted_entry_points.py sends the same files
through the entry points users take.
"""
import io
import itertools
import pickle
import resource
import subprocess
import sys
import textwrap
import time
from collections import Counter, OrderedDict

import numpy as np
import pytest

from mmyowo.fileio import (DataUnpickler, PickleLimits, PickleRefusedError,
                           Placeholder, PlaceholderUseError, load_data_pickle)
from . import _payloads as P


def load(body, unknown='placeholder', **kwargs):
    return DataUnpickler(
        P.wrap(body), 'f.pkl', unknown=unknown, **kwargs).load()


# ------------------------------------------------------------------ data --
@pytest.mark.parametrize('proto', range(6))
def test_plain_data_and_arrays_round_trip_every_protocol(proto):
    value = {
        'text': 'ü',
        'bytes': b'\x00\xff',
        'int': -2**40,
        'float': 1.5,
        'none': None,
        'flags': (True, False),
        'list': [1, [2, 3]],
        'set': {1, 'a'},
        'frozen': frozenset({2}),
        'complex': 1 + 2j,
        'ordered': OrderedDict(a=1),
        'counter': Counter({1: 3}),
        'f4': np.arange(6, dtype=np.float32).reshape(2, 3),
        'fortran': np.asfortranarray(np.arange(6.).reshape(2, 3)),
        'be': np.arange(3, dtype='>i4'),
        'bool': np.array([True, False]),
        'text_array': np.array(['ab', 'c']),
        'scalar': np.float64(2.5),
        'int_scalar': np.int64(7),
        'empty': np.zeros((0, 5), np.float32),
        'bytearray': bytearray(b'xy'),
    }
    got, report = load_data_pickle(
        pickle.dumps(value, protocol=proto), 'f.pkl')
    assert not report.placeholders and not report.dropped
    assert got.keys() == value.keys()
    for key, expected in value.items():
        if isinstance(expected, np.ndarray):
            np.testing.assert_array_equal(got[key], expected)
            assert got[key].dtype == expected.dtype, key
            assert got[key].flags.writeable
        else:
            assert got[key] == expected and type(
                got[key]) is type(expected), key
    assert got['fortran'].flags.f_contiguous


def test_shared_objects_stay_shared():
    inner = [np.ones(2)]
    got = DataUnpickler(pickle.dumps({'a': inner, 'b': inner}), 's').load()
    assert got['a'] is got['b']


def test_python2_pickle_of_a_numpy_array_reads():
    """Protocol 2 with ``__builtin__`` names and latin-1 ``str`` data, as the
    original ACT ground-truth files were written."""
    array = np.arange(4, dtype=np.float32)
    body = (
        P.glob('numpy.core.multiarray', '_reconstruct') +
        P.glob('numpy', 'ndarray') + pickle.BININT1 + b'\x00' + pickle.TUPLE1 +
        pickle.SHORT_BINSTRING + b'\x01b' + pickle.TUPLE3 + pickle.REDUCE +
        pickle.MARK + pickle.BININT1 + b'\x01' + pickle.BININT1 + b'\x04' +
        pickle.TUPLE1 + P.glob('numpy', 'dtype') + pickle.SHORT_BINSTRING +
        b'\x02f4' + pickle.NEWFALSE + pickle.NEWTRUE + pickle.TUPLE3 +
        pickle.REDUCE + pickle.MARK + pickle.BININT1 + b'\x03' +
        pickle.SHORT_BINSTRING + b'\x01<' + pickle.NONE + pickle.NONE +
        pickle.NONE + pickle.BININT + b'\xff\xff\xff\xff' + pickle.BININT +
        b'\xff\xff\xff\xff' + pickle.BININT1 + b'\x00' + pickle.TUPLE +
        pickle.BUILD + pickle.NEWFALSE + pickle.SHORT_BINSTRING + bytes([16]) +
        array.tobytes() + pickle.TUPLE + pickle.BUILD)
    body = P.glob('__builtin__', 'set') + pickle.EMPTY_LIST + \
        pickle.TUPLE1 + pickle.REDUCE + pickle.POP + body
    np.testing.assert_array_equal(load(body), array)


# --------------------------------------------------------------- no code --
@pytest.mark.parametrize('body, name', [
    (P.call('os', 'system', P.text('touch x')), 'os.system'),
    (P.call('posix', 'system', P.text('touch x')), 'posix.system'),
    (P.call('builtins', 'eval', P.text('1')), 'builtins.eval'),
    (P.call('subprocess', 'getoutput', P.text('x')), 'subprocess.getoutput'),
    (P.getattr_(P.getattr_(pickle.GLOBAL + P.HB, '__init__'),
                '__globals__'), 'builtins.getattr'),
])
def test_callables_become_placeholders_or_errors(body, name):
    got = load(body)
    assert isinstance(got, Placeholder) and got.qualname == name
    for use in (lambda: got(), lambda: got['x'], lambda: got.attribute,
                lambda: len(got), lambda: iter(got)):
        with pytest.raises(PlaceholderUseError, match=rf'^f\.pkl: .*{name}'):
            use()
    with pytest.raises(
            PickleRefusedError, match=rf'^f\.pkl: refusing .*{name}'):
        load(body, unknown='error')


def test_placeholder_count_is_reported():
    body = pickle.MARK + P.call('os', 'system', P.text('a')) + \
        P.call('os', 'system', P.text('b')) + pickle.LIST
    vm = DataUnpickler(P.wrap(body), 'f.pkl')
    assert len(vm.load()) == 2
    assert vm.report.placeholders == Counter({'os.system': 2})
    assert 'os.system (2)' in vm.report.summary()


def test_nothing_imported_by_name():
    """A name of a module nobody imported stays unimported."""
    code = textwrap.dedent('''
        import sys, pickle
        from mmyowo.fileio import DataUnpickler
        body = (pickle.PROTO + b'\\x02' + pickle.GLOBAL +
                b'antigravity\\nfly\\n' + pickle.EMPTY_TUPLE +
                pickle.REDUCE + pickle.STOP)
        DataUnpickler(body, 'f').load()
        print('antigravity' in sys.modules, 'webbrowser' in sys.modules)
    ''')
    out = subprocess.run([sys.executable, '-c', code],
                         capture_output=True,
                         text=True,
                         check=True).stdout.split()
    assert out == ['False', 'False']


# ----------------------------------------------- memory and process state --
@pytest.mark.parametrize('body', [P.object_dtype_array()])
def test_object_dtypes_are_refused(body):
    with pytest.raises(PickleRefusedError, match='numpy dtype'):
        load(body)


def test_dtype_classes_are_not_built():
    got = load(P.dtype_class_state())
    assert isinstance(got, Placeholder)
    assert got.qualname == 'numpy.dtypes.VoidDType'


def test_object_dtype_payload_does_not_crash_the_process(tmp_path):
    """Before, numpy followed the attacker's pointer: SIGSEGV (exit 139)."""
    path = tmp_path / 'evil.pkl'
    path.write_bytes(P.wrap(P.object_dtype_array()))
    code = textwrap.dedent(f'''
        from mmyowo.fileio import load_data_pickle, PickleRefusedError
        try:
            load_data_pickle(open({str(path)!r}, 'rb').read(), 'evil.pkl')
        except PickleRefusedError as err:
            print('refused:', err)
    ''')
    proc = subprocess.run([sys.executable, '-c', code],
                          capture_output=True,
                          text=True)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert 'refused: evil.pkl: refusing' in proc.stdout


def test_library_objects_take_no_attributes():
    before = np._core.numeric._frombuffer.__qualname__
    with pytest.raises(PickleRefusedError, match='sets the state of a numpy'):
        load(P.set_function_attributes())
    assert np._core.numeric._frombuffer.__qualname__ == before
    # Arrays still pickle at protocol 5 (the reconstructor is intact).
    array = np.arange(3.)
    np.testing.assert_array_equal(
        pickle.loads(pickle.dumps(array, protocol=5)), array)


def test_ordered_dict_attributes_are_dropped():
    """An ``items`` attribute hid entries from ``.items()``-based checks."""
    vm = DataUnpickler(P.wrap(P.ordered_dict_hiding_items()), 'f.pkl')
    got = vm.load()
    assert type(got) is OrderedDict and 'items' not in vars(got)
    assert vm.report.dropped == Counter({'OrderedDict.items': 1})
    assert list(got.items())[0][0] == 'mean'


def test_state_dict_metadata_is_kept():
    import torch
    state = torch.nn.BatchNorm1d(2).state_dict()
    body = pickle.dumps(OrderedDict(state.items()), protocol=2)
    state2 = OrderedDict(a=1)
    state2._metadata = OrderedDict({'': {'version': 2}})
    got = DataUnpickler(pickle.dumps(state2, protocol=2), 'f').load()
    assert got._metadata == {'': {'version': 2}}
    assert body  # the tensors themselves: tests/fileio/test_torch_*.py


# ------------------------------------------------------------- resources --
def _peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


@pytest.mark.parametrize('size', [400 << 20, 2**62])
def test_bytearray_of_a_size_is_refused(size):
    before = _peak_rss_mib()
    with pytest.raises(PickleRefusedError, match=r'^f\.pkl: .*bytearray'):
        load(P.bytearray_of_size(size))
    assert _peak_rss_mib() - before < 50


def test_declared_lengths_past_the_end_are_refused():
    before = _peak_rss_mib()
    with pytest.raises(PickleRefusedError, match='not a valid pickle'):
        load(P.declared_past_end())
    assert _peak_rss_mib() - before < 50


@pytest.mark.parametrize('name', ['punycode', 'rot13', 'zlib', 'idna'])
def test_only_latin1_text_is_decoded(name):
    start = time.perf_counter()
    with pytest.raises(PickleRefusedError, match=f'codec.*{name}'):
        load(P.codec(name, 'a' * 15000))
    assert time.perf_counter() - start < 1
    assert load(P.codec('latin1', 'ab\xff')) == b'ab\xff'


def test_wrong_constructor_call_names_the_file():
    with pytest.raises(PickleRefusedError, match=r'^f\.pkl: refusing'):
        load(P.wrong_constructor_call())


def test_deep_nesting_is_refused_without_recursion_error():
    assert load(P.nested_lists(50))
    with pytest.raises(PickleRefusedError, match='nested deeper than 100'):
        load(P.nested_lists(100_000))


def test_cycles_are_refused():
    with pytest.raises(PickleRefusedError, match='contains itself'):
        load(P.self_containing_list())


def test_hash_flooding_keys_are_refused():
    with pytest.raises(PickleRefusedError, match='outside 64 bits'):
        load(P.colliding_keys(100))
    body = pickle.EMPTY_DICT + pickle.BINFLOAT + b'\x3f\xf0' + bytes(6) + \
        pickle.NONE + pickle.SETITEM
    with pytest.raises(PickleRefusedError, match='key .*float'):
        load(body)


def test_opcode_limit():
    data = pickle.dumps(list(range(1000)))
    with pytest.raises(PickleRefusedError, match='more than 100 opcodes'):
        DataUnpickler(data, 'f', limits=PickleLimits(max_ops=100)).load()


@pytest.mark.parametrize('data', [
    b'', b'\x80\x02', b'\x80\x02]q\x00(K\x01', b'not a pickle at all',
    b'\x80\x05\x97.', b'\x80\x02\x82\x01.'
])
def test_malformed_pickles_name_the_file(data):
    with pytest.raises(PickleRefusedError, match=r'^f\.pkl: refusing'):
        DataUnpickler(data, 'f.pkl').load()


def test_stream_is_left_after_stop():
    stream = io.BytesIO(pickle.dumps(1) + pickle.dumps('two'))
    assert DataUnpickler(stream, 's').load() == 1
    assert DataUnpickler(stream, 's').load() == 'two'


def _colliding_keys(length):
    """``4 ** length`` distinct tuples of 64-bit integers of one hash value:

    integers ``2**61 - 1`` apart hash alike, and so do tuples of them.
    """
    step = 2**61 - 1
    keys = list(
        itertools.product(*[[7 + i * step for i in range(4)]] * length))
    assert len({hash(k) for k in keys}) == 1
    return keys


@pytest.mark.parametrize('container', ['dict', 'set', 'frozenset'])
def test_keys_crafted_to_collide_are_refused(container):
    """Crafted colliding keys make each insertion compare with all earlier ones
    (quadratic time): 1,024 of them cost half a million comparisons, over a
    budget of 100,000 plus 16 per key."""
    make = {
        'dict': lambda keys: dict.fromkeys(keys, 0),
        'set': set,
        'frozenset': frozenset
    }[container]
    limits = PickleLimits(max_collisions=100_000)
    for proto in (2, 4):
        data = pickle.dumps(make(_colliding_keys(5)), protocol=proto)
        with pytest.raises(
                PickleRefusedError,
                match=r'^f\.pkl: .*share hash values cost over 100000 '
                r'comparisons \(limit'):
            DataUnpickler(data, 'f.pkl', limits=limits).load()
        few = make(_colliding_keys(3))
        data = pickle.dumps(few, protocol=proto)
        assert DataUnpickler(data, 'f.pkl', limits=limits).load() == few


def test_default_collision_budget():
    """4,096 crafted keys: 8 million comparisons, over the default budget of a
    million plus 16 per key."""
    with pytest.raises(PickleRefusedError, match='cost over 1000000 '):
        load_data_pickle_bytes(dict.fromkeys(_colliding_keys(6), 0), 4)


def test_honest_keys_of_equal_hashes_are_read():
    """-1 and -2 hash alike, so offsets in -2..2 give groups of up to 16
    tuples of one hash: honest data, within the per-key allowance; the same
    key in many dicts, or set again in one, costs nothing."""
    offsets = {
        k: i
        for i, k in enumerate(itertools.product(range(-2, 3), repeat=4))
    }
    assert max(Counter(map(hash, offsets)).values()) == 16
    assert load_data_pickle_bytes(offsets, 2) == offsets
    value = [{(1, 2): i, 'a': i} for i in range(50)]
    assert load_data_pickle_bytes(value, 2) == value
    step = 2**61 - 1
    assert load_data_pickle_bytes({
        7: 0,
        7 + step: 1
    }, 2) == {
        7: 0,
        7 + step: 1
    }
    tight = PickleLimits(max_collisions=0, collisions_per_key=0)
    keys = dict.fromkeys(_colliding_keys(2), 0)
    assert DataUnpickler(
        pickle.dumps(keys, protocol=2), 'f.pkl',
        limits=tight).load() == keys  # under 16 keys
    with pytest.raises(PickleRefusedError, match='share hash values'):
        DataUnpickler(
            pickle.dumps(dict.fromkeys(_colliding_keys(3), 0), protocol=2),
            'f.pkl',
            limits=tight).load()


def load_data_pickle_bytes(value, proto):
    return DataUnpickler(pickle.dumps(value, protocol=proto), 'f.pkl').load()


def test_tuple_keys_are_bounded_in_size():
    """A key of 4 levels of 40 references to one tuple made the old reader
    check and hash 40 ** 4 members from 350 bytes (3 s; 2 kB ran for days);
    keys count every member each time it occurs."""
    with pytest.raises(
            PickleRefusedError,
            match=r'^f\.pkl: .*dict key or set member of more than 64 '
            r'elements \(limit'):
        load(P.shared_tuple_key(40))
    with pytest.raises(PickleRefusedError, match='more than 64 elements'):
        load(P.shared_tuple_key(40, as_set=True))
    assert load(P.shared_tuple_key(3, levels=3)) == {
        (((1, ) * 3, ) * 3, ) * 3: None
    }
    flat = {tuple(range(63)): 1, ('a', (1, (None, True), b'x')): 2}
    assert load_data_pickle(pickle.dumps(flat), 'f')[0] == flat
    with pytest.raises(PickleRefusedError, match='more than 64 elements'):
        load_data_pickle(pickle.dumps({tuple(range(64)): 1}), 'f')
    assert load(P.shared_tuple_key(5), limits=PickleLimits(max_key_items=781))
    with pytest.raises(PickleRefusedError, match='more than 780 elements'):
        load(P.shared_tuple_key(5), limits=PickleLimits(max_key_items=780))


def _shape_of(value: bytes) -> bytes:
    return P.call('numpy._core.numeric', '_frombuffer', P.raw(b''),
                  P.call('numpy', 'dtype', P.text('f4')), value, P.text('C'))


@pytest.mark.parametrize(
    'build, message', [
        (_shape_of, 'array shape'),
        (lambda value: P.call('numpy', 'dtype', value), 'numpy dtype'),
        (lambda value: P.call('_codecs', 'encode', P.text('a'), value),
         'codec'),
    ],
    ids=['shape', 'dtype', 'codec'])
def test_refusals_show_a_bounded_repr_of_the_data(build, message):
    """A tuple holding one tuple twice, 21 deep, has a repr of 2 ** 21
    leaves: the old messages built it whole before cutting it (2 s; each
    level doubles)."""
    with pytest.raises(
            PickleRefusedError, match=f'^f.pkl: .*{message}') as info:
        load(build(P.doubling_tuple(21)))
    # Three levels shown, the rest elided (the old repr was cut mid-way).
    assert '((...), (...))' in str(info.value)
    assert len(str(info.value)) < 300


def test_shared_metadata_is_checked_once_per_object():
    """``_metadata`` of 7 levels of 10 references to one list: the old check
    visited its 10 ** 7 leaves (5 s from 240 bytes)."""
    got = load(
        P.ordered_dict_with_metadata(pickle.EMPTY_DICT + P.text('m') +
                                     P.shared_lists(10, 7) + pickle.SETITEM))
    lists = got._metadata['m']
    assert len(lists) == 10 and lists[0] is lists[9]
    # Still a depth limit: a ninth level is not plain metadata.
    vm = DataUnpickler(
        P.wrap(
            P.ordered_dict_with_metadata(pickle.EMPTY_DICT + P.text('m') +
                                         P.shared_lists(2, 8) +
                                         pickle.SETITEM)), 'f')
    assert not hasattr(vm.load(), '_metadata')
    assert vm.report.dropped == Counter({'OrderedDict._metadata': 1})
