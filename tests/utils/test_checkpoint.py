"""Checkpoints are untrusted: loading one builds data and nothing else.

The malicious files are written byte by byte (tests/fileio/_payloads.py) and
loaded through the entry points of this module: the loader,
mmengine's ``CheckpointLoader`` with every scheme it knows, the strict
whole-model load, ``--resume``. ``mim test``, ``init_detector``, the demo,
pretrained ``init_cfg``, the converter and the annotation loader take the
same files in tests/fileio/test_untrusted_entry_points.py and
tests/bad_inputs/.
"""
import io
import logging
import os
import pickle
import sys
import threading

import numpy as np
import pytest
import torch
import torch.nn as nn
from mmengine.logging import HistoryBuffer, history_buffer
from mmengine.model import BaseModel
from mmengine.registry import DefaultScope
from mmengine.runner import Runner
from mmengine.runner.checkpoint import CheckpointLoader, _load_checkpoint
from torch.utils.data import Dataset

from mmyowo.engine.hooks import AtomicCheckpointHook
from mmyowo.fileio import Placeholder
from mmyowo.utils import (CheckpointLoadError, CheckpointMismatchError,
                          check_state_dict_fits, checkpoint_cache_dir,
                          load_checkpoint_file, load_model_checkpoint)
from mmyowo.utils.checkpoint import compare_state_dicts
from ..fileio import _payloads as P


@pytest.fixture
def marker(tmp_path):
    path = tmp_path / 'pwned'
    yield path
    assert not path.exists(), 'a checkpoint ran code'


@pytest.fixture
def statistics_table():
    """HistoryBuffer's process-wide table must not change; restored after the
    test in any case so that one failure does not spread."""
    HistoryBuffer()  # fills the table with mmengine's defaults
    saved = dict(HistoryBuffer._statistics_methods)
    yield HistoryBuffer._statistics_methods
    changed = HistoryBuffer._statistics_methods != saved
    HistoryBuffer._statistics_methods.clear()
    HistoryBuffer._statistics_methods.update(saved)
    assert not changed, 'a checkpoint changed HistoryBuffer\'s table'


def payloads(marker):
    """Whole-file payloads: name -> ``data.pkl`` body."""
    return P.code_payloads(f'touch {marker}')


def _files(tmp_path, marker):
    """Each payload as a torch zip checkpoint and as a raw pickle."""
    files = {}
    for name, body in payloads(marker).items():
        files[f'{name}-zip'] = tmp_path / f'{name}.pth'
        P.torch_zip(P.wrap(body), files[f'{name}-zip'])
        files[f'{name}-raw'] = tmp_path / f'{name}.pkl'
        files[f'{name}-raw'].write_bytes(P.wrap(body))
    return files


def test_plant_is_a_real_threat_with_torch_allow_lists(tmp_path):
    """Why nothing is admitted: under the allow-list mmyowo used to install
    (``HistoryBuffer`` + ``getattr``), ``torch.load(weights_only=True)``
    plants a function's globals in the table every buffer uses."""
    path = tmp_path / 'plant.pth'
    P.torch_zip(P.wrap(P.planted_globals()), path)
    saved = dict(HistoryBuffer._statistics_methods)
    try:
        with torch.serialization.safe_globals([HistoryBuffer, getattr]):
            torch.load(path, weights_only=True)
        assert HistoryBuffer._statistics_methods['mean'] is vars(
            history_buffer)
    finally:
        HistoryBuffer._statistics_methods.clear()
        HistoryBuffer._statistics_methods.update(saved)


@pytest.mark.parametrize('entry', ['loader', 'mmengine', 'model'])
def test_malicious_checkpoints_are_refused(tmp_path, marker, entry,
                                           statistics_table):
    for name, path in _files(tmp_path, marker).items():
        with pytest.raises(CheckpointLoadError) as info:
            if entry == 'loader':
                load_checkpoint_file(str(path))
            elif entry == 'mmengine':
                _load_checkpoint(str(path), map_location='cpu')
            else:
                load_model_checkpoint(nn.Linear(1, 1), str(path))
        assert str(info.value).startswith(f'{path}: '), name


def test_embedded_payloads_become_placeholders_and_are_logged(
        tmp_path, marker, statistics_table, monkeypatch):
    """A checkpoint whose weights are fine but whose ``meta`` holds a payload
    loads its weights; the payload is never built, and the log says so with
    counts."""
    body = (
        pickle.EMPTY_DICT + P.text('state_dict') + pickle.EMPTY_DICT +
        pickle.SETITEM + P.text('meta') +
        P.call('os', 'system', P.text(f'touch {marker}')) + pickle.SETITEM +
        P.text('hub') + P.planted_globals() + pickle.SETITEM)
    path = tmp_path / 'mixed.pth'
    P.torch_zip(P.wrap(body), path)
    logged = []
    monkeypatch.setattr(
        'mmyowo.utils.checkpoint.print_log',
        lambda msg, logger=None, level=None: logged.append((msg, level)))
    checkpoint = CheckpointLoader.load_checkpoint(str(path))
    assert checkpoint['state_dict'] == {}
    assert isinstance(checkpoint['meta'], Placeholder)
    (message, level), = logged
    assert level == logging.WARNING
    assert message.startswith(f'{path}: 1 objects not built: os.system (1)')
    assert 'getattr' not in message  # the planted statistics: dropped
    with pytest.raises(TypeError, match=f'{path}: holds a os.system'):
        checkpoint['meta']['epoch']


def test_ordered_dict_hiding_entries_plants_nothing(tmp_path,
                                                    statistics_table):
    """``init_detector`` used to succeed and make every ``mean`` a max."""
    path = tmp_path / 'hidden.pth'
    P.torch_zip(P.wrap(P.history_buffer(P.ordered_dict_hiding_items())), path)
    load_checkpoint_file(str(path))
    assert HistoryBuffer([1., 5.], [1, 1]).statistics('mean') == 3.


# ------------------------------------------------------- process state --
def _numpy_checkpoint(tmp_path) -> str:
    path = tmp_path / 'np.pth'
    torch.save({'a': np.arange(3.), 'w': torch.ones(2)}, path)
    return str(path)


def test_torch_allow_list_is_never_touched(tmp_path):
    """Not on import, not during a load (seen from another thread), not after;
    the user's own entries stay."""
    assert 'mmyowo' in sys.modules
    path = _numpy_checkpoint(tmp_path)
    users = [np.ndarray]
    torch.serialization.add_safe_globals(users)
    try:
        before = list(torch.serialization.get_safe_globals())
        seen, refused, stop = [], [], threading.Event()

        def watch():
            while not stop.is_set():
                seen.append(list(torch.serialization.get_safe_globals()))
                try:
                    torch.load(path, weights_only=True)
                except pickle.UnpicklingError:
                    refused.append(True)

        thread = threading.Thread(target=watch)
        thread.start()
        try:
            for _ in range(20):
                assert load_checkpoint_file(path)['a'].tolist() == [0, 1, 2]
        finally:
            stop.set()
            thread.join()
        assert seen and all(s == before for s in seen)
        assert len(refused) == len(seen)  # plain torch stays strict
        assert torch.serialization.get_safe_globals() == before
    finally:
        torch.serialization.clear_safe_globals()


# ------------------------------------------------------------- schemes --
@pytest.fixture
def downloads(tmp_path, monkeypatch):
    """Serve ``downloads.file`` for every URL; record the URLs."""

    class Server:
        file = None
        urls = []

    def fake_download(url, dst, hash_prefix=None, progress=True):
        Server.urls.append(url)
        with open(Server.file, 'rb') as src, open(dst, 'wb') as out:
            out.write(src.read())

    monkeypatch.setattr(torch.hub, 'download_url_to_file', fake_download)
    monkeypatch.setenv('MMYOWO_HOME', str(tmp_path / 'mmyowo-home'))
    monkeypatch.setattr(torch.hub, 'get_dir', lambda: str(tmp_path / 'hub'))
    return Server


SCHEMES = [
    'https://example.com/zoo/i3d.pth', 'http://example.com/a.pth',
    'torchvision://resnet50', 'modelzoo://resnet50',
    'open-mmlab://resnet50_v1c', 'openmmlab://resnet50_v1c', 'mmcls://vgg11'
]


@pytest.mark.parametrize('name', SCHEMES)
def test_every_url_scheme_reads_as_data(tmp_path, downloads, marker, name,
                                        statistics_table):
    """Before, all but http(s) went through ``torch.hub`` with
    ``weights_only=False``: the payload ran."""
    downloads.file = tmp_path / 'evil.pth'
    P.torch_zip(P.wrap(payloads(marker)['os.system']), downloads.file)
    with pytest.raises(CheckpointLoadError, match='os.system|SHA-256'):
        CheckpointLoader.load_checkpoint(name, map_location='cpu')
    assert len(downloads.urls) == 1
    cache = checkpoint_cache_dir()
    assert cache.startswith(str(tmp_path / 'mmyowo-home'))
    # The refused download is deleted, not left for a later load.
    assert not os.listdir(cache)
    assert not (tmp_path / 'hub').exists()


def test_a_file_planted_in_torch_hubs_cache_is_never_read(
        tmp_path, downloads, marker):
    """A file served once at torchvision's URL (or copied into torch hub's
    cache) used to run at the next ``torchvision://resnet50``."""
    planted = tmp_path / 'hub' / 'checkpoints' / 'resnet50-0676ba61.pth'
    planted.parent.mkdir(parents=True)
    P.torch_zip(P.wrap(payloads(marker)['os.system']), planted)
    downloads.file = planted
    with pytest.raises(CheckpointLoadError):
        CheckpointLoader.load_checkpoint('torchvision://resnet50')
    assert downloads.urls == [
        'https://download.pytorch.org/models/resnet50-0676ba61.pth'
    ]


def test_url_checkpoint_with_a_matching_hash_loads(tmp_path, downloads):
    import hashlib
    good = tmp_path / 'good.pth'
    torch.save({'state_dict': {'w': torch.ones(2)}}, good)
    digest = hashlib.sha256(good.read_bytes()).hexdigest()[:8]
    downloads.file = good
    url = f'https://example.com/model-{digest}.pth'
    loaded = CheckpointLoader.load_checkpoint(url)
    assert torch.equal(loaded['state_dict']['w'], torch.ones(2))
    # Cached: the second load does not download.
    CheckpointLoader.load_checkpoint(url)
    assert downloads.urls == [url]


def test_storage_schemes_read_bytes_as_data(tmp_path, monkeypatch, marker):

    class Backend:

        def get(self, filename):
            return P.torch_zip(P.wrap(payloads(marker)['os.system']))

    monkeypatch.setattr('mmyowo.utils.checkpoint.get_file_backend',
                        lambda *args, **kwargs: Backend())
    for name in ('s3://bucket/a.pth', 'petrel://bucket/a.pth',
                 'cluster:s3://bucket/a.pth'):
        with pytest.raises(
                CheckpointLoadError,
                match=f'^{name}: the file holds a os.system'):
            CheckpointLoader.load_checkpoint(name)


def test_pavi_and_unknown_schemes_are_refused_with_advice():
    with pytest.raises(CheckpointLoadError, match='download the file'):
        CheckpointLoader.load_checkpoint('pavi://model/1')


# --------------------------------------------- real checkpoints, resume --
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


def _runner(work_dir, max_epochs, hook, **kwargs) -> Runner:
    # Runners of one process and second share a message hub unless named.
    _runner.count = getattr(_runner, 'count', 0) + 1
    return Runner(
        experiment_name=f'resume-test-{_runner.count}',
        model=_Tiny(),
        work_dir=str(work_dir),
        default_scope='mmengine',
        train_dataloader=dict(
            dataset=_Data(),
            batch_size=2,
            collate_fn=dict(type='default_collate'),
            sampler=dict(type='DefaultSampler', shuffle=False)),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.1)),
        param_scheduler=dict(type='MultiStepLR', milestones=[1, 2]),
        train_cfg=dict(by_epoch=True, max_epochs=max_epochs),
        default_hooks=dict(checkpoint=hook),
        **kwargs)


@pytest.mark.parametrize('writer', ['mmyowo', 'previous'])
def test_runner_checkpoints_resume(tmp_path, writer, statistics_table):
    """A checkpoint of ``AtomicCheckpointHook`` (plain message hub) and one of
    the previous version / another project (``HistoryBuffer`` pickles,
    mmengine's ``CheckpointHook``) both resume with the right histories."""
    work = tmp_path / 'work'
    with DefaultScope.overwrite_default_scope('mmengine'):
        hook = AtomicCheckpointHook(interval=1) if writer == 'mmyowo' else \
            dict(type='CheckpointHook', interval=1)
        first = _runner(work, 1, hook)
        first.train()
        losses = first.message_hub.get_scalar('train/loss').data[0]
        ckpt = str(work / 'epoch_1.pth')
        raw = load_checkpoint_file(ckpt)
        plain = raw['message_hub']['log_scalars']['train/loss']
        assert isinstance(plain, dict)  # never a HistoryBuffer from a file
        second = _runner(
            work,
            2,
            AtomicCheckpointHook(interval=1),
            resume=True,
            load_from=ckpt)
        second.train()
    resumed = second.message_hub.get_scalar('train/loss')
    assert type(resumed) is HistoryBuffer
    np.testing.assert_allclose(resumed.data[0][:len(losses)], losses)
    assert len(resumed.data[0]) == 2 * len(losses)
    assert second.train_loop.epoch == 2


def test_numpy1_spelling_of_array_reconstructor_loads(tmp_path):
    """Files written under numpy 1 name ``numpy.core.multiarray``."""
    buffer = io.BytesIO()
    torch.save({'state_dict': {}, 'meta': {'a': np.arange(3)}}, buffer)
    path = tmp_path / 'np1.pth'
    path.write_bytes(
        P.replace_records(
            buffer.getvalue(), lambda name, body: body.replace(
                b'numpy._core.multiarray', b'numpy.core.multiarray')))
    assert b'numpy.core.multiarray' in path.read_bytes()
    loaded = load_checkpoint_file(str(path))
    np.testing.assert_array_equal(loaded['meta']['a'], np.arange(3))


@pytest.mark.parametrize('damage', ['empty', 'truncated', 'text', 'half'])
def test_damaged_checkpoint_names_the_file(tmp_path, damage):
    path = tmp_path / 'ok.pth'
    torch.save({'state_dict': _Tiny().state_dict()}, path)
    data = path.read_bytes()
    bad = tmp_path / f'{damage}.pth'
    bad.write_bytes({
        'empty': b'',
        'truncated': data[:len(data) // 3],
        'text': b'not a checkpoint\n',
        'half': data[:len(data) - 100],
    }[damage])
    with pytest.raises(CheckpointLoadError, match=f'^{bad}: '):
        CheckpointLoader.load_checkpoint(str(bad), map_location='cpu')


def test_missing_checkpoint_names_the_file(tmp_path):
    with pytest.raises(FileNotFoundError, match='nope.pth'):
        load_checkpoint_file(str(tmp_path / 'nope.pth'))


# ----------------------------------------------- weights that do not fit --
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


def test_payload_helpers_are_the_pickles_they_claim():
    """The hand-written opcodes decode as intended (guards the tests)."""
    assert pickle.loads(P.wrap(P.text('ab'))) == 'ab'
    assert pickle.loads(P.wrap(P.call('builtins', 'len', P.text('abc')))) \
        == 3
