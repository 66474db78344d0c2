"""Time frame-mAP and video-mAP on a synthetic UCF101-24-sized test set.

Usage::

    python tools/analysis/benchmark_frame_map.py [--num-videos 910] \
        [--extra-boxes 1] [--classes-per-box 3] [--skip-video] [--seed 0]

The synthetic set mimics UCF101-24's test split: 910 videos of 80-300
frames, 24 classes, mostly one actor tube per video over ~80% of its
frames (about 170k frames, 140k of them annotated, 165k ground-truth
boxes). Every frame gets a jittered box per
actor plus ``--extra-boxes`` random boxes, each with rows for
``--classes-per-box`` classes (about a million detection rows with the
defaults). Prints wall-clock times; asserts nothing.
"""
import argparse
import time
from typing import Any, Callable, Dict, List, Tuple

import numpy as np

from mmyowo.evaluation.functional import (detection_confusion_matrix,
                                          frame_map, link_tubes, video_ap)

NUM_CLASSES = 24
HEIGHT, WIDTH = 240, 320


def synthesize(num_videos: int, extra_boxes: int, classes_per_box: int,
               seed: int) -> Tuple[Dict[str, Any], List[str], np.ndarray]:
    """Make ground truth and detection rows (module docstring)."""
    rng = np.random.default_rng(seed)
    videos = [f'class{i % NUM_CLASSES}/v_{i:04d}' for i in range(num_videos)]
    gt: Dict[str, Any] = dict(
        labels=[f'class{c}' for c in range(NUM_CLASSES)],
        gttubes={},
        nframes={},
        resolution={},
        train_videos=[[]],
        test_videos=[videos])
    rows = []
    for index, video in enumerate(videos):
        nframes = int(rng.integers(80, 301))
        gt['nframes'][video] = nframes
        gt['resolution'][video] = (HEIGHT, WIDTH)
        label = index % NUM_CLASSES
        tubes = []
        for _ in range(1 + int(rng.random() < 0.2)):
            length = int(nframes * rng.uniform(0.6, 1.0))
            start = int(rng.integers(1, nframes - length + 2))
            frames = np.arange(start, start + length)
            x = rng.uniform(0, WIDTH - 80) + np.cumsum(
                rng.normal(0, 0.5, length)).clip(-40, 40)
            y = np.full(length, rng.uniform(0, HEIGHT - 120))
            box = np.column_stack(
                (x, y, x + 60, y + 100)).clip(0,
                                              [WIDTH, HEIGHT, WIDTH, HEIGHT])
            tubes.append(np.column_stack((frames, box)).astype(np.float32))
        gt['gttubes'][video] = {label: tubes}
        # One jittered box per actor and frame, plus random boxes.
        actor = np.concatenate(tubes).astype(np.float64)
        actor[:, 1:] += rng.normal(0, 6, (len(actor), 4))
        frames = np.arange(1, nframes + 1).repeat(extra_boxes)
        xy = rng.uniform(0, [WIDTH - 60, HEIGHT - 100], (len(frames), 2))
        noise = np.column_stack((frames, xy, xy + [60, 100]))
        boxes = np.concatenate((actor, noise))
        labels = rng.integers(0, NUM_CLASSES, (len(boxes), classes_per_box))
        is_actor = np.arange(len(boxes)) < len(actor)
        labels[is_actor & (rng.random(len(boxes)) < 0.8), 0] = label
        scores = rng.random((len(boxes), classes_per_box)) * np.where(
            is_actor, 1.0, 0.5)[:, None]
        scores[is_actor, 0] = 0.4 + 0.6 * scores[is_actor, 0]
        for k in range(classes_per_box):
            rows.append(
                np.column_stack((np.full(len(boxes), index), boxes[:, 0],
                                 labels[:, k], scores[:, k], boxes[:, 1:])))
    detections = np.concatenate(rows)
    detections[:, 4:] = np.sort(
        detections[:, 4:].reshape(-1, 2, 2), axis=1).reshape(-1, 4).clip(0)
    return gt, videos, detections


def timed(fn: Callable[[], Any]) -> Tuple[Any, float]:
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--num-videos', type=int, default=910)
    parser.add_argument('--extra-boxes', type=int, default=1)
    parser.add_argument('--classes-per-box', type=int, default=3)
    parser.add_argument(
        '--skip-video', action='store_true', help='time frame-mAP only')
    parser.add_argument('--seed', type=int, default=0)
    args = parser.parse_args()

    (gt, videos, dets), t_syn = timed(lambda: synthesize(
        args.num_videos, args.extra_boxes, args.classes_per_box, args.seed))
    num_gt = sum(
        len(t) for tubes in gt['gttubes'].values() for ts in tubes.values()
        for t in ts)
    print(f'{len(videos)} videos, {sum(gt["nframes"].values())} frames, '
          f'{num_gt} GT boxes, {len(dets)} detection rows '
          f'(synthesised in {t_syn:.1f}s)\n')
    table = []
    for protocol in ('annotated', 'all'):
        result, seconds = timed(
            lambda: frame_map(dets, gt, videos, 0.5, protocol))
        table.append((f'frame_map ({protocol})', seconds,
                      f'mAP {100 * result["mAP"]:.2f}, '
                      f'{result["num_frames"]} frames'))
    matrix, seconds = timed(
        lambda: detection_confusion_matrix(dets, gt, videos))
    table.append(('detection_confusion_matrix', seconds,
                  f'{int(matrix[:, -1].sum())} missed boxes'))
    if not args.skip_video:
        nframes = np.array([gt['nframes'][v] for v in videos])
        tubes, seconds = timed(
            lambda: link_tubes(dets, videos, NUM_CLASSES, nframes))
        table.append(('link_tubes', seconds,
                      f'{sum(len(t) for t in tubes.values())} tubes'))
        results, seconds = timed(lambda: video_ap(tubes, gt, videos))
        table.append(('video_ap (0.2, 0.5, 0.75)', seconds,
                      ', '.join(f'@{thr}: {100 * r["mAP"]:.2f}'
                                for thr, r in results.items())))
    width = max(len(name) for name, _, _ in table)
    print(f'{"step".ljust(width)}  {"seconds":>8}  result')
    for name, seconds, note in table:
        print(f'{name.ljust(width)}  {seconds:8.2f}  {note}')


if __name__ == '__main__':
    main()
