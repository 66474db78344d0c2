"""Benchmark YOWO inference side by side: models x backends x precisions x
threads, per-frame and streaming mode, in one run.

Usage::

    python tools/analysis/benchmark.py CONFIG [CONFIG ...] \
        [--checkpoints CKPT ...] [--backends eager optimized onnxruntime] \
        [--dtypes fp32 fp16 bf16] [--threads 1 2] [--clip-lens 16] \
        [--batch-sizes 1] [--shape 224 224] [--device cpu|cuda] \
        [--repeats 5] [--warmup 2] [--rounds 1] [--frame-batch auto] \
        [--no-flops] [--out TABLE.md] [--cfg-options ...]

A config may hold only ``model`` (configs/_base_/models/yowo_plus.py);
without a checkpoint the model gets its initial weights (speed does not
depend on them). The first config is the reference the others are compared
with (e.g. the base model, then the fast variant).

Backends (each through :class:`~mmyowo.apis.YOWOVideoDetector`, the code
the demo and the API run):

* ``eager``: the model as built, fp32;
* ``optimized``: :func:`mmyowo.deploy.optimize_for_inference` (conv+BN
  folding, channels-last on CUDA) at each ``--dtypes`` entry (fp16 / bf16
  autocast only on CUDA; refused elsewhere, so skipped and listed);
* ``onnxruntime``: the model exported to ONNX (a temporary directory) and
  run by onnxruntime (:func:`mmyowo.deploy.ort_model_from_pytorch`; CPU
  provider, fp32), one session per thread count.

Per row, the median wall time of ``t3D`` (3D branch, per clip), ``tKF``
(2D branch + fusion neck + head maps, per key frame), ``tPost`` (decoding +
NMS, per key frame), per-frame mode (``detect_clips``: one clip per frame)
and streaming mode (``detect_windows``: one 3D pass per window of ``L``
frames), as ms per frame and frames per second, and the streaming speed-up
next to its bound ``(t3D + tKF + tPost) / (t3D / L + tKF + tPost)``.
Then the ratios the issue sets targets for, within this one run: each
model's streaming cost against the first model's, onnxruntime's throughput
against eager fp32, and streaming against its bound.

Inputs are random, already normalised tensors: decoding and resizing are
not timed. Warm-up calls precede the timed ones; CUDA is synchronised
around every timed call.

``--rounds R`` measures the whole grid ``R`` times in turn and reports,
per row, the median of each timing over the rounds. On a shared machine
whose speed drifts over minutes, rows measured one after another (e.g.
eager, then onnxruntime) see different machines; interleaved rounds spread
the drift over the rows alike, so it biases the ratios within the run less.
Every row's detector (models, optimized copies, onnxruntime sessions) is
made before the first measurement and held until the last.
"""
import argparse
import importlib.util
import logging
import os.path as osp
import platform
import statistics
import tempfile
import time
from typing import Any, Callable, Dict, Iterator, List, Optional

import torch
from mmengine.config import DictAction
from mmengine.logging import MMLogger

from mmyowo.apis import YOWOVideoDetector, init_detector
from mmyowo.apis.inference import resolve_frame_batch
from mmyowo.deploy import InferenceOptions, ort_model_from_pytorch
from mmyowo.deploy.optimize import check_dtype
from mmyowo.utils.atomic_io import atomic_write_text

BACKENDS = ('eager', 'optimized', 'onnxruntime')
DTYPES = ('fp32', 'fp16', 'bf16')
MODEL_SUMMARY = osp.join(
    osp.dirname(osp.abspath(__file__)), 'model_summary.py')
#: Share of its bound the streaming speed-up should reach (issue 16).
BOUND_TARGET = 0.9


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


def streaming_bound(t3d: float, tkf: float, tpost: float,
                    clip_len: int) -> float:
    """Best streaming speed-up: the 3D pass shared by ``clip_len`` frames,
    everything else per frame."""
    per_frame = t3d + tkf + tpost
    return per_frame / (t3d / clip_len + tkf + tpost)


@torch.inference_mode()
def measure(detector: YOWOVideoDetector, batch: int, warmup: int,
            repeats: int) -> Dict[str, float]:
    """Time the parts and both modes of ``detector``'s network.

    Returns:
        dict: Seconds: ``t3d`` per clip, ``tkf`` and ``tpost`` per key
        frame, ``per_frame`` and ``streaming`` per frame, the calls
        ``per_frame_latency`` (one call of ``batch`` clips) and
        ``streaming_window`` (one call of ``batch`` windows); and
        ``speedup`` / ``bound``.
    """
    model, device = detector.model, detector.device
    clip_len = detector.clip_len
    h, w = detector.input_size
    clips = torch.randn(batch, 3, clip_len, h, w, device=device)
    key_frames = clips[:, :, -1].contiguous()
    meta = dict(ori_shape=(h, w), img_shape=(h, w), scale_factor=(1.0, 1.0))
    metas = [meta] * batch
    window_metas = [[meta] * clip_len] * batch
    head = model.bbox_head

    def timed(fn):
        return time_call(fn, warmup, repeats, device)

    per_frame_call = timed(lambda: detector.detect_clips(clips, metas))
    window_call = timed(lambda: detector.detect_windows(clips, window_metas))
    with detector.autocast():
        feat_3d = model.extract_feat_3d(clips)
        maps = model.key_frame_maps(key_frames, feat_3d)
        t3d = timed(lambda: model.extract_feat_3d(clips)) / batch \
            if feat_3d is not None else 0.0
        tkf = timed(lambda: model.key_frame_maps(key_frames, feat_3d)) / batch
    tpost = timed(lambda: head.predict_by_feat(maps, metas)) / batch
    return with_ratios(
        dict(
            t3d=t3d,
            tkf=tkf,
            tpost=tpost,
            per_frame=per_frame_call / batch,
            per_frame_latency=per_frame_call,
            streaming=window_call / (batch * clip_len),
            streaming_window=window_call), clip_len)


#: The timings of a :func:`measure` row (seconds); the rest derive from them.
TIMINGS = ('t3d', 'tkf', 'tpost', 'per_frame', 'per_frame_latency',
           'streaming', 'streaming_window')


def with_ratios(timings: Dict[str, float], clip_len: int) -> Dict[str, float]:
    """``timings`` plus the streaming ``speedup`` and its ``bound``."""
    return dict(
        timings,
        speedup=timings['per_frame'] / timings['streaming'],
        bound=streaming_bound(timings['t3d'], timings['tkf'], timings['tpost'],
                              clip_len))


def combine_rounds(rounds: List[Dict[str, float]],
                   clip_len: int) -> Dict[str, float]:
    """One row from the :func:`measure` rows of the same setting in several
    rounds: the median of each timing, the ratios computed from those."""
    if not rounds:
        raise ValueError('no rounds to combine')
    return with_ratios(
        {name: statistics.median(r[name] for r in rounds)
         for name in TIMINGS}, clip_len)


def format_timings(rows: List[Dict[str, Any]]) -> str:
    """Markdown table of :func:`measure` rows (with their settings)."""
    header = ('| model | backend | dtype | threads | L | batch | '
              't3D (ms/clip) | tKF (ms/frame) | tPost (ms/frame) | '
              'per-frame (ms/frame) | per-frame FPS | streaming (ms/frame) '
              '| streaming FPS | streaming window (ms) | speed-up | bound | '
              'speed-up / bound |')
    lines = [header, '|' + '---|' * (header.count('|') - 1)]
    for r in rows:
        lines.append(
            f"| {r['model']} | {r['backend']} | {r['dtype']} | "
            f"{r['threads']} | {r['clip_len']} | {r['batch']} | "
            f"{r['t3d'] * 1e3:.1f} | {r['tkf'] * 1e3:.1f} | "
            f"{r['tpost'] * 1e3:.1f} | {r['per_frame'] * 1e3:.1f} | "
            f"{1 / r['per_frame']:.2f} | {r['streaming'] * 1e3:.1f} | "
            f"{1 / r['streaming']:.2f} | {r['streaming_window'] * 1e3:.1f} | "
            f"{r['speedup']:.2f} | {r['bound']:.2f} | "
            f"{r['speedup'] / r['bound'] * 100:.0f}% |")
    return '\n'.join(lines)


def _key(row: Dict[str, Any], *fields: str) -> tuple:
    return tuple(row[f] for f in fields)


def target_ratios(rows: List[Dict[str, Any]]) -> List[str]:
    """The ratios of issue 16's targets, one markdown line each.

    * every model's streaming cost over the first model's, per backend,
      dtype, threads, L and batch (target: the fast variant <= 1/6);
    * onnxruntime's throughput over eager fp32's, per model and mode
      (target >= 1.3x);
    * streaming speed-up over its bound, per row (target >= 90%).
    """
    lines: List[str] = []
    if not rows:
        return lines
    setting = ('backend', 'dtype', 'threads', 'clip_len', 'batch')
    reference = rows[0]['model']
    base = {_key(r, *setting): r for r in rows if r['model'] == reference}
    for r in rows:
        ref = base.get(_key(r, *setting))
        if r['model'] == reference or ref is None:
            continue
        ratio = r['streaming'] / ref['streaming']
        lines.append(
            f"- streaming cost {r['model']} / {reference} "
            f"({r['backend']} {r['dtype']}, {r['threads']} thread(s), "
            f"L={r['clip_len']}, batch {r['batch']}): {ratio:.3f} "
            f"(1/{1 / ratio:.1f}; target <= 1/6: "
            f"{'met' if ratio <= 1 / 6 else 'NOT met'})")
    scene = ('model', 'threads', 'clip_len', 'batch')
    eager = {
        _key(r, *scene): r
        for r in rows if r['backend'] == 'eager' and r['dtype'] == 'fp32'
    }
    for r in rows:
        ref = eager.get(_key(r, *scene))
        if r['backend'] != 'onnxruntime' or ref is None:
            continue
        for mode in ('per_frame', 'streaming'):
            ratio = ref[mode] / r[mode]
            lines.append(
                f"- onnxruntime / eager fp32 throughput, {r['model']} "
                f"{mode.replace('_', '-')} ({r['threads']} thread(s), "
                f"L={r['clip_len']}, batch {r['batch']}): {ratio:.2f}x "
                f"(target >= 1.3x: {'met' if ratio >= 1.3 else 'NOT met'})")
    short = [r for r in rows if r['speedup'] / r['bound'] < BOUND_TARGET]
    lines.append(f'- streaming speed-up >= {BOUND_TARGET:.0%} of its bound: '
                 f'{len(rows) - len(short)} of {len(rows)} rows' +
                 ('' if not short else ' (not: ' +
                  '; '.join(f"{r['model']} {r['backend']} {r['dtype']} "
                            f"{r['threads']}t {r['speedup'] / r['bound']:.0%}"
                            for r in short) + ')'))
    return lines


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('configs', nargs='+', metavar='CONFIG')
    parser.add_argument(
        '--checkpoints',
        nargs='+',
        default=[],
        help='one per config, in order (default: initial weights)')
    parser.add_argument(
        '--backends', nargs='+', choices=BACKENDS, default=['eager'])
    parser.add_argument(
        '--dtypes',
        nargs='+',
        choices=DTYPES,
        default=['fp32'],
        help='precisions of the optimized backend (fp16 / bf16: CUDA)')
    parser.add_argument(
        '--threads',
        type=int,
        nargs='+',
        help='CPU thread counts (torch and onnxruntime; default: torch\'s)')
    parser.add_argument('--clip-lens', type=int, nargs='+', default=[16])
    parser.add_argument('--batch-sizes', type=int, nargs='+', default=[1])
    parser.add_argument(
        '--shape', type=int, nargs=2, default=[224, 224], metavar=('H', 'W'))
    parser.add_argument('--device', default='cpu')
    parser.add_argument('--repeats', type=int, default=5)
    parser.add_argument('--warmup', type=int, default=2)
    parser.add_argument(
        '--rounds',
        type=int,
        default=1,
        help='measure the whole grid this many times in turn; each row '
        'reports the median over the rounds (see the module docstring)')
    parser.add_argument(
        '--frame-batch',
        default='auto',
        help='streaming: most frames per 2D / neck / head call: an int, '
        '"all" or "auto" (all on CUDA, CPU_FRAME_BATCH on CPU)')
    parser.add_argument(
        '--no-flops',
        action='store_true',
        help='skip the parameter / GFLOPs tables')
    parser.add_argument('--out', help='also write the report to this file')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)
    args = parser.parse_args(argv)
    if args.repeats < 1 or args.warmup < 0 or args.rounds < 1:
        parser.error('--repeats and --rounds must be >= 1 and --warmup >= 0')
    if min(args.batch_sizes) < 1 or min(args.clip_lens) < 1:
        parser.error('batch sizes and clip lengths must be >= 1')
    if args.threads and min(args.threads) < 1:
        parser.error('--threads must be >= 1')
    if args.checkpoints and len(args.checkpoints) != len(args.configs):
        parser.error(f'{len(args.checkpoints)} checkpoints for '
                     f'{len(args.configs)} configs: give one per config')
    if args.frame_batch == 'all':
        args.frame_batch = None
    elif args.frame_batch != 'auto':
        if not args.frame_batch.isdigit() or int(args.frame_batch) < 1:
            parser.error('--frame-batch must be a positive int, "all" or '
                         '"auto"')
        args.frame_batch = int(args.frame_batch)
    return args


def build_model(config: str, checkpoint: Optional[str],
                cfg_options: Optional[dict]) -> torch.nn.Module:
    """The model of ``config`` (initial weights without a checkpoint)."""
    model = init_detector(
        config, checkpoint, device='cpu', cfg_options=cfg_options)
    if checkpoint is None:
        # init_weights logs every parameter at INFO level: keep the output
        # readable.
        logger = MMLogger.get_current_instance()
        level = logger.level
        logger.setLevel(logging.WARNING)
        try:
            model.init_weights()
        finally:
            logger.setLevel(level)
        model.eval()
    return model


def detectors(model: torch.nn.Module, args: argparse.Namespace,
              device: torch.device, clip_len: int, threads: int, tmp_dir: str,
              skipped: List[str]) -> Iterator[tuple]:
    """``(backend, dtype, detector)`` for each asked backend / dtype."""
    settings = dict(
        mode='streaming',
        clip_len=clip_len,
        frame_interval=1,
        input_size=args.shape,
        frame_batch=args.frame_batch)
    for backend in args.backends:
        if backend == 'eager':
            yield backend, 'fp32', YOWOVideoDetector(model, **settings)
        elif backend == 'optimized':
            for dtype in args.dtypes:
                try:
                    check_dtype(dtype, device)
                except ValueError as err:
                    skipped.append(f'optimized {dtype}: {err}')
                    continue
                yield backend, dtype, YOWOVideoDetector(
                    model, optimize=InferenceOptions(dtype=dtype), **settings)
        elif device.type != 'cpu':
            skipped.append(f'onnxruntime on {device}: the backend runs on '
                           'the CPU here (see README "ONNX Runtime" for the '
                           'CUDA / TensorRT providers)')
        else:
            # One session per thread count: onnxruntime takes the thread
            # count when the session is made.
            ort_dir = osp.join(tmp_dir, f'L{clip_len}_t{threads}')
            ort = ort_model_from_pytorch(model, ort_dir, clip_len, args.shape)
            yield backend, 'fp32', YOWOVideoDetector(ort, **settings)


def main(argv=None) -> str:
    """Run the benchmark of ``argv`` and return its report; the caller's torch
    thread count is restored afterwards (tests call this in-process, and the
    rows set their own)."""
    caller_threads = torch.get_num_threads()
    try:
        return run(argv)
    finally:
        torch.set_num_threads(caller_threads)


def run(argv=None) -> str:
    """The benchmark of :func:`main`."""
    args = parse_args(argv)
    device = torch.device(args.device)
    if device.type == 'cuda':
        torch.backends.cudnn.benchmark = True
        machine = torch.cuda.get_device_name(device)
    else:
        machine = f'CPU ({platform.processor() or platform.machine()})'
    out: List[str] = [
        f'Input {args.shape[0]}x{args.shape[1]}, device: {machine}; '
        f'median of {args.repeats} runs after {args.warmup} warm-up runs' +
        (f', then the median over {args.rounds} interleaved rounds'
         if args.rounds > 1 else '') + '; streaming frame_batch '
        f'{resolve_frame_batch(args.frame_batch, device) or "all"}'
    ]
    print(out[0], flush=True)
    thread_counts = args.threads or [torch.get_num_threads()]
    summary = None if args.no_flops else load_model_summary()
    skipped: List[str] = []
    checkpoints = args.checkpoints or [None] * len(args.configs)
    with tempfile.TemporaryDirectory() as tmp_dir:
        # Every row's detector is made first, so that the rounds can visit
        # the rows in turn.
        cells: List[Dict[str, Any]] = []
        for index, (config,
                    checkpoint) in enumerate(zip(args.configs, checkpoints)):
            name = osp.splitext(osp.basename(config))[0]
            model = build_model(config, checkpoint, args.cfg_options)
            if summary is not None:
                flops = {
                    n: summary.summarize(model, n, args.shape)
                    for n in args.clip_lens
                }
                out += ['', f'{name}:', summary.format_table(flops)]
                print('\n'.join(out[-3:]), flush=True)
            model.to(device)
            for threads in thread_counts:
                # onnxruntime sessions take the thread count when made.
                torch.set_num_threads(threads)
                for clip_len in args.clip_lens:
                    for backend, dtype, detector in detectors(
                            model, args, device, clip_len, threads,
                            osp.join(tmp_dir, str(index)), skipped):
                        cells += [
                            dict(
                                detector=detector,
                                model=name,
                                backend=backend,
                                dtype=dtype,
                                threads=threads,
                                clip_len=clip_len,
                                batch=batch,
                                rounds=[]) for batch in args.batch_sizes
                        ]
        for round_index in range(args.rounds):
            for cell in cells:
                torch.set_num_threads(cell['threads'])
                cell['rounds'].append(
                    measure(cell['detector'], cell['batch'], args.warmup,
                            args.repeats))
                line = format_timings([dict(cell, **cell['rounds'][-1])
                                       ]).splitlines()[-1]
                prefix = (f'round {round_index + 1}/{args.rounds} '
                          if args.rounds > 1 else '')
                print(prefix + line, flush=True)
    rows = [
        dict(
            combine_rounds(cell['rounds'], cell['clip_len']), **{
                k: v
                for k, v in cell.items() if k not in ('detector', 'rounds')
            }) for cell in cells
    ]
    out += ['', format_timings(rows), '', 'Targets (ratios within this run):']
    out += target_ratios(rows)
    for line in sorted(set(skipped)):
        out.append(f'- skipped: {line}')
    report = '\n'.join(out)
    print('\n'.join(out[out.index('Targets (ratios within this run):') - 2:]))
    if args.out:
        atomic_write_text(report + '\n', args.out)
    return report


if __name__ == '__main__':
    main()
