"""tools/analysis/benchmark_train_step.py: one interleaved run of both layouts
on the synthetic model, and a model without 3D branch refused."""
import importlib.util
import os.path as osp

import pytest
import torch

from tests._paths import REPO

TOOL = osp.join(REPO, 'tools', 'analysis', 'benchmark_train_step.py')
SYNTHETIC = osp.join(REPO, 'configs', 'yowo_plus_synthetic.py')
SYNTHETIC_2D = osp.join(REPO, 'configs', 'yowo_plus_synthetic_2d.py')
TINY = [
    '--batch-size', '2', '--clip-len', '4', '--shape', '64', '64', '--repeats',
    '1', '--warmup', '0', '--rounds', '2', '--threads', '1'
]


@pytest.fixture(scope='module')
def tool():
    spec = importlib.util.spec_from_file_location('mmyowo_bench_train', TOOL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_both_layouts_side_by_side(tool, tmp_path, monkeypatch):
    # Each timed call is counted per layout, and the 3D branch is checked to
    # get the layout its row names.
    calls = {'step': [], 't3d': []}
    real = tool.step_fns

    def counting(model, clips):
        fns = real(model, clips)
        layout = model.train_channels_last_3d
        return {
            name: (lambda name=name, fn=fn:
                   (calls[name].append(layout), fn())[1])
            for name, fn in fns.items()
        }

    monkeypatch.setattr(tool, 'step_fns', counting)
    out = tmp_path / 'train_step.md'
    # The tool runs with its own thread count and gives the caller's back.
    caller = torch.get_num_threads()
    other = 1 if caller > 1 else 2
    report = tool.main(
        [SYNTHETIC, *TINY, '--threads',
         str(other), '--out',
         str(out)])
    assert torch.get_num_threads() == caller
    assert out.read_text() == report + '\n'
    assert report.startswith('Training step, batch 2 x 3 x 4 x 64 x 64, '
                             f'cpu, {other} threads, median of 1 after 0 '
                             'warm-up, '
                             'then the median over 2 interleaved rounds')
    rows = [
        line for line in report.splitlines()
        if line.startswith('| yowo_plus_synthetic')
    ]
    cells = [[c.strip() for c in row.split('|')[1:-1]] for row in rows]
    assert [c[:2]
            for c in cells] == [['yowo_plus_synthetic', 'nchw'],
                                ['yowo_plus_synthetic', 'channels-last-3d']]
    # nchw is the reference of its own speed-ups.
    assert cells[0][4:] == ['1.00', '1.00']
    step, t3d = float(cells[1][2]), float(cells[1][3])
    assert float(cells[1][4]) == pytest.approx(
        float(cells[0][2]) / step, abs=0.02)
    assert float(cells[1][5]) == pytest.approx(
        float(cells[0][3]) / t3d, abs=0.02)
    # Two rounds of both rows, interleaved: nchw, channels-last, nchw, ...
    assert calls['step'] == calls['t3d'] == [False, True, False, True]


def test_model_without_3d_branch_is_refused(tool):
    with pytest.raises(
            ValueError,
            match='yowo_plus_synthetic_2d.py: the '
            'model has no 3D branch'):
        tool.main([SYNTHETIC_2D, *TINY])


@pytest.mark.parametrize('args,message', [
    (['--rounds', '0'], '--repeats and --rounds must be >= 1'),
    (['--clip-len', '0'], '--batch-size, --clip-len and --shape'),
    (['--threads', '0'], '--threads must be >= 1'),
])
def test_bad_arguments(tool, capsys, args, message):
    with pytest.raises(SystemExit):
        tool.parse_args([SYNTHETIC, *args])
    assert message in capsys.readouterr().err
