"""``MainProcessLoggerHook``: the test metrics JSON is written once, by the
main process, in one piece.

mmengine's ``LoggerHook`` writes it from every rank into the same file; in
this project's two-rank test (``tests/test_distributed.py``, which also runs
this hook for real under ``torchrun``) the file once came out as one rank's
JSON followed by the tail of the other's.
"""
import glob
import json
import os
import os.path as osp

import pytest
import torch
from mmengine.hooks import LoggerHook
from mmengine.registry import DefaultScope
from mmengine.runner import Runner

from mmyowo.engine.hooks import MainProcessLoggerHook
from mmyowo.engine.hooks import main_process_logger_hook as hook_module
from mmyowo.utils.atomic_io import is_temporary
from ._toy import SumMetric, ToyData, ToyNet


def run_test(work_dir, hook_type, **hook_args):
    loader = dict(
        dataset=ToyData(),
        batch_size=2,
        collate_fn=dict(type='default_collate'),
        sampler=dict(type='DefaultSampler', shuffle=False))
    torch.manual_seed(0)
    with DefaultScope.overwrite_default_scope('mmengine'):
        runner = Runner(
            model=ToyNet(),
            work_dir=str(work_dir),
            default_scope='mmengine',
            # Unique: mmengine reuses the logger (and its log file) of an
            # earlier runner of the same name.
            experiment_name=str(work_dir).replace(os.sep, '_'),
            test_dataloader=loader,
            test_cfg=dict(),
            test_evaluator=dict(type=SumMetric),
            default_hooks=dict(logger=dict(type=hook_type, **hook_args)))
        metrics = runner.test()
    return runner, metrics


def metric_files(work_dir):
    return glob.glob(osp.join(str(work_dir), '*', '*.json'))


def test_main_process_writes_what_logger_hook_writes(tmp_path):
    runner, metrics = run_test(tmp_path / 'ours', MainProcessLoggerHook)
    _, stock_metrics = run_test(tmp_path / 'stock', LoggerHook)
    files = metric_files(tmp_path / 'ours')
    assert files == [osp.join(runner.log_dir, f'{runner.timestamp}.json')]
    with open(files[0]) as f:
        ours = json.load(f)
    with open(metric_files(tmp_path / 'stock')[0]) as f:
        stock = json.load(f)
    # Same keys as mmengine's file; the metrics at full precision, equal to
    # what the runner returned: the integer one too, which reaches the hook
    # as numpy.int64 and which LoggerHook writes as null.
    assert ours.keys() == stock.keys()
    assert {k: ours[k] for k in metrics} == metrics == stock_metrics
    assert ours['count'] == 4 and stock['count'] is None
    assert not [
        name for name in os.listdir(runner.log_dir) if is_temporary(name)
    ]


def test_other_ranks_write_no_metrics_file(tmp_path, monkeypatch):
    monkeypatch.setattr(hook_module, 'is_main_process', lambda: False)
    runner, metrics = run_test(tmp_path / 'rank1', MainProcessLoggerHook)
    assert metrics['count'] == 4  # the rank still tested and logged
    assert metric_files(tmp_path / 'rank1') == []
    with open(osp.join(runner.log_dir, f'{runner.timestamp}.log')) as f:
        assert 'total:' in f.read()


@pytest.mark.parametrize('main', [True, False])
def test_only_the_main_process_copies_logs_to_out_dir(tmp_path, monkeypatch,
                                                      main):
    monkeypatch.setattr(hook_module, 'is_main_process', lambda: main)
    out_dir = tmp_path / 'out'
    run_test(tmp_path / 'work', MainProcessLoggerHook, out_dir=str(out_dir))
    copied = sorted(
        osp.splitext(name)[1] for _, _, names in os.walk(out_dir)
        for name in names)
    assert copied == (['.json', '.log'] if main else [])


def test_a_value_without_json_form_is_named(tmp_path, monkeypatch):
    monkeypatch.setattr(SumMetric, 'compute_metrics',
                        lambda self, results: dict(total=1.0, phase=1j))
    runner, _ = run_test(tmp_path / 'work', MainProcessLoggerHook)
    with open(metric_files(tmp_path / 'work')[0]) as f:
        written = json.load(f)
    assert written['total'] == 1.0 and written['phase'] is None
    with open(osp.join(runner.log_dir, f'{runner.timestamp}.log')) as f:
        assert "'phase' have no JSON form" in f.read()
