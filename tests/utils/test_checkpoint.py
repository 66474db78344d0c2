"""Checkpoints are untrusted: loading one must never run code.

The malicious files below are written byte by byte with pickle opcodes, as an
attacker would, and loaded through every entry point users take: mmengine's
``CheckpointLoader`` (``--resume``, ``load_from``, ``mim test --checkpoint``,
pretrained ``init_cfg``) and the inference API.
"""
import io
import os
import pickle
import sys
import zipfile

import numpy as np
import pytest
import torch
import torch.nn as nn
from mmengine.logging import history_buffer
from mmengine.logging.history_buffer import HistoryBuffer
from mmengine.model import BaseModel
from mmengine.registry import DefaultScope
from mmengine.runner import Runner
from mmengine.runner.checkpoint import CheckpointLoader, _load_checkpoint
from torch.utils.data import Dataset

from mmyowo.utils import (CheckpointLoadError, CheckpointMismatchError,
                          check_state_dict_fits, load_checkpoint_file,
                          load_model_checkpoint)
from mmyowo.utils.checkpoint import (CheckpointHistoryBuffer,
                                     checkpoint_safe_globals,
                                     compare_state_dicts,
                                     history_buffer_statistic)

HB = b'mmengine.logging.history_buffer\nHistoryBuffer\n'


# --------------------------------------------------------------------- #
# hand-written pickles
# --------------------------------------------------------------------- #
def _str(text: str) -> bytes:
    data = text.encode()
    return pickle.BINUNICODE + len(data).to_bytes(4, 'little') + data


def _getattr(obj: bytes, name: str) -> bytes:
    """Opcodes pushing ``getattr(<obj>, name)``."""
    return (pickle.GLOBAL + b'__builtin__\ngetattr\n' + obj + _str(name) +
            pickle.TUPLE2 + pickle.REDUCE)


def _poison_statistics(method: bytes, name: str = 'mean') -> bytes:
    """A HistoryBuffer whose state maps statistic ``name`` to ``method``.

    ``HistoryBuffer.__setstate__`` copies that map into the class-level
    table every buffer of the process uses: mmengine's logger then calls
    whatever the file put there.
    """
    state = (
        pickle.EMPTY_DICT + _str('statistics_methods') + pickle.EMPTY_DICT +
        _str(name) + method + pickle.SETITEM + pickle.SETITEM)
    return (pickle.PROTO + b'\x02' + pickle.GLOBAL + HB + pickle.EMPTY_TUPLE +
            pickle.NEWOBJ + state + pickle.BUILD + pickle.STOP)


def _planted_globals() -> bytes:
    """``mean`` -> ``getattr(HistoryBuffer.update, '__globals__')``."""
    return _poison_statistics(
        _getattr(_getattr(pickle.GLOBAL + HB, 'update'), '__globals__'))


def _reduce_call(module: str, name: str, arg: str) -> bytes:
    """``module.name(arg)`` via REDUCE, as ``__reduce__`` payloads do."""
    return (pickle.PROTO + b'\x02' + pickle.GLOBAL +
            f'{module}\n{name}\n'.encode() + _str(arg) + pickle.TUPLE1 +
            pickle.REDUCE + pickle.STOP)


def _as_torch_zip(payload: bytes, path) -> None:
    """A torch zip checkpoint whose ``data.pkl`` is ``payload``."""
    buffer = io.BytesIO()
    torch.save({'state_dict': {}}, buffer)
    buffer.seek(0)
    with zipfile.ZipFile(buffer) as src, zipfile.ZipFile(path, 'w') as dst:
        for info in src.infolist():
            data = src.read(info.filename)
            if info.filename.endswith('/data.pkl'):
                data = payload
            dst.writestr(info, data)


@pytest.fixture
def marker(tmp_path):
    path = tmp_path / 'pwned'
    yield path
    assert not path.exists(), 'a checkpoint ran code'


def _malicious_files(tmp_path, marker_path):
    cmd = f'touch {marker_path}'
    payloads = {
        'os.system':
        _reduce_call('os', 'system', cmd),
        'posix.system':
        _reduce_call('posix', 'system', cmd),
        'eval':
        _reduce_call('builtins', 'eval', f'__import__("os").system("{cmd}")'),
        'exec':
        _reduce_call('builtins', 'exec', f'import os; os.system("{cmd}")'),
        'getattr-chain':
        _getattr(_getattr(pickle.GLOBAL + HB, '__init__'), '__globals__') +
        pickle.STOP,
        'setstate-plant':
        _planted_globals(),
        'setstate-swap':
        _poison_statistics(_getattr(pickle.GLOBAL + HB, 'max')),
        'setstate-class':
        _poison_statistics(pickle.GLOBAL + HB),
        'subprocess':
        _reduce_call('subprocess', 'getoutput', cmd),
    }
    files = {}
    for name, payload in payloads.items():
        if not payload.startswith(pickle.PROTO):
            payload = pickle.PROTO + b'\x02' + payload
        files[f'{name}-zip'] = tmp_path / f'{name}.pth'
        _as_torch_zip(payload, files[f'{name}-zip'])
        files[f'{name}-raw'] = tmp_path / f'{name}.pkl'
        files[f'{name}-raw'].write_bytes(payload)
    return files


@pytest.fixture
def statistics_table():
    """Restore HistoryBuffer's process-wide method table afterwards."""
    saved = dict(HistoryBuffer._statistics_methods)
    yield HistoryBuffer._statistics_methods
    HistoryBuffer._statistics_methods.clear()
    HistoryBuffer._statistics_methods.update(saved)


def test_plant_is_a_real_threat_with_plain_getattr(tmp_path, statistics_table):
    """The same file, under the allow-list mmyowo used to install
    (``HistoryBuffer`` + ``getattr``), reads a function's globals and plants
    them in the method table every HistoryBuffer of the process uses."""
    path = tmp_path / 'plant.pth'
    _as_torch_zip(_planted_globals(), path)
    with torch.serialization.safe_globals([HistoryBuffer, getattr]):
        torch.load(path, weights_only=True)
    assert statistics_table['mean'] is vars(history_buffer)


@pytest.mark.parametrize('entry', ['direct', 'mmengine', 'inference'])
def test_malicious_checkpoints_are_refused(tmp_path, marker, entry,
                                           statistics_table):
    files = _malicious_files(tmp_path, marker)
    for name, path in files.items():
        with pytest.raises((CheckpointLoadError, pickle.UnpicklingError)) \
                as info:
            if entry == 'direct':
                load_checkpoint_file(str(path))
            elif entry == 'mmengine':
                _load_checkpoint(str(path), map_location='cpu')
            else:
                load_model_checkpoint(nn.Linear(1, 1), str(path))
        assert str(path) in str(info.value), name
        assert HistoryBuffer._statistics_methods.get('mean') in (
            None, HistoryBuffer.mean), name


def test_getattr_stand_in_admits_only_history_buffer_statistics():
    for name in ('mean', 'min', 'max', 'current'):
        assert history_buffer_statistic(HistoryBuffer, name) is \
            getattr(HistoryBuffer, name)
    for owner, name in [(HistoryBuffer, '__init__'),
                        (HistoryBuffer, '__class__'),
                        (HistoryBuffer, 'update'), (HistoryBuffer, 3),
                        (np.ndarray, 'mean'), (os, 'system')]:
        with pytest.raises(pickle.UnpicklingError):
            history_buffer_statistic(owner, name)


def test_process_wide_allow_list_is_untouched(tmp_path):
    """Importing mmyowo must not weaken other ``torch.load`` calls."""
    assert 'mmyowo' in sys.modules
    allowed = torch.serialization.get_safe_globals()
    assert getattr not in allowed and HistoryBuffer not in allowed
    assert not any(
        isinstance(g, tuple) and g[0] is history_buffer_statistic
        for g in allowed)
    # A real runner checkpoint therefore needs our loader: plain torch
    # refuses it, as it would without mmyowo.
    ckpt = _train_tiny_runner(tmp_path)
    with pytest.raises(pickle.UnpicklingError):
        torch.load(ckpt, weights_only=True)
    assert 'message_hub' in load_checkpoint_file(ckpt)
    assert set(torch.serialization.get_safe_globals()) == set(allowed)


def test_safe_globals_are_data_only():
    for item in checkpoint_safe_globals():
        obj = item[0] if isinstance(item, tuple) else item
        assert obj is history_buffer_statistic or isinstance(obj, type) or \
            getattr(obj, '__module__', '').startswith('numpy'), obj
    assert getattr not in [
        item[0] if isinstance(item, tuple) else item
        for item in checkpoint_safe_globals()
    ]


def test_loaded_history_buffer_is_plain_and_checked(tmp_path):
    ckpt = _train_tiny_runner(tmp_path)
    buffer = load_checkpoint_file(
        ckpt)['message_hub']['log_scalars']['train/loss']
    assert type(buffer) is HistoryBuffer
    bad = [{
        'statistics_methods': {
            'mean': HistoryBuffer.max
        }
    }, {
        'statistics_methods': {
            'mean': HistoryBuffer
        }
    }, {
        '_log_history': np.array(['x'], dtype=object)
    }, {
        'something': 1
    }, ('not', 'a dict')]
    for state in bad:
        with pytest.raises(pickle.UnpicklingError):
            CheckpointHistoryBuffer.__new__(
                CheckpointHistoryBuffer).__setstate__(state)


# --------------------------------------------------------------------- #
# real checkpoints still load; damaged ones name the file
# --------------------------------------------------------------------- #
class _Tiny(BaseModel):

    def __init__(self, out: int = 1):
        super().__init__()
        self.fc = nn.Linear(2, out)

    def forward(self, inputs, data_samples=None, mode='tensor'):
        x = inputs if torch.is_tensor(inputs) else torch.stack(inputs)
        out = self.fc(x)
        return dict(loss=out.mean()) if mode == 'loss' else out


class _Data(Dataset):

    def __len__(self):
        return 4

    def __getitem__(self, i):
        return dict(inputs=torch.full((2, ), float(i)))


def _train_tiny_runner(tmp_path) -> str:
    with DefaultScope.overwrite_default_scope('mmengine'):
        runner = Runner(
            model=_Tiny(),
            work_dir=str(tmp_path / 'work'),
            default_scope='mmengine',
            train_dataloader=dict(
                dataset=_Data(),
                batch_size=2,
                collate_fn=dict(type='default_collate'),
                sampler=dict(type='DefaultSampler', shuffle=False)),
            optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.1)),
            train_cfg=dict(by_epoch=True, max_epochs=1))
        runner.train()
    return str(tmp_path / 'work' / 'epoch_1.pth')


def test_runner_checkpoint_round_trip(tmp_path):
    ckpt = _train_tiny_runner(tmp_path)
    loaded = _load_checkpoint(ckpt, map_location='cpu')
    assert isinstance(loaded['message_hub']['log_scalars']['train/loss'],
                      HistoryBuffer)
    buffer = loaded['message_hub']['log_scalars']['train/loss']
    assert buffer.statistics('mean') == pytest.approx(
        float(buffer.data[0].mean()))
    model = _Tiny()
    from mmengine.runner import load_checkpoint
    load_checkpoint(model, ckpt)
    assert torch.equal(model.fc.weight, loaded['state_dict']['fc.weight'])


def test_numpy1_spelling_of_array_reconstructor_loads(tmp_path):
    """Files written under numpy 1 name ``numpy.core.multiarray``."""
    buffer = io.BytesIO()
    torch.save({'state_dict': {}, 'meta': {'a': np.arange(3)}}, buffer)
    data = buffer.getvalue()
    with zipfile.ZipFile(io.BytesIO(data)) as src:
        names = src.namelist()
        pkl_name = [n for n in names if n.endswith('/data.pkl')][0]
        payload = src.read(pkl_name)
    assert b'numpy._core.multiarray' in payload or \
        b'numpy.core.multiarray' in payload
    payload = payload.replace(b'numpy._core.multiarray',
                              b'numpy.core.multiarray')
    path = tmp_path / 'np1.pth'
    _as_torch_zip(payload, path)
    loaded = load_checkpoint_file(str(path))
    np.testing.assert_array_equal(loaded['meta']['a'], np.arange(3))


@pytest.mark.parametrize('damage', ['empty', 'truncated', 'text', 'half'])
def test_damaged_checkpoint_names_the_file(tmp_path, damage):
    ckpt = _train_tiny_runner(tmp_path)
    data = open(ckpt, 'rb').read()
    bad = tmp_path / f'{damage}.pth'
    bad.write_bytes({
        'empty': b'',
        'truncated': data[:len(data) // 3],
        'text': b'not a checkpoint\n',
        'half': data[:len(data) - 100],
    }[damage])
    with pytest.raises(CheckpointLoadError, match=str(bad)):
        CheckpointLoader.load_checkpoint(str(bad), map_location='cpu')


def test_missing_checkpoint_names_the_file(tmp_path):
    with pytest.raises(FileNotFoundError, match='nope.pth'):
        load_checkpoint_file(str(tmp_path / 'nope.pth'))


def test_url_checkpoints_go_through_the_safe_loader(tmp_path, monkeypatch,
                                                    marker):
    """mmengine downloads URLs with ``weights_only=False``; ours do not."""
    evil = tmp_path / 'src.pth'
    _as_torch_zip(_reduce_call('os', 'system', f'touch {marker}'), evil)
    downloads = []

    def fake_download(url, dst, progress=True):
        downloads.append(url)
        with open(evil, 'rb') as src, open(dst, 'wb') as out:
            out.write(src.read())

    monkeypatch.setattr(torch.hub, 'download_url_to_file', fake_download)
    monkeypatch.setattr(torch.hub, 'get_dir', lambda: str(tmp_path / 'hub'))
    with pytest.raises(CheckpointLoadError, match='refused'):
        _load_checkpoint('https://example.com/zoo/i3d.pth', map_location='cpu')
    assert downloads == ['https://example.com/zoo/i3d.pth']


# --------------------------------------------------------------------- #
# weights that do not fit
# --------------------------------------------------------------------- #
def test_compare_state_dicts_counts():
    model = {'a': torch.zeros(2), 'b': torch.zeros(3), 'c': torch.zeros(1)}
    given = {'a': torch.ones(2), 'b': torch.ones(4), 'd': torch.ones(1)}
    report = compare_state_dicts(model, given)
    assert report['loaded'] == ['a']
    assert report['missing'] == ['c'] and report['unexpected'] == ['d']
    assert report['mismatched'] == ['b']
    assert compare_state_dicts(model, {'a': 'not a tensor'})['mismatched'] \
        == ['a']


def test_check_state_dict_fits_names_file_and_problem():
    model = _Tiny(out=3)
    other = _Tiny(out=5).state_dict()
    with pytest.raises(
            CheckpointMismatchError,
            match=r'ckpt\.pth.*2 mismatched.*fc\.weight.*'
            r'\(5, 2\) in the file, \(3, 2\) in the model'):
        check_state_dict_fits(model, other, 'ckpt.pth')
    check_state_dict_fits(model, _Tiny(out=3).state_dict(), 'ckpt.pth')


def test_pickle_opcode_helpers_match_pickle():
    """The hand-written opcodes decode as intended (guards the tests)."""
    assert pickle.loads(pickle.PROTO + b'\x02' + _str('ab') + pickle.STOP) \
        == 'ab'
    assert pickle.loads(_reduce_call('builtins', 'len', 'abc')) == 3
