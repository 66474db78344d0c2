"""Frame-mAP per key-frame position 0..L-1 of the streaming windows.

Usage::

    python tools/analysis/frame_map_by_position.py NAME=RESULTS.npz \
        [NAME=RESULTS.npz ...] (--config CONFIG | --clip-len L \
        [--frame-interval P]) [--ann-file GT.pkl] [--iou-thr 0.5] \
        [--protocol annotated] [--out TABLE.json]

Each ``RESULTS.npz`` is written by ``FrameMAPMetric(results_file=...)``
during ``mim test`` on every frame of the test videos, in per-frame mode
(the stock ``TestLoop``) or in streaming mode (``test_cfg.type=
WindowTestLoop``). Frame ``f`` sits at position ``((f - 1) mod Lp) // p``
of its streaming window; the tool scores each position's frames apart
(:func:`~mmyowo.evaluation.functional.frame_map_by_position`) and prints
one Markdown row per position, one column per results file, frame-mAP in
percent ("evaluated frames": the position's frames that the protocol
scores, e.g. its annotated frames under ``'annotated'``). For streaming
results a row is the accuracy of the key frames at that position; for
per-frame results (key frame always last) it is the accuracy on the same
frames with the key frame last, the control.

``L`` and ``p`` come from ``--clip-len`` / ``--frame-interval`` or from the
``KFRSampleFrames`` of the test pipeline of ``--config``.
"""
import argparse
import json
import os.path as osp
from typing import Any, Dict, List, Optional, Tuple

from mmengine.config import Config

from mmyowo.datasets.annotations import load_annotations
from mmyowo.engine.atomic_io import atomic_write_text
from mmyowo.evaluation.functional import (PROTOCOLS, frame_map_by_position,
                                          load_detection_results)


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    """Command line (see the module docstring)."""
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument(
        'results',
        nargs='+',
        help='NAME=RESULTS.npz (or RESULTS.npz, named by its file name)')
    parser.add_argument(
        '--config',
        help='config whose test pipeline KFRSampleFrames gives L and p')
    parser.add_argument('--clip-len', type=int, help='window length L')
    parser.add_argument(
        '--frame-interval', type=int, default=None, help='sampling step p')
    parser.add_argument(
        '--ann-file',
        help='ground truth (default: the ann_file saved in the results)')
    parser.add_argument('--protocol', default='annotated', choices=PROTOCOLS)
    parser.add_argument('--iou-thr', type=float, default=0.5)
    # Defaults: the YOWO family's frame-mAP, as FrameMAPMetric's.
    parser.add_argument(
        '--pixel-plus-one',
        action=argparse.BooleanOptionalAction,
        default=True)
    parser.add_argument(
        '--round-boxes', action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument('--out', help='also write the table as JSON here')
    return parser.parse_args(argv)


def window_settings(args: argparse.Namespace) -> Tuple[int, int]:
    """``(L, p)`` from the arguments or the config's test pipeline."""
    if args.clip_len is not None:
        return args.clip_len, args.frame_interval or 1
    if args.config is None:
        raise SystemExit('give --clip-len (and --frame-interval) or --config')
    cfg = Config.fromfile(args.config)
    samplers = [
        t for t in cfg.test_dataloader.dataset.pipeline
        if t.get('type') == 'KFRSampleFrames'
    ]
    if len(samplers) != 1:
        raise SystemExit(f'{args.config}: the test pipeline has '
                         f'{len(samplers)} KFRSampleFrames; give --clip-len')
    sampler = samplers[0]
    interval = args.frame_interval or sampler.get('frame_interval', 1)
    return int(sampler['clip_len']), int(interval)


def named_results(specs: List[str]) -> List[Tuple[str, str]]:
    """``NAME=PATH`` (or ``PATH``) arguments as ``(name, path)``."""
    named = []
    for spec in specs:
        name, sep, path = spec.partition('=')
        if not sep:
            name, path = osp.splitext(osp.basename(spec))[0], spec
        named.append((name, path))
    return named


def evaluate(args: argparse.Namespace) -> Dict[str, Any]:
    """Per results file, the frame-mAP of every position and of all frames."""
    clip_len, interval = window_settings(args)
    table: Dict[str, Any] = dict(
        clip_len=clip_len,
        frame_interval=interval,
        protocol=args.protocol,
        iou_thr=args.iou_thr,
        columns={})
    gts: Dict[str, Dict] = {}
    for name, path in named_results(args.results):
        results = load_detection_results(path)
        ann_file = args.ann_file or results['ann_file']
        if ann_file not in gts:
            gts[ann_file] = load_annotations(ann_file)
        gt = gts[ann_file]
        if list(gt['labels']) != results['class_names']:
            raise SystemExit(f'{path}: its class names differ from the '
                             f'labels of {ann_file}')
        scores = frame_map_by_position(
            results['detections'],
            gt,
            results['videos'],
            clip_len,
            interval,
            iou_thr=args.iou_thr,
            protocol=args.protocol,
            pixel_plus_one=args.pixel_plus_one,
            round_boxes=args.round_boxes)
        table['columns'][name] = dict(
            results=path,
            all=float(scores['all']['mAP']),
            positions=[float(p['mAP']) for p in scores['positions']],
            frames=[int(p['num_frames']) for p in scores['positions']])
    return table


def format_table(table: Dict[str, Any]) -> str:
    """The table as Markdown, frame-mAP in percent."""
    names = list(table['columns'])
    first = table['columns'][names[0]]
    lines = [
        '| key-frame position | evaluated frames | ' + ' | '.join(names) +
        ' |', '|---|---|' + '---|' * len(names)
    ]
    for j in range(table['clip_len']):
        cells = ' | '.join(f'{100 * table["columns"][n]["positions"][j]:.1f}'
                           for n in names)
        lines.append(f'| {j} | {first["frames"][j]} | {cells} |')
    cells = ' | '.join(f'{100 * table["columns"][n]["all"]:.1f}'
                       for n in names)
    lines.append(f'| all | {sum(first["frames"])} | {cells} |')
    return '\n'.join(lines)


def main(argv: Optional[List[str]] = None) -> None:
    """Print the table (and write it as JSON with ``--out``)."""
    args = parse_args(argv)
    table = evaluate(args)
    print(f'frame-mAP@{args.iou_thr} ({args.protocol} protocol) per '
          f'streaming-window position, L={table["clip_len"]}, '
          f'p={table["frame_interval"]}')
    print(format_table(table))
    if args.out:
        atomic_write_text(json.dumps(table, indent=2) + '\n', args.out)
        print(f'written: {args.out}')


if __name__ == '__main__':
    main()
