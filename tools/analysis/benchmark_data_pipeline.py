"""Measure the training data pipeline: clips per second of one worker.

Times, in a single process with one decoding / OpenCV thread (what one
dataloader worker gets), the whole training pipeline of a sample: KFRS
sampling, decoding, zoom + jitter, resize, flip, colour jitter, formatting
and packing. Sources:

* ``rawframes``: JPEG frame folders of the synthetic dataset;
* ``video``: the same frames encoded as MPEG-4 (XVID) ``.avi`` files,
  decoded by ``VideoDecode`` (decord, OpenCV fallback);
* optionally a real video dataset (``--video-ann`` / ``--video-root``), e.g.
  ucf24-mini converted by ``tools/data/convert_ucf24.py``.

Example::

    python tools/analysis/benchmark_data_pipeline.py --num-clips 50
    python tools/analysis/benchmark_data_pipeline.py \\
        --video-ann data/ucf24_mini/annotations/gt.pkl \\
        --video-root /work/shared/data/ucf24-mini/videos --video-ext .mp4 \\
        --flat-video-dir

It prints a table and asserts nothing.
"""
import argparse
import os
import os.path as osp
import tempfile
import time
from collections import OrderedDict
from typing import Dict, List, Sequence, Tuple

import cv2
import numpy as np
import torch
from mmaction.registry import DATASETS
from mmengine.registry import init_default_scope

import mmyowo  # noqa: F401  (registers the plugin in mmaction registries)
from mmyowo.datasets.annotations import load_annotations
from mmyowo.preparation.synthetic import generate_synthetic_dataset

META_KEYS = ('video_id', 'frame_id', 'key_frame_index', 'img_shape',
             'ori_shape', 'scale_factor', 'clip_len')


def train_pipeline(clip_len: int, frame_interval: int,
                   decode: dict) -> List[dict]:
    """The training pipeline of paper §3.1 and §4.1 with a given decoder."""
    return [
        dict(
            type='KFRSampleFrames',
            clip_len=clip_len,
            frame_interval=frame_interval),
        decode,
        dict(type='RandomZoomJitter', zoom_range=(0.5, 1.5), jitter=0.2),
        dict(type='Resize', scale=(224, 224), keep_ratio=False),
        dict(type='Flip', flip_ratio=0.5),
        dict(
            type='ColorJitter',
            brightness=0.3,
            contrast=0.3,
            saturation=0.3,
            hue=0),
        dict(type='FormatShape', input_format='NCTHW', collapse=True),
        dict(type='PackActionInputs', meta_keys=META_KEYS),
    ]


def encode_videos(gt_path: str,
                  frames_root: str,
                  videos_root: str,
                  fps: float = 25.) -> None:
    """Encode every rawframe folder of ``gt_path`` as ``{video_id}.avi``."""
    gt = load_annotations(gt_path)
    fourcc = cv2.VideoWriter_fourcc(*'XVID')
    for video_id, num_frames in gt['nframes'].items():
        h, w = gt['resolution'][video_id]
        path = osp.join(videos_root, video_id + '.avi')
        os.makedirs(osp.dirname(path), exist_ok=True)
        writer = cv2.VideoWriter(path, fourcc, fps, (w, h))
        if not writer.isOpened():
            raise RuntimeError(f'{path}: OpenCV cannot write XVID videos')
        for number in range(1, num_frames + 1):
            frame = cv2.imread(
                osp.join(frames_root, video_id, f'{number:05d}.jpg'))
            writer.write(frame)
        writer.release()


# Column names of the pipeline steps; both decoders share one column.
STEP_NAMES = OrderedDict([
    ('KFRSampleFrames', 'kfrs'),
    ('RawFrameDecodeKeepBoxes', 'decode'),
    ('VideoDecode', 'decode'),
    ('RandomZoomJitter', 'zoom'),
    ('Resize', 'resize'),
    ('Flip', 'flip'),
    ('ColorJitter', 'color'),
    ('FormatShape', 'format'),
    ('PackActionInputs', 'pack'),
])


def time_pipeline(dataset,
                  num_clips: int,
                  warmup: int = 2) -> Tuple[float, Dict[str, float]]:
    """Run ``num_clips`` samples through the pipeline, timing each step.

    Returns:
        tuple[float, dict]: Clips per second, and mean milliseconds per clip
        of every step (by :data:`STEP_NAMES` column).
    """
    transforms = dataset.pipeline.transforms
    names = [
        STEP_NAMES.get(type(t).__name__,
                       type(t).__name__) for t in transforms
    ]
    seconds = dict.fromkeys(names, 0.)
    rng = np.random.default_rng(0)
    indices = rng.integers(len(dataset), size=num_clips + warmup)
    total = 0.
    for count, index in enumerate(indices):
        results = dataset.get_data_info(int(index))
        start = time.perf_counter()
        for name, transform in zip(names, transforms):
            tic = time.perf_counter()
            results = transform(results)
            if count >= warmup:
                seconds[name] += time.perf_counter() - tic
        if count >= warmup:
            total += time.perf_counter() - start
    per_clip = {name: 1e3 * t / num_clips for name, t in seconds.items()}
    return num_clips / total, per_clip


def print_table(rows: Sequence[Tuple[str, int, float, Dict[str,
                                                           float]]]) -> None:
    """Print one line per (source, clip length): rate and per-step times."""
    steps = list(rows[0][3])
    header = (f'{"source":<10} {"L":>3} {"clips/s":>8} {"ms/clip":>8} | ' +
              ' '.join(f'{s:>7}' for s in steps))
    print(header)
    print('-' * len(header))
    for source, clip_len, rate, per_clip in rows:
        cells = ' '.join(f'{per_clip.get(s, float("nan")):7.2f}'
                         for s in steps)
        print(f'{source:<10} {clip_len:>3} {rate:8.1f} {1e3 / rate:8.1f} | '
              f'{cells}')
    print('(step columns: ms per clip)')


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Clips per second of one data worker for the training '
        'pipeline, from rawframes and from videos.')
    parser.add_argument('--clip-lens', type=int, nargs='+', default=[8, 16])
    parser.add_argument('--frame-interval', type=int, default=1)
    parser.add_argument(
        '--num-clips', type=int, default=40, help='timed clips per row')
    parser.add_argument(
        '--num-videos', type=int, default=6, help='synthetic training videos')
    parser.add_argument('--num-frames', type=int, default=40)
    parser.add_argument(
        '--frame-size',
        type=int,
        nargs=2,
        default=(240, 320),
        metavar=('H', 'W'),
        help='synthetic frame size (UCF101-24: 240 320)')
    parser.add_argument(
        '--work-dir',
        help='where to write the synthetic '
        'data (default: a temporary folder)')
    parser.add_argument(
        '--video-ann',
        help='canonical GT of an extra video '
        'dataset to time')
    parser.add_argument('--video-root', help='video root of --video-ann')
    parser.add_argument('--video-ext', default='.avi')
    parser.add_argument('--flat-video-dir', action='store_true')
    parser.add_argument('--split', type=int, default=0)
    return parser.parse_args()


def build_dataset(ann_file: str, data_prefix: dict, pipeline: List[dict],
                  **kwargs):
    return DATASETS.build(
        dict(
            type='SpatioTemporalActionDataset',
            ann_file=ann_file,
            data_prefix=data_prefix,
            pipeline=pipeline,
            **kwargs))


def run(args: argparse.Namespace, work_dir: str) -> None:
    # Datasets build their pipelines from the default scope's registry.
    init_default_scope('mmaction')
    # One thread, as in a dataloader worker.
    cv2.setNumThreads(1)
    torch.set_num_threads(1)
    gt_path = generate_synthetic_dataset(
        work_dir,
        num_train_videos=args.num_videos,
        num_test_videos=1,
        num_frames=args.num_frames,
        frame_size=tuple(args.frame_size),
        overwrite=True)
    frames_root = osp.join(work_dir, 'rawframes')
    videos_root = osp.join(work_dir, 'videos')
    encode_videos(gt_path, frames_root, videos_root)

    sources = [
        ('rawframes', gt_path, dict(img=frames_root),
         dict(type='RawFrameDecodeKeepBoxes'), {}),
        ('video', gt_path, dict(video=videos_root), dict(type='VideoDecode'),
         {}),
    ]
    if args.video_ann:
        if not args.video_root:
            raise ValueError('--video-ann needs --video-root')
        sources.append(
            ('video-ext', args.video_ann, dict(video=args.video_root),
             dict(type='VideoDecode'),
             dict(
                 video_ext=args.video_ext,
                 flat_video_dir=args.flat_video_dir,
                 split=args.split)))
    rows = []
    for source, ann_file, prefix, decode, extra in sources:
        for clip_len in args.clip_lens:
            dataset = build_dataset(
                ann_file, prefix,
                train_pipeline(clip_len, args.frame_interval, decode), **extra)
            rate, per_clip = time_pipeline(dataset, args.num_clips)
            rows.append((source, clip_len, rate, per_clip))
    h, w = args.frame_size
    print(f'training pipeline, 1 thread, synthetic frames {w}x{h}, '
          f'{args.num_clips} clips per row, frame_interval '
          f'{args.frame_interval}')
    print_table(rows)


def main() -> None:
    args = parse_args()
    if args.work_dir:
        run(args, args.work_dir)
    else:
        with tempfile.TemporaryDirectory() as work_dir:
            run(args, work_dir)


if __name__ == '__main__':
    main()
