"""tools/analysis/benchmark.py: the bound and the target ratios against hand
computations, and one side-by-side run of every backend on a small model."""
import importlib.util
import os.path as osp

import pytest
import torch

from tests._paths import REPO

BENCHMARK = osp.join(REPO, 'tools', 'analysis', 'benchmark.py')
SYNTHETIC = osp.join(REPO, 'configs', 'yowo_plus_synthetic.py')
SYNTHETIC_2D = osp.join(REPO, 'configs', 'yowo_plus_synthetic_2d.py')


@pytest.fixture(scope='module')
def bench():
    spec = importlib.util.spec_from_file_location('mmyowo_benchmark',
                                                  BENCHMARK)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_streaming_bound(bench):
    # 3D 80 ms per clip, 15 + 5 ms per frame, L = 8: 100 ms per frame
    # per-frame against 10 + 20 = 30 ms streaming.
    assert bench.streaming_bound(0.08, 0.015, 0.005, 8) == \
        pytest.approx(100 / 30)
    assert bench.streaming_bound(0.0, 0.01, 0.0, 16) == 1.0


def test_combine_rounds(bench):
    # Three rounds of one row: the median of each timing, the ratios from
    # those medians (not the median of the rounds' ratios).
    rounds = [
        dict(zip(bench.TIMINGS, timings)) for timings in (
            # t3d, tkf, tpost, per_frame, per_frame_latency, streaming,
            # streaming_window
            (0.08, 0.015, 0.005, 0.10, 0.10, 0.030, 0.24),
            (0.16, 0.030, 0.010, 0.30, 0.30, 0.050, 0.40),
            (0.12, 0.020, 0.002, 0.20, 0.20, 0.025, 0.20))
    ]
    row = bench.combine_rounds(rounds, 8)
    assert row['t3d'] == pytest.approx(0.12)
    assert row['tkf'] == pytest.approx(0.020)
    assert row['tpost'] == pytest.approx(0.005)
    assert row['per_frame'] == pytest.approx(0.20)
    assert row['streaming'] == pytest.approx(0.030)
    assert row['streaming_window'] == pytest.approx(0.24)
    assert row['speedup'] == pytest.approx(0.20 / 0.030)
    # (120 + 20 + 5) / (15 + 20 + 5) ms.
    assert row['bound'] == pytest.approx(145 / 40)
    with pytest.raises(ValueError, match='no rounds'):
        bench.combine_rounds([], 8)


def row(model,
        backend,
        streaming,
        per_frame,
        speedup=2.0,
        bound=2.0,
        threads=1):
    return dict(
        model=model,
        backend=backend,
        dtype='fp32',
        threads=threads,
        clip_len=16,
        batch=1,
        streaming=streaming,
        per_frame=per_frame,
        speedup=speedup,
        bound=bound)


def test_target_ratios(bench):
    rows = [
        row('base', 'eager', 0.300, 0.900),
        row('base', 'onnxruntime', 0.200, 0.600, speedup=1.7),
        row('tiny', 'eager', 0.040, 0.080),
        row('tiny', 'onnxruntime', 0.035, 0.070, speedup=1.9),
    ]
    lines = bench.target_ratios(rows)
    text = '\n'.join(lines)
    # tiny / base streaming: 0.04 / 0.3 and 0.035 / 0.2.
    assert ('streaming cost tiny / base (eager fp32, 1 thread(s), L=16, '
            'batch 1): 0.133 (1/7.5; target <= 1/6: met)') in text
    assert ('streaming cost tiny / base (onnxruntime fp32, 1 thread(s), '
            'L=16, batch 1): 0.175 (1/5.7; target <= 1/6: NOT met)') in text
    # onnxruntime over eager: 0.9 / 0.6, 0.3 / 0.2, 0.08 / 0.07, 0.04 /
    # 0.035.
    assert (
        'onnxruntime / eager fp32 throughput, base per-frame '
        '(1 thread(s), L=16, batch 1): 1.50x (target >= 1.3x: met)') in text
    assert 'base streaming (1 thread(s), L=16, batch 1): 1.50x' in text
    assert ('tiny per-frame (1 thread(s), L=16, batch 1): 1.14x (target >= '
            '1.3x: NOT met)') in text
    # 1.7 / 2 = 85% and 1.9 / 2 = 95% of the bound.
    assert lines[-1] == ('- streaming speed-up >= 90% of its bound: 3 of 4 '
                         'rows (not: base onnxruntime fp32 1t 85%)')


def test_side_by_side_run(bench, tmp_path, capsys):
    out = tmp_path / 'bench.md'
    # The rows run with their own thread count; the caller's comes back.
    caller_threads = torch.get_num_threads()
    threads = '1' if caller_threads > 1 else '2'
    report = bench.main([
        SYNTHETIC, SYNTHETIC_2D, '--backends', 'eager', 'optimized',
        'onnxruntime', '--dtypes', 'fp32', 'bf16', '--threads', threads,
        '--clip-lens', '4', '--shape', '64', '64', '--repeats', '1',
        '--warmup', '0', '--rounds', '2', '--no-flops', '--out',
        str(out)
    ])
    assert torch.get_num_threads() == caller_threads
    assert out.read_text() == report + '\n'
    assert 'then the median over 2 interleaved rounds' in report
    # Interleaved: every row once in round 1, then every row in round 2.
    printed = [
        line for line in capsys.readouterr().out.splitlines()
        if line.startswith('round ')
    ]
    assert [line.split(' | ')[0] for line in printed] == \
        ['round 1/2'] * 6 + ['round 2/2'] * 6
    assert [line.split(' | ')[1:7] for line in printed[:6]] == \
        [line.split(' | ')[1:7] for line in printed[6:]]
    table = [
        line for line in report.splitlines()
        if line.startswith('| yowo_plus_synthetic')
    ]
    settings = [
        tuple(c.strip() for c in line.split('|')[1:7]) for line in table
    ]
    expected = [(model, backend, 'fp32', threads, '4', '1')
                for model in ('yowo_plus_synthetic', 'yowo_plus_synthetic_2d')
                for backend in ('eager', 'optimized', 'onnxruntime')]
    assert settings == expected
    # Each row's streaming time is the median (of two: the mean) of its
    # rounds' (printed to 0.1 ms).
    for index, line in enumerate(table):
        rounds = [float(r.split('|')[12]) for r in printed[index::6]]
        assert float(line.split('|')[12]) == pytest.approx(
            sum(rounds) / 2, abs=0.1)
    # The 2D-only model has no 3D pass, so no streaming gain to bound.
    assert all(line.split('|')[7].strip() == '0.0' for line in table[3:])
    assert 'streaming cost yowo_plus_synthetic_2d / yowo_plus_synthetic ' \
        '(eager fp32' in report
    assert 'onnxruntime / eager fp32 throughput, yowo_plus_synthetic ' \
        'streaming' in report
    assert "- skipped: optimized bf16: dtype 'bf16' is supported on CUDA " \
        'only' in report
