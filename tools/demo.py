"""Detect actions in a video (or a camera) and write an annotated video.

Usage::

    python tools/demo.py CONFIG CHECKPOINT INPUT OUTPUT \
        [--mode per-frame|streaming] [--score-thr 0.4] [--device cpu] \
        [--camera] [--labels FILE] [--max-frames N] \
        [--clip-len L] [--frame-interval P] [--input-size H W] [--strict] \
        [--backend pytorch|onnxruntime] [--providers EP ...] \
        [--no-fuse] [--channels-last auto|on|off] [--dtype fp32|fp16|bf16]

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

With ``--backend onnxruntime``, CHECKPOINT is a directory exported by
``tools/deployment/export_onnx.py --out-dir``: the graphs run in
onnxruntime (``--providers``, default the CPU), with this script's
preprocessing, post-processing and drawing unchanged.

A video file that stops decoding before the frame count its container
announces (truncated or corrupt) is processed up to that point: the demo
warns (``VideoTruncatedWarning``, naming the file and the frame where
decoding stopped), says so in its final summary and exits 0, since the
annotated frames written are valid; with ``--strict`` it exits 1 instead,
after writing them. Inputs that announce no frame count (raw streams, such
as the ucf24-mini videos) cannot be checked, which the summary states.

Inference runs on an optimized copy of the model
(mmyowo/deploy/optimize.py, README "Optimized inference"): conv + BN
folded (``--no-fuse`` to keep the eager layers; the detections agree within
float rounding), channels-last by default on CUDA only
(``--channels-last``), and fp32 unless ``--dtype fp16`` / ``bf16`` asks
for autocast, which is refused off CUDA. The demo prints what it applied.

Live mode and tracking::

    python tools/demo.py CONFIG CHECKPOINT 0 out.mp4 --live \
        [--realtime] [--fps F] [--stall-timeout S] \
        [--out-json preds.jsonl] [--out-csv preds.csv] \
        [--smooth ema|window|none] [--smooth-alpha A] [--smooth-window N] \
        [--event-on-thr T] [--event-off-thr T] [--tracker-cfg FILE]

``--live`` reads INPUT (a camera index, an ``rtsp://`` / ``http://`` URL or
a file; ``--realtime`` plays a file at its own frame rate) in a reader
thread and runs the causal per-frame path on the newest frame, dropping the
frames it cannot keep up with (mmyowo/apis/live.py: the delay stays within
one processing time plus one frame interval); a status line shows input and
processed fps, dropped frames and latency. Ctrl-C stops cleanly (the files
written so far are kept); a stalled or disconnected source stops with a
message and exit status 1. OUTPUT gets the processed frames.

With ``--live``, ``--track``, ``--out-json`` or ``--out-csv``, persons are
tracked (mmdet's ByteTracker by default, ``--tracker-cfg``: a config file
with a ``tracker = dict(type=...)``; mmdet's trackers need the full mmcv
with its compiled ops and the ``lap`` package), their class scores smoothed
per track, drawn as ``#id label score``, and action start / end events
printed (``#3 Fencing started 00:12.40``). ``--out-json`` writes JSON Lines
per processed frame and ``<stem>.events.jsonl``; ``--out-csv`` writes the
CSV of ``tools/data/convert_csv.py`` (``--frame-base 0 --coords pixel
--label-by name``); see mmyowo/tracking/outputs.py.
"""
import argparse
import os
import os.path as osp
import sys
import time
from itertools import islice
from typing import Any, Iterator, List, Optional, Sequence, Tuple

import cv2
import numpy as np
from mmengine.config import Config
from mmengine.structures import InstanceData
from mmengine.utils import ProgressBar

from mmyowo.apis import (ActionScore, LiveSourceError, PersonActions,
                         VideoReader, YOWOVideoDetector, init_detector,
                         person_actions)
from mmyowo.apis.inference import MODES
from mmyowo.apis.model_init import BACKENDS
from mmyowo.apis.results import check_score_thr
from mmyowo.deploy.optimize import DTYPES, InferenceOptions, check_dtype
from mmyowo.tracking import OnlineActionTracker, TrackedPerson, TrackingWriter
from mmyowo.utils.atomic_io import atomic_output_path
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
    parser.add_argument(
        'checkpoint',
        help='checkpoint file, or with --backend onnxruntime the directory '
        'of tools/deployment/export_onnx.py --out-dir')
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
        '--backend',
        choices=BACKENDS,
        default='pytorch',
        help='onnxruntime: run the exported graphs (--device cpu; '
        '--providers choose the hardware)')
    parser.add_argument(
        '--providers',
        nargs='+',
        help='onnxruntime execution providers by priority (default: '
        'CPUExecutionProvider), e.g. CUDAExecutionProvider '
        'CPUExecutionProvider')
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
    group = parser.add_argument_group('optimized inference')
    group.add_argument(
        '--no-fuse',
        dest='fuse',
        action='store_false',
        help='do not fold the BN layers into the convolutions')
    group.add_argument(
        '--channels-last',
        choices=('auto', 'on', 'off'),
        default='auto',
        help='channels-last weights (auto: on CUDA only)')
    group.add_argument(
        '--dtype',
        choices=sorted(DTYPES),
        default='fp32',
        help='autocast precision of the network (fp16 / bf16: CUDA only; '
        'the head decodes in fp32)')
    add_live_args(parser)
    args = parser.parse_args(argv)
    try:
        check_dtype(args.dtype, args.device)
    except ValueError as err:
        parser.error(f'--dtype: {err}')
    check_live_args(parser, args)
    if args.providers and args.backend != 'onnxruntime':
        parser.error('--providers needs --backend onnxruntime')
    if args.backend == 'onnxruntime' and (args.dtype != 'fp32'
                                          or args.channels_last == 'on'):
        parser.error('--dtype and --channels-last tune the PyTorch backend; '
                     'the onnxruntime backend runs the exported fp32 graphs '
                     '(see README "ONNX Runtime" for TensorRT fp16)')
    if args.max_frames is not None and args.max_frames < 1:
        parser.error('--max-frames must be >= 1')
    if args.camera and not args.input.isdigit():
        parser.error(f'--camera needs a camera index, got {args.input!r}')
    if not args.camera and same_file(args.input, args.output):
        parser.error(f'OUTPUT {args.output!r} is the INPUT video: writing it '
                     'would destroy the input; choose another output path')
    if '%' in osp.basename(args.output):
        # OpenCV would read it as an image-sequence pattern and write files
        # under names the atomic rename never sees.
        parser.error(f'OUTPUT {args.output!r}: a video file name, not an '
                     'image-sequence pattern (no "%")')
    return args


def add_live_args(parser: argparse.ArgumentParser) -> None:
    """Options of the live mode, tracking and machine-readable outputs."""
    group = parser.add_argument_group('live mode and tracking')
    group.add_argument(
        '--live',
        action='store_true',
        help='never fall behind the source: process the newest frame, '
        'drop the others (INPUT: camera index, stream URL or file)')
    group.add_argument(
        '--realtime',
        action='store_true',
        help='with --live: play a file at its own frame rate')
    group.add_argument(
        '--fps', type=float, help='frame rate if the source reports none')
    group.add_argument(
        '--stall-timeout',
        type=float,
        default=10.0,
        help='with --live: seconds without a frame before giving up')
    group.add_argument(
        '--track',
        action='store_true',
        help='track persons (implied by --live, --out-json, --out-csv)')
    group.add_argument(
        '--tracker-cfg',
        help='config file with a "tracker" dict (an mmdet tracker); '
        'default: the model config\'s "tracker", else ByteTracker')
    group.add_argument('--out-json', help='JSON Lines of the tracked frames')
    group.add_argument(
        '--out-csv', help='CSV of tracked actions (convert_csv.py format)')
    group.add_argument(
        '--smooth',
        choices=('ema', 'window', 'none'),
        default='ema',
        help='per-track smoothing of the class scores')
    group.add_argument('--smooth-alpha', type=float, default=0.5)
    group.add_argument('--smooth-window', type=int, default=5)
    group.add_argument(
        '--event-on-thr',
        type=float,
        help='smoothed score starting an action (default: --score-thr)')
    group.add_argument(
        '--event-off-thr',
        type=float,
        help='smoothed score ending it (default: on threshold - 0.1)')


def check_live_args(parser: argparse.ArgumentParser,
                    args: argparse.Namespace) -> None:
    """Refuse contradictory live / tracking options."""
    if args.realtime and not args.live:
        parser.error('--realtime plays a file as a live source: it needs '
                     '--live')
    if args.live and args.mode != 'per-frame':
        parser.error('--live runs the causal per-frame path; --mode '
                     f'{args.mode} is not causal')
    if args.fps is not None and not (np.isfinite(args.fps) and args.fps > 0):
        parser.error(f'--fps must be > 0, got {args.fps}')
    if not (np.isfinite(args.stall_timeout) and args.stall_timeout > 0):
        parser.error(f'--stall-timeout must be > 0, got {args.stall_timeout}')
    outputs = [args.output, args.out_json, args.out_csv]
    named = [osp.abspath(p) for p in outputs if p]
    if len(set(named)) != len(named):
        parser.error('OUTPUT, --out-json and --out-csv must be different '
                     'files')
    if args.out_json and not args.out_json.endswith(('.jsonl', '.json')):
        parser.error(f'--out-json needs a .jsonl file, got {args.out_json!r}')
    args.track = bool(args.track or args.live or args.out_json or args.out_csv)


def class_names(dataset_meta: Optional[dict], labels_file: Optional[str],
                num_classes: int) -> List[str]:
    """Class names from the model's ``dataset_meta`` (checked by
    :func:`~mmyowo.apis.init_detector` when it read the checkpoint or the
    export), else a labels file, else indices.

    Raises:
        ValueError: Naming ``labels_file``, if it is not UTF-8 text or does
            not hold ``num_classes`` names.
    """
    names = (dataset_meta or {}).get('classes')
    if names is not None:
        return list(names)
    names = []
    if labels_file:
        try:
            with open(labels_file, encoding='utf-8') as f:
                names = [line.strip() for line in f if line.strip()]
        except UnicodeDecodeError as err:
            raise ValueError(
                f'{labels_file}: not UTF-8 text ({err})') from None
    if not names:
        return [str(i) for i in range(num_classes)]
    if len(names) != num_classes:
        raise ValueError(f'{labels_file}: {len(names)} class names for a '
                         f'model with {num_classes} classes')
    return names


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


def tracker_config(args: argparse.Namespace, model_cfg: Any) -> Optional[dict]:
    """The tracker config: ``--tracker-cfg``, else the model config's
    ``tracker``, else ``None`` (the default ByteTracker)."""
    if args.tracker_cfg:
        cfg = Config.fromfile(args.tracker_cfg)
        if not isinstance(cfg.get('tracker'), dict):
            raise ValueError(f'{args.tracker_cfg}: no "tracker = dict(...)" '
                             'in this config')
        return cfg.tracker.to_dict()
    tracker = model_cfg.get('tracker') if model_cfg is not None else None
    return tracker.to_dict() if hasattr(tracker, 'to_dict') else tracker


def draw_tracked(image: np.ndarray, persons: Sequence[TrackedPerson],
                 names: Sequence[str], score_thr: float) -> np.ndarray:
    """Draw tracked persons with ``#id label score`` lines (smoothed scores),
    in place on a BGR image."""
    drawn = []
    for person in persons:
        actions = [
            ActionScore(a['label'], f'#{person.track_id} {a["action"]}',
                        a['score']) for a in person.actions(score_thr, names)
        ]
        if actions:
            drawn.append(PersonActions(person.bbox, actions))
    return draw_person_actions(image, drawn)


def run_tracked(args: argparse.Namespace, model: Any,
                detector: YOWOVideoDetector, names: List[str]) -> None:
    """The live and / or tracked demo: track, smooth, detect events, write the
    video, the JSON Lines, the events and the CSV."""
    camera = args.camera or (args.input.isdigit()
                             and not osp.exists(args.input))
    source: Any = int(args.input) if camera else args.input
    online = OnlineActionTracker(
        names,
        tracker=tracker_config(args, getattr(model, 'cfg', None)),
        smoothing=dict(
            method=args.smooth,
            alpha=args.smooth_alpha,
            window=args.smooth_window),
        events=dict(
            on_thr=args.score_thr
            if args.event_on_thr is None else args.event_on_thr,
            off_thr=args.event_off_thr))
    video_id = 'camera' if camera else osp.splitext(
        osp.basename(str(args.input).rstrip('/')))[0] or 'stream'
    writer_files = TrackingWriter(
        names,
        args.score_thr,
        json_path=args.out_json,
        csv_path=args.out_csv,
        video=video_id)
    if args.live:
        results: Iterator[Any] = detector.iter_live(
            source,
            realtime=args.realtime,
            fps=args.fps,
            stall_timeout=args.stall_timeout)
        fps = args.fps or 25.0
    else:
        reader = VideoReader(source)
        fps = args.fps or reader.fps or 25.0
        results = detector.iter_video(reader)
    writer = None
    size: Tuple[int, int] = (0, 0)
    processed, last_status = 0, 0.0
    stats = None
    failure = None
    # Written under a temporary name (with the suffix, from which OpenCV
    # picks the container) and renamed once released: an error half way
    # leaves the previous output, not a truncated video.
    with atomic_output_path(args.output) as video_tmp:
        try:
            for result in results:
                time_s = result.time if args.live else result.index / fps
                tracked = online.update(result.pred, result.index, time_s)
                image = cv2.cvtColor(result.frame, cv2.COLOR_RGB2BGR)
                writer_files.write_frame(tracked,
                                         (image.shape[1], image.shape[0]))
                for event in tracked.events:
                    print(
                        f'\n{event}' if args.live else str(event), flush=True)
                if writer is None:
                    size = (image.shape[1], image.shape[0])
                    writer = cv2.VideoWriter(video_tmp,
                                             cv2.VideoWriter_fourcc(*'mp4v'),
                                             fps, size)
                    if not writer.isOpened():
                        raise OSError(f'{args.output}: cannot open the video '
                                      'writer (mp4v)')
                draw_tracked(image, tracked.persons, names, args.score_thr)
                if (image.shape[1], image.shape[0]) != size:
                    image = cv2.resize(image, size)  # a source changing size
                writer.write(image)
                processed += 1
                if args.live:
                    stats = result.stats
                    now = time.monotonic()
                    if now - last_status >= 0.25:
                        last_status = now
                        print(
                            f'\r{stats}', end='', file=sys.stderr, flush=True)
                if args.max_frames and processed >= args.max_frames:
                    break
        except KeyboardInterrupt:
            print('\ninterrupted (Ctrl-C): closing', file=sys.stderr)
        except LiveSourceError as err:
            failure = str(err)
        finally:
            close = getattr(results, 'close', None)
            if close is not None:
                close()  # stops the reader thread of the live source
            if not args.live:
                reader.close()
            for event in online.finish():
                print(str(event))
                writer_files.write_events([event])
            # A source that never delivered a frame leaves no empty files.
            writer_files.close(keep=processed > 0)
            if writer is not None:
                writer.release()
    summary = f'\n{args.output}: {processed} frames processed'
    if stats is not None:
        summary += f' ({stats})'
    print(summary + ''.join(f'; {p}' for p in writer_files.paths))
    if failure:
        sys.exit(f'error: {failure}')


def inference_options(args: argparse.Namespace) -> InferenceOptions:
    """The :class:`InferenceOptions` of the command line."""
    layout = dict(auto='auto', on=True, off=False)[args.channels_last]
    return InferenceOptions(
        fuse=args.fuse, channels_last=layout, dtype=args.dtype)


def main(argv: Optional[Sequence[str]] = None) -> None:
    args = parse_args(argv)
    # --no-fuse / --channels-last / --dtype tune the PyTorch model; the
    # onnxruntime backend runs the exported fp32 graphs as they are.
    optimize = inference_options(args) if args.backend == 'pytorch' else None
    detector = YOWOVideoDetector(
        init_detector(
            args.config,
            args.checkpoint,
            device=args.device,
            backend=args.backend,
            providers=args.providers),
        mode=args.mode,
        clip_len=args.clip_len,
        frame_interval=args.frame_interval,
        input_size=args.input_size,
        optimize=optimize)
    # The optimized copy: the loaded model is no longer referenced.
    model = detector.model
    if detector.optimized is not None:  # set by optimize=
        print(f'Inference: {detector.optimized.describe()}')
    names = class_names(model.dataset_meta, args.labels,
                        model.bbox_head.num_classes)
    if args.track:
        run_tracked(args, model, detector, names)
        return
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
    # As in run_tracked: renamed into place once complete.
    with atomic_output_path(args.output) as video_tmp:
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
                    writer = cv2.VideoWriter(video_tmp,
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
        except KeyboardInterrupt:
            # How a camera recording ends: keep the video made so far.
            print('\ninterrupted (Ctrl-C): closing', file=sys.stderr)
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
