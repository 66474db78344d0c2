"""Detect actions in a video (or a camera) and write an annotated video.

Usage::

    python tools/demo.py CONFIG CHECKPOINT INPUT OUTPUT \
        [--mode per-frame|streaming] [--score-thr 0.4] [--device cpu] \
        [--camera] [--labels FILE] [--max-frames N] \
        [--clip-len L] [--frame-interval P] [--input-size H W] [--strict]

INPUT is a video file, or a camera index (with ``--camera`` or as a plain
digit string). OUTPUT is an mp4 (``mp4v``) with, per frame, every person
with a class score reaching ``--score-thr``: its box and, AVA style, a stack
of ``label score`` lines, one per class at or above the threshold, highest
first; and the measured processing speed (frames per second of the
detector, decoding included, drawing and writing excluded). Class names come
from the checkpoint's ``meta.dataset_meta.classes``, else from ``--labels``
(one name a line), else are the class indices. See mmyowo/apis/inference.py
for the two modes: ``per-frame`` (causal, any model) and ``streaming``
(KFRS-trained models, much faster, up to L frames of latency).

A video file that stops decoding before the frame count its container
announces (truncated or corrupt) is processed up to that point: the demo
warns (``VideoTruncatedWarning``, naming the file and the frame where
decoding stopped), says so in its final summary and exits 0, since the
annotated frames written are valid; with ``--strict`` it exits 1 instead,
after writing them. Inputs that announce no frame count (raw streams, such
as the ucf24-mini videos) cannot be checked, which the summary states.
"""
import argparse
import os
import os.path as osp
import sys
import time
from itertools import islice
from typing import List, Optional, Sequence

import cv2
import numpy as np
from mmengine.structures import InstanceData
from mmengine.utils import ProgressBar

from mmyowo.apis import (VideoReader, YOWOVideoDetector, init_detector,
                         person_actions)
from mmyowo.apis.inference import MODES
from mmyowo.apis.results import check_score_thr
from mmyowo.visualization.action_labels import draw_person_actions


def score_threshold(text: str) -> float:
    """A ``--score-thr``: a number in [0, 1] (NaN would draw nothing)."""
    try:
        return check_score_thr(float(text))
    except ValueError as err:
        raise argparse.ArgumentTypeError(f'{text!r}: {err}') from None


def same_file(a: str, b: str) -> bool:
    """Whether two paths name one file (links and relative paths resolved)."""
    if osp.exists(a) and osp.exists(b):
        return osp.samefile(a, b)
    return osp.realpath(a) == osp.realpath(b)


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('config', help='config file')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('input', help='video file, or camera index')
    parser.add_argument('output', help='output video (.mp4)')
    parser.add_argument('--mode', choices=MODES, default='per-frame')
    parser.add_argument(
        '--score-thr',
        type=score_threshold,
        default=0.4,
        help='draw boxes whose class score reaches this')
    parser.add_argument('--device', default='cpu')
    parser.add_argument(
        '--camera', action='store_true', help='INPUT is a camera index')
    parser.add_argument(
        '--labels',
        help='class names, one per line (used '
        'when the checkpoint has none)')
    parser.add_argument(
        '--max-frames', type=int, help='stop after this many frames')
    parser.add_argument(
        '--clip-len', type=int, help='override the clip length of the config')
    parser.add_argument(
        '--frame-interval',
        type=int,
        help='override the sampling step of the config')
    parser.add_argument(
        '--input-size',
        type=int,
        nargs=2,
        metavar=('H', 'W'),
        help='override the network input size')
    parser.add_argument(
        '--strict',
        action='store_true',
        help='exit 1 if the input video decodes fewer frames '
        'than its container announces (default: warn)')
    args = parser.parse_args(argv)
    if args.max_frames is not None and args.max_frames < 1:
        parser.error('--max-frames must be >= 1')
    if args.camera and not args.input.isdigit():
        parser.error(f'--camera needs a camera index, got {args.input!r}')
    if not args.camera and same_file(args.input, args.output):
        parser.error(f'OUTPUT {args.output!r} is the INPUT video: writing it '
                     'would destroy the input; choose another output path')
    return args


def class_names(dataset_meta: Optional[dict], labels_file: Optional[str],
                num_classes: int) -> List[str]:
    """Class names from the checkpoint, else a labels file, else indices."""
    names = (dataset_meta or {}).get('classes')
    source = 'the checkpoint\'s meta.dataset_meta.classes'
    if not names and labels_file:
        with open(labels_file, encoding='utf-8') as f:
            names = [line.strip() for line in f if line.strip()]
        source = labels_file
    if not names:
        return [str(i) for i in range(num_classes)]
    if len(names) != num_classes:
        raise ValueError(f'{source}: {len(names)} class names for a model '
                         f'with {num_classes} classes')
    return list(names)


def draw_detections(image: np.ndarray, pred: InstanceData,
                    names: Sequence[str], score_thr: float) -> np.ndarray:
    """Draw, in place on a BGR image, every person with a class scoring at
    least ``score_thr``: its box and a stack of ``label score`` lines, one
    per such class, highest first (the head's class scores are independent
    sigmoids: several actions can hold at once)."""
    return draw_person_actions(image, person_actions(pred, score_thr, names))


def draw_fps(image: np.ndarray, fps: float) -> np.ndarray:
    """Overlay the processing speed in the bottom-left corner (in place), away
    from the labels, which sit at the top of their boxes."""
    text = f'{fps:.1f} FPS'
    origin = (8, image.shape[0] - 10)
    cv2.putText(image, text, origin, cv2.FONT_HERSHEY_SIMPLEX, 0.6, (0, 0, 0),
                3, cv2.LINE_AA)
    cv2.putText(image, text, origin, cv2.FONT_HERSHEY_SIMPLEX, 0.6,
                (255, 255, 255), 1, cv2.LINE_AA)
    return image


def input_check(reader: VideoReader) -> str:
    """The summary's note on whether every frame of the input was read."""
    if reader.truncated:
        return (f'; WARNING: {reader.name} stopped decoding at frame '
                f'{reader.frames_read} of the {reader.frame_count} frames '
                'its container announces (truncated or corrupt)')
    if reader.exhausted and not reader.is_camera and not reader.frame_count:
        return (f'; {reader.name} announces no frame count (e.g. a raw '
                'stream): whether it was complete cannot be checked')
    return ''


def main(argv: Optional[Sequence[str]] = None) -> None:
    args = parse_args(argv)
    model = init_detector(args.config, args.checkpoint, device=args.device)
    detector = YOWOVideoDetector(
        model,
        mode=args.mode,
        clip_len=args.clip_len,
        frame_interval=args.frame_interval,
        input_size=args.input_size)
    names = class_names(model.dataset_meta, args.labels,
                        model.bbox_head.num_classes)
    camera = args.camera or (args.input.isdigit()
                             and not osp.exists(args.input))
    reader = VideoReader(int(args.input) if camera else args.input)
    frames = islice(reader, args.max_frames) if args.max_frames else reader
    total = reader.frame_count if not camera else 0
    if args.max_frames:
        total = min(total, args.max_frames) if total else args.max_frames
    out_dir = osp.dirname(osp.abspath(args.output))
    os.makedirs(out_dir, exist_ok=True)

    writer = None
    size = None
    progress = ProgressBar(total)
    busy = 0.0  # seconds spent in the detector (decoding included)
    results = detector.iter_video(frames)
    try:
        while True:
            tic = time.perf_counter()
            result = next(results, None)
            busy += time.perf_counter() - tic
            if result is None:
                break
            image = cv2.cvtColor(result.frame, cv2.COLOR_RGB2BGR)
            if writer is None:
                size = (image.shape[1], image.shape[0])
                writer = cv2.VideoWriter(args.output,
                                         cv2.VideoWriter_fourcc(*'mp4v'),
                                         reader.fps or 25.0, size)
                if not writer.isOpened():
                    raise OSError(f'{args.output}: cannot open the video '
                                  'writer (mp4v)')
            elif (image.shape[1], image.shape[0]) != size:
                image = cv2.resize(image, size)
            draw_detections(image, result.pred, names, args.score_thr)
            draw_fps(image, (result.index + 1) / max(busy, 1e-9))
            writer.write(image)
            progress.update()
    finally:
        reader.close()
        if writer is not None:
            writer.release()
    print(f'\n{args.output}: {progress.completed} frames, '
          f'{progress.completed / max(busy, 1e-9):.2f} FPS ({args.mode})'
          f'{input_check(reader)}')
    if args.strict and reader.truncated:
        sys.exit(f'{args.input}: truncated or corrupt input (--strict): '
                 f'{reader.frames_read} of {reader.frame_count} announced '
                 'frames decoded')


if __name__ == '__main__':
    main()
