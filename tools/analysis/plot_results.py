"""Plot per-class AP, precision-recall curves and the confusion matrix.

Usage::

    python tools/analysis/plot_results.py RESULTS.npz --out-dir DIR \
        [--ann-file GT.pkl] [--protocol annotated] [--iou-thr 0.5] \
        [--conf-score-thr 0.5] [--conf-iou-thr 0.4] \
        [--no-pixel-plus-one] [--no-round-boxes]

``RESULTS.npz`` is written by ``FrameMAPMetric(results_file=...)`` during
``mim test``. Writes ``DIR/class_ap.png`` (paper Fig. 10-11),
``DIR/pr_curves.png`` and ``DIR/confusion_matrix.png`` (Fig. 12-13:
confidence 0.5, IoU 0.4, rows normalised, last column the missed boxes).
"""
import argparse
import os.path as osp
from typing import List, Optional

from mmyowo.datasets.annotations import load_annotations
from mmyowo.evaluation.functional import (PROTOCOLS,
                                          detection_confusion_matrix,
                                          frame_map, load_detection_results)
from mmyowo.visualization.result_plots import (plot_class_ap,
                                               plot_confusion_matrix,
                                               plot_pr_curves)


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('results', help='.npz results file')
    parser.add_argument('--out-dir', required=True, help='output folder')
    parser.add_argument(
        '--ann-file',
        help='ground truth (default: the ann_file saved in the results)')
    parser.add_argument('--protocol', default='annotated', choices=PROTOCOLS)
    parser.add_argument('--iou-thr', type=float, default=0.5)
    parser.add_argument('--conf-score-thr', type=float, default=0.5)
    parser.add_argument('--conf-iou-thr', type=float, default=0.4)
    # Defaults: the YOWO family's frame-mAP, as FrameMAPMetric's.
    parser.add_argument(
        '--pixel-plus-one',
        action=argparse.BooleanOptionalAction,
        default=True)
    parser.add_argument(
        '--round-boxes', action=argparse.BooleanOptionalAction, default=True)
    return parser.parse_args(argv)


def main(argv: Optional[List[str]] = None) -> None:
    args = parse_args(argv)
    results = load_detection_results(args.results)
    ann_file = args.ann_file or results['ann_file']
    gt = load_annotations(ann_file)
    if list(gt['labels']) != results['class_names']:
        raise ValueError(f'{args.results}: its class names differ from the '
                         f'labels of {ann_file}')
    detections, videos = results['detections'], results['videos']
    names = gt['labels']

    frame = frame_map(
        detections,
        gt,
        videos,
        args.iou_thr,
        args.protocol,
        args.pixel_plus_one,
        round_boxes=args.round_boxes)
    title = f'frame AP@{args.iou_thr} ({args.protocol} frames)'
    plot_class_ap(frame['ap'], names, osp.join(args.out_dir, 'class_ap.png'),
                  title)
    plot_pr_curves(frame['precision'], frame['recall'], frame['ap'], names,
                   osp.join(args.out_dir, 'pr_curves.png'))
    matrix = detection_confusion_matrix(detections, gt, videos,
                                        args.conf_score_thr, args.conf_iou_thr,
                                        args.pixel_plus_one)
    plot_confusion_matrix(
        matrix, names, osp.join(args.out_dir, 'confusion_matrix.png'),
        f'score >= {args.conf_score_thr}, IoU >= {args.conf_iou_thr}')
    print(f'frame-mAP@{args.iou_thr} ({args.protocol}): '
          f'{100 * frame["mAP"]:.2f}%; plots in {args.out_dir}')


if __name__ == '__main__':
    main()
