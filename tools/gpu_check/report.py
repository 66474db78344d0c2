"""Summarise a run of tools/gpu_check.sh into one markdown report.

Usage::

    python tools/gpu_check/report.py OUT_DIR     # writes OUT_DIR/report.md

Reads what the script left in ``OUT_DIR``: ``env.txt``, per training
``train_{model}_{amp}/`` (mmengine's ``vis_data/scalars.json``: loss,
seconds per iteration, peak GPU memory) with its wall time in
``train_{model}_{amp}.seconds``, per model ``test_{model}.log`` (the metrics
line of ``mim test``) and ``bench_{model}.md`` (tools/analysis/benchmark.py's
tables), and prints the report too.
"""
import argparse
import glob
import os.path as osp
import re
import statistics
from typing import Dict, List, Optional

from mmyowo.utils.atomic_io import atomic_write_text, parse_json

#: mmengine's test summary line, e.g. ``Iter(test) [20/20]  mAP/frame@0.5:
#: 0.0123  ...``.
METRICS_LINE = re.compile(r'Iter\(test\).*?\]\s+(.*)$')


def read_seconds(path: str) -> Optional[int]:
    """The integer a ``*.seconds`` file holds, or ``None`` if absent.

    Raises:
        ValueError: Naming the file, when it holds anything else.
    """
    if not osp.isfile(path):
        return None
    with open(path, errors='replace') as f:
        text = f.read().strip()
    try:
        return int(text)
    except ValueError as err:
        raise ValueError(f'{path}: not a whole number of seconds: '
                         f'{text!r:.40}') from err


def training_row(work_dir: str) -> Optional[Dict[str, object]]:
    """Iterations, final loss, median s/iter (second half) and peak memory of
    one training, from its ``scalars.json``; ``None`` when it logged no
    iteration (fewer iterations than the logger's interval).

    Raises:
        ValueError: Naming the file and line, for a line that is no JSON
            object, or a file without training iterations.
    """
    files = sorted(
        glob.glob(osp.join(work_dir, '*', 'vis_data', 'scalars.json')))
    if not files:
        return None
    records = []
    with open(files[-1], 'rb') as f:
        for number, line in enumerate(f, 1):
            line = line.strip()
            if not line:
                continue
            where = f'{files[-1]}:{number}'
            record = parse_json(line, where, ValueError)
            if not isinstance(record, dict):
                raise ValueError(f'{where}: not a JSON object')
            records.append(record)
    train = [r for r in records if 'loss' in r and 'iter' in r]
    if not train:
        raise ValueError(f'{files[-1]}: no training iterations logged')
    times = [r['time'] for r in train if 'time' in r]
    late = times[len(times) // 2:] or times
    return dict(
        iters=train[-1]['iter'],
        loss=train[-1]['loss'],
        s_per_iter=statistics.median(late) if late else float('nan'),
        memory=max((r.get('memory', 0) for r in train), default=0))


def test_metrics(log_path: str) -> str:
    """The metrics of ``mim test``'s summary line, or a note."""
    if not osp.isfile(log_path):
        return '(no test log)'
    found = ''
    with open(log_path, errors='replace') as f:
        for line in f:
            match = METRICS_LINE.search(line)
            if match:
                found = match.group(1).strip()
    return found or '(no metrics line in the log)'


def build_report(out_dir: str) -> str:
    """The markdown report of ``out_dir``."""
    lines: List[str] = ['# mmyowo GPU check', '']
    env = osp.join(out_dir, 'env.txt')
    if osp.isfile(env):
        with open(env) as f:
            lines += [f'- {line.strip()}' for line in f if line.strip()]
    total = read_seconds(osp.join(out_dir, 'total.seconds'))
    if total is not None:
        lines.append(f'- whole check: {total} s')
    lines += [
        '', '## Training (mim train, AMP)', '',
        '| run | iterations | wall (s) | s/iter (median, 2nd half) | '
        'final loss | peak memory (MB) |', '|---|---|---|---|---|---|'
    ]
    for work in sorted(glob.glob(osp.join(out_dir, 'train_*'))):
        if not osp.isdir(work):
            continue
        row = training_row(work)
        wall = read_seconds(work + '.seconds')
        if row is None:
            lines.append(f"| {osp.basename(work)[len('train_'):]} | - | "
                         f"{wall} | no iteration logged | - | - |")
            continue
        lines.append(f"| {osp.basename(work)[len('train_'):]} | "
                     f"{row['iters']} | {wall if wall is not None else '-'} "
                     f"| {row['s_per_iter']:.3f} | {row['loss']:.4f} | "
                     f"{row['memory']} |")
    lines += ['', '## Testing (mim test, last training of each model)', '']
    for log in sorted(glob.glob(osp.join(out_dir, 'test_*.log'))):
        name = osp.basename(log)[len('test_'):-len('.log')]
        wall = read_seconds(log[:-len('.log')] + '.seconds')
        lines.append(f'- {name} ({wall} s): {test_metrics(log)}')
    for bench in sorted(glob.glob(osp.join(out_dir, 'bench_*.md'))):
        name = osp.basename(bench)[len('bench_'):-len('.md')]
        lines += ['', f'## Inference benchmark: {name}', '']
        with open(bench) as f:
            lines.append(f.read().rstrip())
    return '\n'.join(lines) + '\n'


def main(argv: Optional[List[str]] = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('out_dir')
    args = parser.parse_args(argv)
    report = build_report(args.out_dir)
    atomic_write_text(report, osp.join(args.out_dir, 'report.md'))
    print(report)


if __name__ == '__main__':
    main()
