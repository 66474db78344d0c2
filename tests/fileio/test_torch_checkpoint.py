"""Torch checkpoint files are read as data, equal to what ``torch.save`` wrote,
and damaged or oversized ones are refused naming the file."""
import io
import pickle
import zipfile
from collections import OrderedDict

import numpy as np
import pytest
import torch
from mmengine.logging import HistoryBuffer

from mmyowo.fileio import (ArchiveLimits, PickleRefusedError,
                           read_torch_checkpoint)
from mmyowo.fileio.message_hub_state import (HISTORY_BUFFER_KEY,
                                             history_buffer_from_plain,
                                             message_hub_from_plain,
                                             message_hub_to_plain)
from . import _payloads as P


def saved(obj, legacy=False) -> bytes:
    buffer = io.BytesIO()
    torch.save(obj, buffer, _use_new_zipfile_serialization=not legacy)
    return buffer.getvalue()


def model_state():
    torch.manual_seed(0)
    model = torch.nn.Sequential(
        torch.nn.Conv2d(3, 4, 3), torch.nn.BatchNorm2d(4),
        torch.nn.Linear(2, 2, dtype=torch.float64))
    return model.state_dict()


@pytest.mark.parametrize('legacy', [False, True])
def test_state_dict_equals_torch_load(legacy):
    state = model_state()
    extra = {
        'half': torch.randn(3).half(),
        'bf16': torch.randn(3).bfloat16(),
        'long': torch.arange(4),
        'bool': torch.tensor([True, False]),
        'view': torch.arange(12.).reshape(3, 4)[:, 1:3],
        'complex': torch.randn(2, dtype=torch.complex64),
        'scalar': torch.tensor(3.),
        'empty': torch.zeros(0, 3),
        'param': torch.nn.Parameter(torch.ones(2)),
        'size': torch.Size([2]),
        'dtype': torch.float16,
        'device': torch.device('cpu'),
        'meta': {
            'epoch': 3,
            'np': np.arange(3),
            'f': np.float64(1.5)
        }
    }
    data = saved({'state_dict': state, **extra}, legacy)
    got, report = read_torch_checkpoint(data, 'ckpt.pth')
    reference = torch.load(io.BytesIO(data), weights_only=False)
    assert not report.placeholders
    assert got['state_dict']._metadata == reference['state_dict']._metadata
    for key, value in reference['state_dict'].items():
        assert torch.equal(got['state_dict'][key], value), key
        assert got['state_dict'][key].dtype == value.dtype
    for key in ('half', 'bf16', 'long', 'bool', 'view', 'complex', 'scalar',
                'empty', 'param'):
        assert torch.equal(got[key], reference[key]), key
        assert got[key].stride() == reference[key].stride(), key
    assert got['size'] == torch.Size([2]) and got['dtype'] is torch.float16
    assert got['device'] == torch.device('cpu')
    np.testing.assert_array_equal(got['meta']['np'], np.arange(3))
    assert got['meta']['f'] == 1.5


def test_tied_weights_share_storage():
    weight = torch.randn(3, 3)
    got, _ = read_torch_checkpoint(saved({'a': weight, 'b': weight}), 'c')
    assert got['a'].data_ptr() == got['b'].data_ptr()


def test_path_and_bytes_read_alike(tmp_path):
    path = tmp_path / 'c.pth'
    path.write_bytes(saved(model_state()))
    a, _ = read_torch_checkpoint(str(path))
    b, _ = read_torch_checkpoint(path.read_bytes(), 'c.pth')
    assert a.keys() == b.keys()


@pytest.mark.parametrize('map_location', [
    'cpu',
    torch.device('cpu'), {
        'cpu': 'cpu'
    }, lambda storage, location: storage, None
])
def test_map_location_forms(map_location):
    got, _ = read_torch_checkpoint(
        saved({'w': torch.ones(2)}), 'c', map_location=map_location)
    assert got['w'].device.type == 'cpu'


def test_map_location_meta_moves_tensors():
    got, _ = read_torch_checkpoint(
        saved({'w': torch.ones(2)}), 'c', map_location='meta')
    assert got['w'].device.type == 'meta'


def test_history_buffers_become_plain_data_and_resume():
    buffer = HistoryBuffer([1., 2., 6.], [1, 1, 2], max_length=10)
    got, report = read_torch_checkpoint(
        saved({'message_hub': {
            'log_scalars': {
                'loss': buffer
            }
        }}), 'c')
    plain = got['message_hub']['log_scalars']['loss']
    assert plain == {
        HISTORY_BUFFER_KEY: 1,
        'max_length': 10,
        'log_history': [1., 2., 6.],
        'count_history': [1, 1, 2]
    }
    assert not report.placeholders and not report.dropped
    restored = history_buffer_from_plain(plain, 'c')
    assert type(restored) is HistoryBuffer and restored.mean() == 9 / 4
    hub = message_hub_from_plain(got['message_hub'], 'c')
    assert hub['log_scalars']['loss'].max() == 6.


def test_message_hub_round_trip_through_plain_form():
    state = {
        'log_scalars': OrderedDict(loss=HistoryBuffer([3.], [1])),
        'runtime_info': {
            'epoch': 1
        },
        'resumed_keys': {
            'epoch': True
        }
    }
    plain = message_hub_to_plain(state)
    assert plain['log_scalars']['loss'][HISTORY_BUFFER_KEY] == 1
    got, _ = read_torch_checkpoint(saved(plain), 'c')
    hub = message_hub_from_plain(got, 'c')
    assert hub['log_scalars']['loss'].current() == 3.
    assert hub['runtime_info'] == {'epoch': 1}


@pytest.mark.parametrize('bad', [
    {
        HISTORY_BUFFER_KEY: 1,
        'max_length': 0,
        'log_history': [],
        'count_history': []
    },
    {
        HISTORY_BUFFER_KEY: 1,
        'max_length': 2,
        'log_history': [1., 2., 3.],
        'count_history': [1, 1, 1]
    },
    {
        HISTORY_BUFFER_KEY: 1,
        'max_length': 5,
        'log_history': ['x'],
        'count_history': [1]
    },
    {
        HISTORY_BUFFER_KEY: 1,
        'max_length': 5,
        'log_history': [1.],
        'count_history': [1],
        'statistics_methods': {}
    },
])
def test_plain_history_buffers_are_checked(bad):
    with pytest.raises(ValueError, match='^c.pth: '):
        history_buffer_from_plain(bad, 'c.pth')


def test_history_buffer_messages_are_bounded():
    """A max_length of 2**40 shared references (a few hundred bytes in a
    pickle) must not be spelled out in full in the refusal."""
    deep = ()
    for _ in range(40):
        deep = (deep, deep)
    bad = {
        HISTORY_BUFFER_KEY: 1,
        'max_length': deep,
        'log_history': [],
        'count_history': []
    }
    with pytest.raises(ValueError, match=r'^c\.pth: .*max_length \(\(') as e:
        history_buffer_from_plain(bad, 'c.pth')
    assert len(str(e.value)) < 300


def test_planted_statistics_are_dropped_unread():
    table = dict(HistoryBuffer._statistics_methods)
    for body in (P.planted_globals(),
                 P.history_buffer(P.ordered_dict_hiding_items())):
        got, _ = read_torch_checkpoint(P.torch_zip(P.wrap(body)), 'c')
        assert got[HISTORY_BUFFER_KEY] == 1
    assert HistoryBuffer._statistics_methods == table
    assert HistoryBuffer([1., 5.], [1, 1]).statistics('mean') == 3.


# -------------------------------------------------------- damaged files --
def test_storage_of_the_wrong_size_is_refused():
    data = P.replace_records(
        saved({'w': torch.ones(4)}), lambda name, body: body[:8]
        if name.endswith('/data/0') else body)
    with pytest.raises(PickleRefusedError, match='^c.pth: .*8 bytes'):
        read_torch_checkpoint(data, 'c.pth')


def test_views_past_their_storage_are_refused():
    # size (4,) -> (9,): reads past the 4 floats of the storage.
    def edit(name, body):
        if not name.endswith('/data.pkl'):
            return body
        assert body.count(b'K\x04\x85') == 1
        return body.replace(b'K\x04\x85', b'K\x09\x85')

    data = P.replace_records(saved({'w': torch.ones(4)}), edit)
    with pytest.raises(PickleRefusedError, match='reaches past its storage'):
        read_torch_checkpoint(data, 'c.pth')


def test_boolean_storages_hold_only_0_and_1():
    data = P.replace_records(
        saved({'b': torch.tensor([True, False])}),
        lambda name, body: b'\x07\x00' if name.endswith('/data/0') else body)
    with pytest.raises(PickleRefusedError, match='boolean'):
        read_torch_checkpoint(data, 'c.pth')


def test_zip_bomb_is_refused_naming_the_limit(tmp_path):
    path = tmp_path / 'bomb.pth'
    P.zip_bomb(path)
    assert path.stat().st_size < 2 << 20
    with pytest.raises(
            PickleRefusedError,
            match=rf'^{path}: its records expand to 39845888\d '
            r'bytes.*limit 16777216 bytes'):
        read_torch_checkpoint(str(path))


def test_pickle_size_limit():
    with pytest.raises(PickleRefusedError, match='limit 10'):
        read_torch_checkpoint(
            saved({'w': 1}), 'c', limits=ArchiveLimits(max_pickle_bytes=10))


@pytest.mark.parametrize('data, message', [
    (b'not a checkpoint\n', 'not a torch checkpoint'),
    (pickle.dumps({'a': 1}), 'not a torch checkpoint'),
    (saved({'w': torch.ones(2)})[:300], 'damaged'),
    (saved({'w': torch.ones(2)}, legacy=True)[:-3], 'cut short'),
])
def test_damaged_files_name_the_file(data, message):
    with pytest.raises(PickleRefusedError, match=f'^c.pth: .*{message}'):
        read_torch_checkpoint(data, 'c.pth')


@pytest.mark.parametrize(
    'name',
    ['_rebuild_qtensor', '_rebuild_sparse_tensor', '_rebuild_nested_tensor'])
def test_other_tensor_kinds_are_refused(name):
    body = P.wrap(P.call('torch._utils', name))
    with pytest.raises(PickleRefusedError, match='quantized, sparse'):
        read_torch_checkpoint(P.torch_zip(body), 'c.pth')


# --------------------------------------------------- crafted resources --
@pytest.mark.parametrize(
    'body, message', [
        (P.call('torch', 'device', P.doubling_tuple(21)), 'torch.device'),
        (P.doubling_tuple(21) + pickle.BINPERSID, 'persistent id'),
        (P.storage_pid(kind=P.doubling_tuple(21)), 'storage type'),
        (P.tensor_v2(P.ints(2), P.ints(1),
                     offset=P.doubling_tuple(21)), 'tensor offset'),
        (P.glob('mmengine.logging.history_buffer', 'HistoryBuffer') +
         pickle.EMPTY_TUPLE + pickle.NEWOBJ + pickle.EMPTY_DICT +
         P.text('max_length') + P.doubling_tuple(21) + pickle.SETITEM +
         pickle.BUILD, 'max_length'),
    ],
    ids=['device', 'pid', 'storage', 'offset', 'history'])
def test_refusals_show_a_bounded_repr_of_the_data(body, message):
    """A tuple holding one tuple twice, 21 deep: the old messages built its
    repr of 2 ** 21 leaves before cutting it (1 s; each level doubles)."""
    with pytest.raises(
            PickleRefusedError, match=rf'^c\.pth: .*{message}') as info:
        read_torch_checkpoint(P.torch_zip(P.wrap(body)), 'c.pth')
    assert '((...), (...))' in str(info.value)
    assert len(str(info.value)) < 300


def test_moving_shares_what_the_file_shares():
    """Seven levels of ten references to one list, moved to another device:

    the old walk rebuilt 10 ** 7 leaves (many seconds from 300 bytes).
    """
    body = pickle.EMPTY_DICT + pickle.MARK + P.text('w') + P.tensor_v2(
        P.ints(2), P.ints(1)) + P.text('x') + P.shared_lists(
            10, 7) + pickle.SETITEMS
    got, _ = read_torch_checkpoint(
        P.torch_zip(P.wrap(body)), 'c.pth', map_location='meta')
    assert got['w'].device.type == 'meta'
    assert got['x'][0] is got['x'][9] and len(got['x'][0][0]) == 10
    tied = torch.ones(2)
    got, _ = read_torch_checkpoint(
        saved({
            'a': tied,
            'b': tied
        }), 'c', map_location='meta')
    assert got['a'] is got['b']


@pytest.mark.parametrize('bits, what', [(0x1, 'is encrypted'),
                                        (0x20, 'holds patch data'),
                                        (0x40, 'is encrypted')])
def test_records_zipfile_cannot_read_are_refused_naming_them(bits, what):
    """Zipfile raises RuntimeError / NotImplementedError for these, which
    escaped the reader without the file's name."""
    data = P.set_zip_flags(saved({'w': torch.ones(2)}), bits)
    with pytest.raises(
            PickleRefusedError, match=rf'^c\.pth: record archive/\S+ {what}'):
        read_torch_checkpoint(data, 'c.pth')


def test_record_names_that_are_not_utf8_are_refused_naming_them():
    """A local header claiming a UTF-8 name that is not: zipfile raised
    UnicodeDecodeError through the reader."""
    data = bytearray(P.torch_zip(P.wrap(pickle.EMPTY_DICT)))
    with zipfile.ZipFile(io.BytesIO(bytes(data))) as archive:
        local = archive.getinfo('archive/data.pkl').header_offset
    at = data.find(b'archive/data.pkl')
    while at >= 0:
        data[at] = 0xff
        at = data.find(b'archive/data.pkl', at + 1)
    data[local + 7] |= 0x08  # flag bit 11: the name is UTF-8
    with pytest.raises(
            PickleRefusedError,
            match=r'^c\.pth: record .*data\.pkl is damaged'):
        read_torch_checkpoint(bytes(data), 'c.pth')


@pytest.mark.parametrize('size, stride, message', [
    ((2**40, 2**40), (0, 0), 'has 1208925819614629174706176 elements'),
    ((0, 2**64), (1, 1), 'does not fit in 64 bits'),
    ((2, ), (2**64, ), 'does not fit in 64 bits'),
])
def test_tensor_sizes_torch_cannot_hold_are_refused(size, stride, message):
    body = P.tensor_v2(P.ints(*size), P.ints(*stride))
    with pytest.raises(PickleRefusedError, match=rf'^c\.pth: .*{message}'):
        read_torch_checkpoint(P.torch_zip(P.wrap(body)), 'c.pth')
