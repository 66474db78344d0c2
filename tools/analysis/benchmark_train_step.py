"""Benchmark YOWO training steps in both memory layouts of the 3D branch.

Usage::

    python tools/analysis/benchmark_train_step.py CONFIG [CONFIG ...] \
        [--batch-size 8] [--clip-len 8] [--shape 128 128] [--threads N] \
        [--device cpu|cuda] [--repeats 5] [--warmup 2] [--rounds 3] \
        [--out TABLE.md] [--cfg-options ...]

The defaults are the synthetic recipe's batches (8 clips of 8 frames at
128 x 128). A config may hold only ``model``; the model gets its initial
weights (speed does not depend on them).

Per config and layout, the 3D branch's clips as given (``nchw``:
``YOWO(train_channels_last_3d=False)``) or in ``torch.channels_last_3d``
(``channels-last-3d``: ``train_channels_last_3d=True``), whatever the
config sets, the median wall time of

* ``step``: one training step on random, already normalised clips: the
  whole network in train mode to its raw head maps (``mode='tensor'``), a
  scalar of them backward, and an AdamW step. The assigner and the losses
  are left out: they are the same in both layouts;
* ``3D``: the 3D branch alone, forward and backward;

then, per config, each layout's time against ``nchw``'s. ``--rounds R``
measures all rows ``R`` times in turn and reports the medians over the
rounds, so that a machine whose speed drifts biases the layouts alike.
"""
import argparse
import importlib.util
import os.path as osp
import platform
import statistics
from typing import Any, Callable, Dict, List

import torch
from mmengine.config import DictAction

from mmyowo.utils.atomic_io import atomic_write_text

BENCHMARK = osp.join(osp.dirname(osp.abspath(__file__)), 'benchmark.py')
#: Row name -> ``YOWO.train_channels_last_3d``.
LAYOUTS = {'nchw': False, 'channels-last-3d': True}
TIMINGS = ('step', 't3d')


def load_benchmark():
    """Import tools/analysis/benchmark.py (``tools`` is no package) for its
    model building and timing."""
    spec = importlib.util.spec_from_file_location('mmyowo_benchmark',
                                                  BENCHMARK)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('configs', nargs='+', metavar='CONFIG')
    parser.add_argument('--batch-size', type=int, default=8)
    parser.add_argument('--clip-len', type=int, default=8)
    parser.add_argument(
        '--shape', type=int, nargs=2, default=[128, 128], metavar=('H', 'W'))
    parser.add_argument(
        '--threads', type=int, help="CPU threads (default: torch's)")
    parser.add_argument('--device', default='cpu')
    parser.add_argument('--repeats', type=int, default=5)
    parser.add_argument('--warmup', type=int, default=2)
    parser.add_argument('--rounds', type=int, default=3)
    parser.add_argument('--out', help='also write the report to this file')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)
    args = parser.parse_args(argv)
    if args.repeats < 1 or args.warmup < 0 or args.rounds < 1:
        parser.error('--repeats and --rounds must be >= 1 and --warmup >= 0')
    if min(args.batch_size, args.clip_len, *args.shape) < 1:
        parser.error('--batch-size, --clip-len and --shape must be >= 1')
    if args.threads is not None and args.threads < 1:
        parser.error('--threads must be >= 1')
    return args


def step_fns(model: torch.nn.Module,
             clips: torch.Tensor) -> Dict[str, Callable[[], None]]:
    """The timed calls of one row: a training step and the 3D branch."""
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)

    def step() -> None:
        optimizer.zero_grad(set_to_none=True)
        maps = model(clips, mode='tensor')
        sum(m.float().mean() for m in maps).backward()
        optimizer.step()

    def t3d() -> None:
        model.zero_grad(set_to_none=True)
        model.extract_feat_3d(clips).float().mean().backward()

    return {'step': step, 't3d': t3d}


def measure_rows(args: argparse.Namespace) -> List[Dict[str, Any]]:
    """All rows, measured ``args.rounds`` times in turn (medians)."""
    bench = load_benchmark()
    device = torch.device(args.device)
    clips = torch.randn(
        args.batch_size,
        3,
        args.clip_len,
        *args.shape,
        generator=torch.Generator().manual_seed(0)).to(device)
    rows = []
    for config in args.configs:
        for layout, flag in LAYOUTS.items():
            options = dict(args.cfg_options or {})
            options['model.train_channels_last_3d'] = flag
            model = bench.build_model(config, None, options).to(device)
            if model.backbone_3d is None:
                raise ValueError(f'{config}: the model has no 3D branch, so '
                                 'no layout to compare')
            model.train()
            rows.append(
                dict(
                    model=osp.splitext(osp.basename(config))[0],
                    layout=layout,
                    fns=step_fns(model, clips),
                    rounds=[]))
    for _ in range(args.rounds):
        for row in rows:
            row['rounds'].append({
                name:
                bench.time_call(fn, args.warmup, args.repeats, device)
                for name, fn in row['fns'].items()
            })
    for row in rows:
        del row['fns']
        rounds = row.pop('rounds')
        for name in TIMINGS:
            row[name] = statistics.median(r[name] for r in rounds)
    return rows


def format_report(rows: List[Dict[str, Any]], args: argparse.Namespace,
                  threads: int) -> str:
    """Markdown table with each layout's speed-up over ``nchw``, measured with
    ``threads`` CPU threads."""
    base = {r['model']: r for r in rows if r['layout'] == 'nchw'}
    lines = [
        f'Training step, batch {args.batch_size} x 3 x {args.clip_len} x '
        f'{args.shape[0]} x {args.shape[1]}, {args.device}, '
        f'{threads} threads, median of {args.repeats} '
        f'after {args.warmup} warm-up, then the median over {args.rounds} '
        f'interleaved rounds; torch {torch.__version__}, '
        f'{platform.processor() or platform.machine()}', '',
        '| model | 3D layout | step (ms) | 3D fwd+bwd (ms) | step speed-up '
        '| 3D speed-up |', '|---|---|---|---|---|---|'
    ]
    for r in rows:
        ref = base[r['model']]
        lines.append(f"| {r['model']} | {r['layout']} | "
                     f"{r['step'] * 1e3:.1f} | {r['t3d'] * 1e3:.1f} | "
                     f"{ref['step'] / r['step']:.2f} | "
                     f"{ref['t3d'] / r['t3d']:.2f} |")
    return '\n'.join(lines)


def main(argv=None) -> str:
    args = parse_args(argv)
    # A caller's thread count is its own (tests call main in-process).
    caller_threads = torch.get_num_threads()
    threads = args.threads or caller_threads
    torch.set_num_threads(threads)
    try:
        rows = measure_rows(args)
    finally:
        torch.set_num_threads(caller_threads)
    report = format_report(rows, args, threads)
    print(report)
    if args.out:
        atomic_write_text(report + '\n', args.out)
    return report


if __name__ == '__main__':
    main()
