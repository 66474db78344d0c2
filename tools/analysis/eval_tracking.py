"""Evaluate online tracking on saved detections: identity metrics and the
video-mAP of online tubes next to the offline linking of ``mim test``.

Usage::

    python tools/analysis/eval_tracking.py RESULTS.npz \
        [--ann-file GT.pkl] [--tracks-file TRACKS.json] [--score-thr 0.4] \
        [--iou-thr 0.5] [--smooth ema|window|none] [--smooth-alpha 0.5] \
        [--smooth-window 5] [--tracker-cfg FILE] [--protocols yowo st] \
        [--edge-frames 3] [--out METRICS.json]

``RESULTS.npz`` is written by ``mim test`` (``test_evaluator.results_file``;
``tools/run_main.sh`` writes ``work_dirs/<name>/test/results.npz``). The
tracks file defaults to ``synthetic_tracks.json`` next to the ground truth
when it exists (the synthetic generator writes it). See
mmyowo/tracking/evaluation.py for the protocol. Needs mmdet's trackers (full
mmcv with its compiled ops, ``lap``) and ``motmetrics``.
"""
import argparse
import json
import os.path as osp
import sys
from typing import List, Optional

from mmengine.config import Config

from mmyowo.datasets.annotations import load_annotations
from mmyowo.engine.atomic_io import atomic_write_text
from mmyowo.evaluation.functional import load_detection_results
from mmyowo.tracking.evaluation import evaluate_tracking, load_track_ids


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('results', help='.npz results file of mim test')
    parser.add_argument(
        '--ann-file',
        help='ground truth (default: the ann_file saved in the results)')
    parser.add_argument(
        '--tracks-file',
        help='actors\' track ids (default: synthetic_tracks.json next to '
        'the ground truth, if any; else one identity per tube)')
    parser.add_argument(
        '--score-thr',
        type=float,
        default=0.4,
        help='smoothed score of a labelled person (hypotheses, events)')
    parser.add_argument('--iou-thr', type=float, default=0.5)
    parser.add_argument(
        '--smooth', choices=('ema', 'window', 'none'), default='ema')
    parser.add_argument('--smooth-alpha', type=float, default=0.5)
    parser.add_argument('--smooth-window', type=int, default=5)
    parser.add_argument(
        '--tracker-cfg', help='config file with a "tracker" dict')
    parser.add_argument('--fps', type=float, default=25.0)
    parser.add_argument(
        '--protocols',
        nargs='+',
        choices=('yowo', 'st'),
        default=['yowo', 'st'],
        help='video-mAP protocols of the online vs offline comparison '
        '(those of mim test: yowo = the paper\'s, whole-video offline tubes; '
        'st = temporally trimmed offline tubes, ACT\'s matching)')
    parser.add_argument(
        '--edge-frames',
        type=int,
        default=3,
        help='frames at each end of an action counted as its boundary in '
        'the split labelled recall')
    parser.add_argument('--out', help='write the metrics as JSON here')
    args = parser.parse_args(argv)
    if not 0.0 <= args.score_thr <= 1.0:
        parser.error(f'--score-thr must be in [0, 1], got {args.score_thr}')
    if not 0.0 < args.iou_thr <= 1.0:
        parser.error(f'--iou-thr must be in (0, 1], got {args.iou_thr}')
    if args.edge_frames < 1:
        parser.error(f'--edge-frames must be >= 1, got {args.edge_frames}')
    return args


def main(argv: Optional[List[str]] = None) -> dict:
    """Run the evaluation; print and return the metrics."""
    args = parse_args(argv)
    results = load_detection_results(args.results)
    ann_file = args.ann_file or results['ann_file']
    gt = load_annotations(ann_file)
    tracks_file = args.tracks_file
    default_tracks = osp.join(osp.dirname(ann_file), 'synthetic_tracks.json')
    if tracks_file is None and osp.isfile(default_tracks):
        tracks_file = default_tracks
    tracks = load_track_ids(tracks_file, gt) if tracks_file else None
    tracker = None
    if args.tracker_cfg:
        tracker = Config.fromfile(args.tracker_cfg).get('tracker')
        if not isinstance(tracker, dict):
            sys.exit(f'{args.tracker_cfg}: no "tracker = dict(...)"')
        tracker = dict(tracker)
    metrics = evaluate_tracking(
        results,
        gt,
        tracks,
        score_thr=args.score_thr,
        iou_thr=args.iou_thr,
        fps=args.fps,
        protocols=args.protocols,
        edge_frames=args.edge_frames,
        tracker=tracker,
        smoothing=dict(
            method=args.smooth,
            alpha=args.smooth_alpha,
            window=args.smooth_window))
    metrics['identities'] = ('track ids of ' + tracks_file
                             if tracks_file else 'one per ground-truth tube')
    width = max(len(k) for k in metrics)
    for key, value in metrics.items():
        text = f'{value:.4f}' if isinstance(value, float) else str(value)
        print(f'{key:<{width}}  {text}')
    if args.out:
        atomic_write_text(json.dumps(metrics, indent=1), args.out)
    return metrics


if __name__ == '__main__':
    main()
