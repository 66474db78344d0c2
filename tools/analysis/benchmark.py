"""Benchmark YOWO inference: per-frame vs streaming mode, per branch.

Usage::

    python tools/analysis/benchmark.py CONFIG [--checkpoint CKPT] \
        [--clip-lens 8 16] [--shape 224 224] [--device cpu|cuda] \
        [--repeats 5] [--warmup 2] [--batch-sizes 1 4] \
        [--dtypes fp32 fp16 bf16] [--no-flops] [--cfg-options ...]

The config may hold only ``model`` (configs/_base_/models/yowo_plus.py).
Without a checkpoint the model gets its initial weights (``init_weights``).

Printed as markdown:

1. Parameters and GFLOPs per branch (``summarize`` of
   tools/analysis/model_summary.py).
2. Per clip length ``L``, batch size ``B`` and dtype (``torch.autocast`` for
   fp16 / bf16) the median wall time of

   * ``t3D``: one 3D pass (backbone + time-collapsing neck) per clip,
   * ``t2D``: one 2D pass per frame,
   * ``tRest``: fusion neck + head + post-processing (decode, NMS) per key
     frame,
   * per-frame mode (``YOWOVideoDetector.detect_clips``, one clip per frame)
     and streaming mode (``detect_windows``, one 3D pass per window of
     ``L`` frames, the 2D branch, neck and head batched over the window),

   as milliseconds per frame and frames per second (``B`` clips or windows
   per call; the per-frame latency is one call, the streaming latency one
   window call plus the wait for its ``L`` frames). The streaming speed-up
   (per-frame time / streaming time per frame) is shown beside its bound
   ``(t3D + t2D + tRest) / (t3D / L + t2D + tRest)``.

Inputs are random, already normalised tensors: decoding and resizing are
not timed. Warm-up calls precede the timed ones; CUDA is synchronised
around every timed call.
"""
import argparse
import importlib.util
import logging
import os.path as osp
import statistics
import time
from contextlib import nullcontext
from typing import Callable, Dict, List, Sequence, Union

import torch
from mmengine.config import DictAction
from mmengine.logging import MMLogger

from mmyowo.apis import YOWOVideoDetector, init_detector
from mmyowo.apis.inference import resolve_frame_batch

DTYPES = dict(fp32=torch.float32, fp16=torch.float16, bf16=torch.bfloat16)
MODEL_SUMMARY = osp.join(
    osp.dirname(osp.abspath(__file__)), 'model_summary.py')


def load_model_summary():
    """Import tools/analysis/model_summary.py (``tools`` is no package)."""
    spec = importlib.util.spec_from_file_location('mmyowo_model_summary',
                                                  MODEL_SUMMARY)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def time_call(fn: Callable[[], object], warmup: int, repeats: int,
              device: torch.device) -> float:
    """Median wall time (s) of ``fn()`` over ``repeats`` after ``warmup``."""
    sync = torch.cuda.synchronize if device.type == 'cuda' else (lambda: None)
    for _ in range(warmup):
        fn()
    sync()
    times = []
    for _ in range(repeats):
        tic = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - tic)
    return statistics.median(times)


def streaming_bound(t3d: float, t2d: float, trest: float,
                    clip_len: int) -> float:
    """Best streaming speed-up: the 3D pass shared by ``clip_len`` frames,
    everything else per frame."""
    return (t3d + t2d + trest) / (t3d / clip_len + t2d + trest)


@torch.inference_mode()
def measure(model: torch.nn.Module,
            clip_len: int,
            batch: int,
            dtype: str,
            shape: Sequence[int],
            warmup: int,
            repeats: int,
            frame_batch: Union[int, str, None] = 'auto') -> Dict[str, float]:
    """Time the branches and both modes; return seconds per frame / call.

    ``frame_batch`` is passed to :class:`YOWOVideoDetector` (streaming).
    """
    device = next(model.parameters()).device
    detector = YOWOVideoDetector(
        model,
        mode='streaming',
        clip_len=clip_len,
        frame_interval=1,
        input_size=shape,
        frame_batch=frame_batch)
    h, w = shape
    clips = torch.randn(batch, 3, clip_len, h, w, device=device)
    key_frames = clips[:, :, -1].contiguous()
    meta = dict(ori_shape=(h, w), img_shape=(h, w), scale_factor=(1.0, 1.0))
    metas = [meta] * batch
    window_metas = [[meta] * clip_len] * batch
    autocast = nullcontext() if dtype == 'fp32' else torch.autocast(
        device_type=device.type, dtype=DTYPES[dtype])
    head = model.bbox_head
    with autocast:
        feats_2d = model.extract_feat_2d(key_frames)
        feat_3d = model.extract_feat_3d(clips)

        def rest():
            return head.predict_by_feat(
                head(model.fuse(feats_2d, feat_3d)), metas)

        def timed(fn):
            return time_call(fn, warmup, repeats, device)

        per_frame_call = timed(lambda: detector.detect_clips(clips, metas))
        window_call = timed(
            lambda: detector.detect_windows(clips, window_metas))
        t3d = timed(lambda: model.extract_feat_3d(clips)) / batch \
            if model.with_3d else 0.0
        t2d = timed(lambda: model.extract_feat_2d(key_frames)) / batch
        trest = timed(rest) / batch
    per_frame = per_frame_call / batch
    streaming = window_call / (batch * clip_len)
    return dict(
        t3d=t3d,
        t2d=t2d,
        trest=trest,
        per_frame=per_frame,
        per_frame_latency=per_frame_call,
        streaming=streaming,
        streaming_window=window_call,
        speedup=per_frame / streaming,
        bound=streaming_bound(t3d, t2d, trest, clip_len))


def format_timings(rows: List[Dict[str, object]]) -> str:
    """Markdown table of :func:`measure` rows (with ``clip_len``, ``batch`` and
    ``dtype`` added)."""
    header = ('| L | batch | dtype | t3D (ms/clip) | t2D (ms/frame) | '
              'tRest (ms/frame) | per-frame (ms/frame) | per-frame FPS | '
              'per-frame latency (ms) | streaming (ms/frame) | '
              'streaming FPS | streaming window (ms) | speed-up | bound | '
              'speed-up / bound |')
    lines = [header, '|' + '---|' * header.count(' | ') + '---|']
    for r in rows:
        lines.append(
            f"| {r['clip_len']} | {r['batch']} | {r['dtype']} | "
            f"{r['t3d'] * 1e3:.1f} | {r['t2d'] * 1e3:.1f} | "
            f"{r['trest'] * 1e3:.1f} | {r['per_frame'] * 1e3:.1f} | "
            f"{1 / r['per_frame']:.2f} | {r['per_frame_latency'] * 1e3:.1f} | "
            f"{r['streaming'] * 1e3:.1f} | {1 / r['streaming']:.2f} | "
            f"{r['streaming_window'] * 1e3:.1f} | {r['speedup']:.2f} | "
            f"{r['bound']:.2f} | {r['speedup'] / r['bound'] * 100:.0f}% |")
    return '\n'.join(lines)


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('config')
    parser.add_argument('--checkpoint')
    parser.add_argument('--clip-lens', type=int, nargs='+', default=[8, 16])
    parser.add_argument(
        '--shape', type=int, nargs=2, default=[224, 224], metavar=('H', 'W'))
    parser.add_argument('--device', default='cpu')
    parser.add_argument('--repeats', type=int, default=5)
    parser.add_argument('--warmup', type=int, default=2)
    parser.add_argument(
        '--threads',
        type=int,
        help='CPU threads for torch (default: torch\'s)')
    parser.add_argument(
        '--frame-batch',
        default='auto',
        help='streaming: most frames per 2D / neck / head '
        'call: an int, "all" or "auto" (all on CUDA, '
        'CPU_FRAME_BATCH on CPU)')
    parser.add_argument('--batch-sizes', type=int, nargs='+', default=[1])
    parser.add_argument(
        '--dtypes', nargs='+', choices=sorted(DTYPES), default=['fp32'])
    parser.add_argument(
        '--no-flops',
        action='store_true',
        help='skip the parameter / GFLOPs table')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)
    args = parser.parse_args(argv)
    if args.repeats < 1 or args.warmup < 0:
        parser.error('--repeats must be >= 1 and --warmup >= 0')
    if min(args.batch_sizes) < 1 or min(args.clip_lens) < 1:
        parser.error('batch sizes and clip lengths must be >= 1')
    if args.frame_batch == 'all':
        args.frame_batch = None
    elif args.frame_batch != 'auto':
        if not args.frame_batch.isdigit() or int(args.frame_batch) < 1:
            parser.error('--frame-batch must be a positive int, "all" or '
                         '"auto"')
        args.frame_batch = int(args.frame_batch)
    return args


def main(argv=None) -> None:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    model = init_detector(
        args.config,
        args.checkpoint,
        device='cpu',
        cfg_options=args.cfg_options)
    if args.checkpoint is None:
        # init_weights logs every parameter at INFO level: keep the table
        # readable.
        logger = MMLogger.get_current_instance()
        level = logger.level
        logger.setLevel(logging.WARNING)
        try:
            model.init_weights()
        finally:
            logger.setLevel(level)
        model.eval()
    print(f'Model: {args.config}, input {args.shape[0]}x{args.shape[1]}')
    if not args.no_flops:
        summary = load_model_summary()
        flops = {
            n: summary.summarize(model, n, args.shape)
            for n in args.clip_lens
        }
        print(summary.format_table(flops))
        print()
    device = torch.device(args.device)
    if device.type == 'cuda':
        torch.backends.cudnn.benchmark = True
        name = torch.cuda.get_device_name(device)
    else:
        threads = torch.get_num_threads()
        name = f'CPU, {threads} thread{"s" if threads > 1 else ""}'
    model.to(device)
    rows = []
    for clip_len in args.clip_lens:
        for batch in args.batch_sizes:
            for dtype in args.dtypes:
                row = measure(model, clip_len, batch, dtype, args.shape,
                              args.warmup, args.repeats, args.frame_batch)
                rows.append(
                    dict(row, clip_len=clip_len, batch=batch, dtype=dtype))
    frame_batch = resolve_frame_batch(args.frame_batch, device)
    print(f'Device: {name}; median of {args.repeats} runs after '
          f'{args.warmup} warm-up runs; streaming frame_batch '
          f'{frame_batch or "all"}')
    print(format_timings(rows))


if __name__ == '__main__':
    main()
