"""Untrusted files through the entry points users take, round two: every
checkpoint payload through ``--resume``, ``load_from``, pretrained ``init_cfg``
and the timm converter; the payloads that used to crash the process (SIGSEGV)
in a subprocess through the loader, ``CheckpointLoader``, ``init_detector``,
the converter and the annotation loader; annotation pickles that changed
process state or exhausted memory; AVA proposal files.

``mim test``, ``init_detector`` and the demo take the payloads in
test_mim.py, test_inference_api.py and test_demo_tool.py; every URL scheme
in tests/utils/test_checkpoint.py.
"""
import importlib.util
import os.path as osp
import pickle
import resource
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest
from mmaction.registry import DATASETS, MODELS
from mmengine.config import Config
from mmengine.logging import HistoryBuffer
from mmengine.registry import init_default_scope
from mmengine.runner import Runner

from mmyowo.datasets.annotations import load_annotations, save_annotations
from mmyowo.utils import CheckpointLoadError
from .._e2e import PYTHON, REPO
from ..fileio import _payloads as P
from ..models._cfgs import small_yowo_cfg
from ._inputs import payloads, poisoned_copy

TIMM_CONVERTER = osp.join(REPO, 'tools', 'model_converters',
                          'timm_cspdarknet53_to_mmyowo.py')


@pytest.fixture
def table():
    """HistoryBuffer's process-wide statistics table must stay as it is."""
    HistoryBuffer()  # mmengine fills in its defaults on first use
    before = dict(HistoryBuffer._statistics_methods)
    yield
    assert HistoryBuffer._statistics_methods == before
    assert HistoryBuffer([1., 5.], [1, 1]).statistics('mean') == 3.


def _runner(config, work_dir, load_from, resume):
    """What ``mim train CONFIG [--resume PATH]`` / ``load_from`` runs."""
    cfg = Config.fromfile(config)
    cfg.work_dir = str(work_dir)
    cfg.resume = resume
    cfg.load_from = load_from
    return Runner.from_cfg(cfg)


@pytest.mark.parametrize('resume', [True, False], ids=['resume', 'load_from'])
@pytest.mark.parametrize('attack', list(payloads('x')))
def test_training_from_a_malicious_checkpoint(trained, tmp_path, marker, table,
                                              attack, resume):
    bad = poisoned_copy(trained['checkpoint'],
                        payloads(marker)[attack], tmp_path / 'epoch_1.pth')
    runner = _runner(trained['config'], tmp_path / 'work', bad, resume)
    with pytest.raises(CheckpointLoadError) as info:
        runner.train()
    assert str(info.value).startswith(f'{bad}: ')
    assert runner.iter == 0


@pytest.mark.parametrize('attack', list(payloads('x')))
def test_pretrained_init_cfg_with_a_malicious_checkpoint(
        tmp_path, marker, table, attack):
    P.torch_zip(payloads(marker)[attack], tmp_path / 'i3d.pth')
    cfg = small_yowo_cfg()
    cfg['backbone_3d']['init_cfg'] = dict(
        type='Pretrained',
        checkpoint=str(tmp_path / 'i3d.pth'),
        prefix='backbone.')
    init_default_scope('mmaction')
    model = MODELS.build(cfg)
    with pytest.raises(ValueError, match=f'{tmp_path}/i3d.pth'):
        model.init_weights()


def _timm_tool():
    spec = importlib.util.spec_from_file_location('timm_tool', TIMM_CONVERTER)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize('attack', list(payloads('x')))
def test_timm_converter_with_a_malicious_checkpoint(tmp_path, marker, table,
                                                    attack):
    src = tmp_path / 'timm.pth'
    P.torch_zip(payloads(marker)[attack], src)
    with pytest.raises(ValueError, match=f'^{src}'):
        _timm_tool().main([str(src), str(tmp_path / 'out.pth')])
    assert not (tmp_path / 'out.pth').exists()


CRASHING_PAYLOADS = {
    'object dtype':
    P.object_dtype_array(),
    'dtype class state':
    P.dtype_class_state(),
    'history with an object array':
    P.history_buffer(
        P.text('x'), extra=P.text('_log_history') + P.object_dtype_array()),
}

CRASH_SCRIPT = '''
import sys
from mmengine.runner.checkpoint import CheckpointLoader
from mmyowo.apis import init_detector
from mmyowo.datasets.annotations import load_annotations
from mmyowo.utils import load_checkpoint_file
import importlib.util
spec = importlib.util.spec_from_file_location('timm_tool', {tool!r})
tool = importlib.util.module_from_spec(spec)
spec.loader.exec_module(tool)
config, files = sys.argv[1], sys.argv[2:]
entries = {{
    'loader': lambda path: load_checkpoint_file(path),
    'CheckpointLoader': lambda path: CheckpointLoader.load_checkpoint(path),
    'init_detector': lambda path: init_detector(config, path),
    'converter': lambda path: tool.main([path, path + '.out']),
}}
for path in files:
    kinds = {{'annotations': lambda p: load_annotations(p)}} \\
        if path.endswith('.pkl') else entries
    for name, entry in kinds.items():
        try:
            entry(path)
            print('LOADED', name, path)
        except (ValueError, TypeError) as err:
            print('REFUSED', name, type(err).__name__, str(err)[:300])
print('DONE')
'''


def test_payloads_that_crashed_the_process_are_refused(trained, tmp_path,
                                                       marker):
    """Before, numpy followed an attacker's pointer inside ``torch.load``
    and the annotation unpickler: exit 139, no message. In a subprocess so
    that a crash would be seen as one."""
    files = []
    for name, body in CRASHING_PAYLOADS.items():
        stem = name.replace(' ', '_')
        P.torch_zip(P.wrap(body), tmp_path / f'{stem}.pth')
        (tmp_path / f'{stem}.pkl').write_bytes(P.wrap(body))
        files += [str(tmp_path / f'{stem}.pth'), str(tmp_path / f'{stem}.pkl')]
    script = tmp_path / 'load_all.py'
    script.write_text(CRASH_SCRIPT.format(tool=TIMM_CONVERTER))
    proc = subprocess.run([PYTHON,
                           str(script), trained['config'], *files],
                          capture_output=True,
                          text=True,
                          cwd=tmp_path,
                          timeout=300)
    assert proc.returncode == 0, (proc.returncode, proc.stderr[-3000:])
    lines = [
        line for line in proc.stdout.splitlines()
        if line.startswith(('LOADED', 'REFUSED', 'DONE'))
    ]
    assert lines[-1] == 'DONE'
    assert not [line for line in lines if line.startswith('LOADED')], lines
    for path in files:
        refusals = [line for line in lines if f'{path}' in line]
        expected = 1 if path.endswith('.pkl') else 4
        assert len(refusals) == expected, (path, lines)


# ------------------------------------------------------------ annotations --
def test_annotation_pickle_cannot_rename_library_functions(tmp_path):
    """Before, the file set ``__qualname__`` on numpy's ``_frombuffer``:

    arrays no longer pickled at protocol 5 and ``save_annotations``
    failed for the rest of the process.
    """
    path = tmp_path / 'gt.pkl'
    path.write_bytes(P.wrap(P.set_function_attributes()))
    before = vars(np._core.numeric._frombuffer).copy() if hasattr(
        np._core.numeric._frombuffer, '__dict__') else {}
    with pytest.raises(ValueError, match=f'^{path}: .*sets the state'):
        load_annotations(str(path))
    assert np._core.numeric._frombuffer.__qualname__ == '_frombuffer'
    after = vars(np._core.numeric._frombuffer).copy() if hasattr(
        np._core.numeric._frombuffer, '__dict__') else {}
    assert after == before
    from ..datasets.test_annotations import make_gt
    save_annotations(make_gt(), str(tmp_path / 'again.pkl'))
    assert load_annotations(str(tmp_path / 'again.pkl'))['labels']


@pytest.mark.parametrize('body, message, seconds', [
    (P.bytearray_of_size(400 << 20), 'bytearray from int', 1),
    (P.bytearray_of_size(2**62), 'bytearray from int', 1),
    (P.codec('punycode', 'ä' * 20000), "codec \\('punycode'", 1),
    (P.declared_past_end(), 'not a valid pickle', 1),
    (P.wrong_constructor_call(), 'dict constructor with several', 1),
    (P.nested_lists(200_000), 'nested deeper than 100', 10),
])
def test_annotation_pickles_with_bounded_resources(tmp_path, body, message,
                                                   seconds):
    """A 30-byte file allocated 380 MiB; a 15 KB punycode text took 3-4 s (20k
    characters: 92 s); a wrong call gave a bare ``TypeError``."""
    path = tmp_path / 'gt.pkl'
    path.write_bytes(P.wrap(body))
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.perf_counter()
    with pytest.raises(ValueError, match=f'^{path}: refusing.*{message}'):
        load_annotations(str(path))
    assert time.perf_counter() - start < seconds
    grown_mib = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss -
                 peak) / 1024
    assert grown_mib < 64


def test_ava_dataset_refuses_proposal_files(tmp_path, marker):
    """mmaction's ``AVADataset`` reads them with ``pickle.load``."""
    proposals = tmp_path / 'proposals.pkl'
    proposals.write_bytes(payloads(marker)['os.system'])
    init_default_scope('mmaction')
    with pytest.raises(ValueError, match='takes no proposal_file'):
        DATASETS.build(
            dict(
                type='YOWOAVADataset',
                ann_file=str(tmp_path / 'ava.csv'),
                pipeline=[],
                proposal_file=str(proposals)))


def test_plain_torch_load_stays_strict_after_import(tmp_path):
    """``import mmyowo`` admits nothing into torch's own loader (torch
    registers its own tensor subclasses when mmengine imports them)."""
    path = tmp_path / 'np.pth'
    code = textwrap.dedent(f'''
        import pickle, numpy as np, torch
        torch.save({{'a': np.arange(3)}}, {str(path)!r})
        import mmyowo
        for item in torch.serialization.get_safe_globals():
            item = item[0] if isinstance(item, tuple) else item
            assert item.__module__.startswith('torch'), item
        try:
            torch.load({str(path)!r}, weights_only=True)
        except pickle.UnpicklingError:
            print('strict')
    ''')
    out = subprocess.run([sys.executable, '-c', code],
                         capture_output=True,
                         text=True,
                         check=True).stdout
    assert out.strip() == 'strict'


def test_real_annotation_pickles_still_load(tmp_path):
    from ..datasets.test_annotations import make_gt
    for proto in range(2, pickle.HIGHEST_PROTOCOL + 1):
        path = tmp_path / f'gt{proto}.pkl'
        gt = make_gt()
        with open(path, 'wb') as f:
            pickle.dump(gt, f, protocol=proto)
        assert load_annotations(str(path))['labels'] == gt['labels']
