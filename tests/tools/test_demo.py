"""tools/demo.py: class names, drawing and end-to-end runs on a video."""
import importlib.util
import json
import os
import os.path as osp
import threading
import time
import warnings

import cv2
import numpy as np
import pytest
import torch
from mmaction.registry import MODELS
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmengine.structures import InstanceData

from mmyowo.apis import VideoTruncatedWarning, YOWOVideoDetector
from mmyowo.utils.atomic_io import is_temporary
from mmyowo.utils.checkpoint import CheckpointLoadError
from mmyowo.visualization.action_labels import PALETTE
from .._paths import UCF24_MINI_VIDEOS as UCF24_MINI
from ..apis.test_video_reader import (opencv_counts, truncate,
                                      write_truncated_avi)
from ..models._cfgs import small_yowo_cfg

TOOLS = osp.join(osp.dirname(__file__), '..', '..', 'tools')


def _load_tool(path, name):
    spec = importlib.util.spec_from_file_location(name, osp.join(TOOLS, path))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


demo = _load_tool('demo.py', 'mmyowo_demo_tool')
export_tool = _load_tool('deployment/export_onnx.py', 'mmyowo_export_tool')


@pytest.fixture
def model_files(tmp_path):
    """A small random model saved as a config file and a checkpoint with class
    names."""
    cfg = small_yowo_cfg(num_classes=3)
    init_default_scope('mmaction')
    torch.manual_seed(0)
    model = MODELS.build(cfg)
    cfg_file = str(tmp_path / 'cfg.py')
    Config(dict(model=cfg)).dump(cfg_file)
    ckpt = str(tmp_path / 'model.pth')
    torch.save(
        {
            'state_dict': model.state_dict(),
            'meta': {
                'dataset_meta': {
                    'classes': ['run', 'jump', 'walk']
                }
            }
        }, ckpt)
    return cfg_file, ckpt


def read_back(path):
    capture = cv2.VideoCapture(path)
    frames = []
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        frames.append(frame)
    capture.release()
    return frames


def test_class_names(tmp_path):
    meta = {'classes': ['a', 'b']}
    assert demo.class_names(meta, None, 2) == ['a', 'b']
    labels = tmp_path / 'labels.txt'
    labels.write_text('x\ny\n\n')
    assert demo.class_names(None, str(labels), 2) == ['x', 'y']
    assert demo.class_names(meta, str(labels), 2) == ['a', 'b']
    assert demo.class_names({}, None, 3) == ['0', '1', '2']
    with pytest.raises(ValueError, match='labels.txt: 2 class names'):
        demo.class_names(None, str(labels), 3)


def test_class_names_from_an_unreadable_labels_file(tmp_path):
    labels = tmp_path / 'labels.txt'
    labels.write_bytes(b'\xff\xfe\x00bad')
    with pytest.raises(ValueError, match='labels.txt: not UTF-8'):
        demo.class_names(None, str(labels), 3)


def test_demo_refuses_a_checkpoint_with_bad_meta(model_files, tmp_path):
    cfg_file, ckpt = model_files
    checkpoint = torch.load(ckpt, weights_only=True)
    checkpoint['meta'] = [1, 2, 3]
    torch.save(checkpoint, ckpt)
    with pytest.raises(CheckpointLoadError, match='meta must be a dict'):
        demo.main([
            cfg_file, ckpt,
            str(tmp_path / 'missing.mp4'),
            str(tmp_path / 'out.mp4')
        ])


def test_draw_detections():
    image = np.zeros((60, 80, 3), np.uint8)
    pred = InstanceData(
        bboxes=torch.tensor([[10., 12., 50., 40.], [55., 5., 75., 55.]]),
        scores=torch.tensor([[0.1, 0.9, 0.2], [0.3, 0.1, 0.2]]),
        labels=torch.tensor([1, 0]))
    demo.draw_detections(image, pred, ['a', 'b', 'c'], score_thr=0.5)
    # The confident box is drawn in class 1's colour (bottom edge, below
    # the label), the other one not at all.
    assert tuple(image[40, 30]) == PALETTE[1]
    assert not image[:, 55:].any()


def test_draw_detections_stacks_every_class_above_the_threshold():
    """A person with two classes at or above the threshold gets two label lines
    (AVA style), in the colour of its best class; a class below it gets
    none."""
    (_, text_h), base = cv2.getTextSize('Ag', cv2.FONT_HERSHEY_SIMPLEX, 0.45,
                                        1)
    line_h = text_h + base + 2
    pred = InstanceData(
        bboxes=torch.tensor([[10., 5., 70., 8.]]),
        scores=torch.tensor([[0.6, 0.9, 0.4]]),
        labels=torch.tensor([1]))
    image = np.zeros((80, 100, 3), np.uint8)
    demo.draw_detections(image, pred, ['a', 'b', 'c'], score_thr=0.5)
    column = image[:, 11]  # inside the label backgrounds, left of the text
    assert tuple(column[5 + line_h // 2]) == PALETTE[1]
    assert tuple(column[5 + line_h + line_h // 2]) == PALETTE[1]
    assert not column[5 + 2 * line_h + 1:].any()


@pytest.mark.parametrize('mode', ['per-frame', 'streaming'])
def test_demo_on_ucf24_mini(model_files, tmp_path, mode):
    cfg_file, ckpt = model_files
    video = osp.join(
        UCF24_MINI,
        sorted(f for f in os.listdir(UCF24_MINI) if f.endswith('.mp4'))[0])
    capture = cv2.VideoCapture(video)
    width = int(capture.get(cv2.CAP_PROP_FRAME_WIDTH))
    height = int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT))
    capture.release()
    out = str(tmp_path / 'out' / 'annotated.mp4')
    demo.main([
        cfg_file, ckpt, video, out, '--mode', mode, '--max-frames', '5',
        '--clip-len', '3', '--input-size', '64', '64', '--score-thr', '0.3'
    ])
    frames = read_back(out)
    assert len(frames) == 5
    assert frames[0].shape == (height, width, 3)


def test_demo_on_generated_video(model_files, tmp_path):
    """No class names in the checkpoint: they come from --labels."""
    cfg_file, _ = model_files
    init_default_scope('mmaction')
    model = MODELS.build(small_yowo_cfg(num_classes=3))
    ckpt = str(tmp_path / 'bare.pth')
    torch.save({'state_dict': model.state_dict()}, ckpt)
    labels = tmp_path / 'labels.txt'
    labels.write_text('p\nq\nr\n')
    video = str(tmp_path / 'in.mp4')
    writer = cv2.VideoWriter(video, cv2.VideoWriter_fourcc(*'mp4v'), 8.0,
                             (96, 72))
    rng = np.random.default_rng(0)
    for _ in range(7):
        writer.write(rng.integers(0, 256, (72, 96, 3), dtype=np.uint8))
    writer.release()
    out = str(tmp_path / 'out.mp4')
    demo.main([
        cfg_file, ckpt, video, out, '--mode', 'streaming', '--clip-len', '4',
        '--input-size', '64', '64', '--labels',
        str(labels)
    ])
    frames = read_back(out)
    assert len(frames) == 7
    assert frames[0].shape == (72, 96, 3)
    with pytest.raises(FileNotFoundError, match='nothing.mp4'):
        demo.main([cfg_file, ckpt, str(tmp_path / 'nothing.mp4'), out])


def test_demo_on_truncated_avi(model_files, tmp_path, capsys):
    """Decision (README): the demo processes the frames that decode, warns
    naming the file and the frame where decoding stopped, says so in its
    summary and exits 0; ``--strict`` exits 1 after writing the output."""
    cfg_file, ckpt = model_files
    video, decoded = write_truncated_avi(tmp_path, num=24)
    out = str(tmp_path / 'out.mp4')
    args = [
        cfg_file, ckpt, video, out, '--clip-len', '2', '--input-size', '64',
        '64'
    ]
    with pytest.warns(
            VideoTruncatedWarning,
            match=rf'cut\.avi: decoding stopped at frame '
            rf'{decoded} \(0-based\) of the 24 frames'):
        demo.main(args)
    assert len(read_back(out)) == decoded
    summary = capsys.readouterr().out.strip().splitlines()[-1]
    assert summary.startswith(f'{out}: {decoded} frames, ')
    assert summary.endswith(
        f'; WARNING: {video} stopped decoding at frame {decoded} of the 24 '
        'frames its container announces (truncated or corrupt)')

    os.remove(out)
    with pytest.warns(VideoTruncatedWarning):
        with pytest.raises(SystemExit) as exit_info:
            demo.main(args + ['--strict'])
    assert exit_info.value.code == (
        f'{video}: truncated or corrupt input (--strict): {decoded} of 24 '
        'announced frames decoded')  # a message: exit status 1
    assert len(read_back(out)) == decoded

    # --max-frames within the decodable part: nothing to report.
    with warnings.catch_warnings():
        warnings.simplefilter('error', VideoTruncatedWarning)
        demo.main(args + ['--max-frames', '2', '--strict'])
    assert capsys.readouterr().out.strip().splitlines()[-1].endswith(
        '(per-frame)')


def test_demo_summary_on_raw_stream(model_files, tmp_path, capsys):
    """A truncated ucf24-mini stream announces no frame count: the summary
    says that completeness could not be checked."""
    cfg_file, ckpt = model_files
    video = truncate(
        osp.join(UCF24_MINI, 'v_CliffDiving_g03_c01.mp4'),
        tmp_path / 'cliff.mp4',
        keep=0.05)
    decoded = opencv_counts(video)[1]
    out = str(tmp_path / 'out.mp4')
    demo.main([
        cfg_file, ckpt, video, out, '--mode', 'streaming', '--clip-len', '2',
        '--input-size', '64', '64', '--strict'
    ])
    assert len(read_back(out)) == decoded
    summary = capsys.readouterr().out.strip().splitlines()[-1]
    assert summary.startswith(f'{out}: {decoded} frames, ')
    assert summary.endswith(
        f'; {video} announces no frame count (e.g. a raw stream): whether '
        'it was complete cannot be checked')


def two_actors(clips, metas, key_frame_index=None):
    """A slow stand-in network: two persons, one running, one jumping, in
    original-frame pixels (30 ms per call, slower than a 50 fps source)."""
    time.sleep(0.03)
    return [
        InstanceData(
            bboxes=torch.tensor([[4., 4., 30., 40.], [44., 6., 76., 44.]]),
            scores=torch.tensor([[0.9, 0.05, 0.02], [0.05, 0.8, 0.02]]),
            labels=torch.tensor([0, 1])) for _ in metas
    ]


def write_grey_video(path, frames, fps, step):
    """An 80x48 MJPG video of ``frames`` uniform frames, frame i of grey level
    ``step * i``."""
    writer = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*'MJPG'), fps,
                             (80, 48))
    for i in range(frames):
        writer.write(np.full((48, 80, 3), step * i, np.uint8))
    writer.release()
    return path


def test_demo_live_realtime(model_files, tmp_path, monkeypatch, capsys):
    cfg_file, ckpt = model_files
    video = write_grey_video(str(tmp_path / 'in.avi'), 60, 50, 2)
    monkeypatch.setattr(YOWOVideoDetector, 'detect_clips', two_actors)
    out = str(tmp_path / 'out.mp4')
    jsonl, csv_file = str(tmp_path / 'p.jsonl'), str(tmp_path / 'p.csv')
    demo.main([
        cfg_file, ckpt, video, out, '--live', '--realtime', '--input-size',
        '64', '64', '--out-json', jsonl, '--out-csv', csv_file
    ])
    captured = capsys.readouterr()
    assert 'dropped' in captured.err and 'latency' in captured.err
    assert '#0 run started 00:00.00' in captured.out
    assert '#1 jump started 00:00.00' in captured.out
    assert '#0 run ended' in captured.out
    records = [json.loads(line) for line in open(jsonl)]
    frames = [r['frame'] for r in records]
    assert frames == sorted(set(frames)) and frames[-1] <= 59
    assert len(frames) < 60  # the slow stand-in could not keep up
    assert len(read_back(out)) == len(records)
    last = records[-1]['persons']
    assert [(p['track_id'], p['actions'][0]['action'])
            for p in last] == [(0, 'run'), (1, 'jump')]
    events = [
        json.loads(line) for line in open(str(tmp_path / 'p.events.jsonl'))
    ]
    assert sorted(
        (e['track_id'], e['event']) for e in events) == [(0, 'ended'),
                                                         (0, 'started'),
                                                         (1, 'ended'),
                                                         (1, 'started')]
    rows = open(csv_file).read().splitlines()
    assert rows[0] == 'video,frame,x1,y1,x2,y2,label,track_id'
    assert rows[1].startswith('in,') and rows[1].endswith(',run,0')


def test_demo_tracked_file_mode(model_files, tmp_path, monkeypatch):
    """--out-json without --live: every frame, in order, tracked."""
    cfg_file, ckpt = model_files
    video = write_grey_video(str(tmp_path / 'in.avi'), 12, 25, 10)
    monkeypatch.setattr(YOWOVideoDetector, 'detect_clips', two_actors)
    jsonl = str(tmp_path / 'p.jsonl')
    demo.main([
        cfg_file, ckpt, video,
        str(tmp_path / 'out.mp4'), '--input-size', '64', '64', '--out-json',
        jsonl
    ])
    records = [json.loads(line) for line in open(jsonl)]
    assert [r['frame'] for r in records] == list(range(12))
    assert records[3]['time'] == pytest.approx(3 / 25)
    assert {p['track_id'] for r in records for p in r['persons']} == {0, 1}


def test_demo_live_ctrl_c_keeps_the_files(model_files, tmp_path, monkeypatch,
                                          capsys):
    """Ctrl-C (a KeyboardInterrupt in the loop) stops cleanly: the reader
    thread ends, open actions end, every file is written."""
    cfg_file, ckpt = model_files
    video = write_grey_video(str(tmp_path / 'in.avi'), 200, 50, 1)
    calls = []

    def interrupted(*args, **kwargs):
        calls.append(1)
        if len(calls) == 6:
            raise KeyboardInterrupt
        return two_actors(*args, **kwargs)

    monkeypatch.setattr(YOWOVideoDetector, 'detect_clips', interrupted)
    jsonl = str(tmp_path / 'p.jsonl')
    demo.main([
        cfg_file, ckpt, video,
        str(tmp_path / 'out.mp4'), '--live', '--realtime', '--input-size',
        '64', '64', '--out-json', jsonl
    ])
    captured = capsys.readouterr()
    assert 'interrupted (Ctrl-C)' in captured.err
    assert len(open(jsonl).read().splitlines()) == 5
    events = open(str(tmp_path / 'p.events.jsonl')).read()
    assert events.count('"ended"') == 2
    assert not [
        t for t in threading.enumerate() if video in t.name and t.is_alive()
    ]


@pytest.mark.parametrize('tracked', [False, True])
def test_demo_error_keeps_the_previous_output(model_files, tmp_path,
                                              monkeypatch, tracked):
    """The video is written under a temporary name and renamed when
    complete: an error half way used to leave a truncated video in place of
    the previous one."""
    cfg_file, ckpt = model_files
    video = write_grey_video(str(tmp_path / 'in.avi'), 12, 25, 10)
    monkeypatch.setattr(YOWOVideoDetector, 'detect_clips', two_actors)
    out_dir = tmp_path / 'out'
    out = out_dir / 'out.mp4'
    args = [cfg_file, ckpt, video, str(out), '--input-size', '64', '64']
    if tracked:
        args += ['--out-json', str(out_dir / 'p.jsonl')]
    demo.main(args)
    previous = out.read_bytes()
    assert len(read_back(str(out))) == 12
    assert not [n for n in os.listdir(out_dir) if is_temporary(n)]
    drawn = []

    def draw_then_fail(image, *rest):
        drawn.append(1)
        if len(drawn) == 3:
            raise RuntimeError('drawing failed')
        return image

    drawing = 'draw_tracked' if tracked else 'draw_detections'
    monkeypatch.setattr(demo, drawing, draw_then_fail)
    with pytest.raises(RuntimeError, match='drawing failed'):
        demo.main(args)
    assert out.read_bytes() == previous
    assert not [n for n in os.listdir(out_dir) if is_temporary(n)]


@pytest.mark.parametrize('tracked', [False, True])
def test_demo_ctrl_c_keeps_the_video_so_far(model_files, tmp_path, monkeypatch,
                                            capsys, tracked):
    """Ctrl-C is how a camera recording ends: the frames written before it
    make the output video (the temporary is renamed, not removed)."""
    cfg_file, ckpt = model_files
    video = write_grey_video(str(tmp_path / 'in.avi'), 12, 25, 10)
    monkeypatch.setattr(YOWOVideoDetector, 'detect_clips', two_actors)
    drawn = []

    def draw_then_interrupt(image, *rest):
        drawn.append(1)
        if len(drawn) == 6:
            raise KeyboardInterrupt
        return image

    drawing = 'draw_tracked' if tracked else 'draw_detections'
    monkeypatch.setattr(demo, drawing, draw_then_interrupt)
    out = tmp_path / 'out.mp4'
    args = [cfg_file, ckpt, video, str(out), '--input-size', '64', '64']
    if tracked:
        args += ['--out-json', str(tmp_path / 'p.jsonl')]
    demo.main(args)
    assert 'interrupted (Ctrl-C)' in capsys.readouterr().err
    assert len(read_back(str(out))) == 5
    assert not [n for n in os.listdir(tmp_path) if is_temporary(n)]


@pytest.mark.parametrize('extra, message', [
    (['--realtime'], 'needs --live'),
    (['--live', '--mode', 'streaming'], 'not causal'),
    (['--out-json', 'OUT'], 'different files'),
    (['--out-json', 'x.txt'], '.jsonl'),
    (['--live', '--stall-timeout', '0'], '--stall-timeout must be > 0'),
])
def test_demo_live_arguments(tmp_path, capsys, extra, message):
    out = str(tmp_path / 'o.mp4')
    extra = [out if e == 'OUT' else e for e in extra]
    with pytest.raises(SystemExit):
        demo.parse_args(['c.py', 'm.pth', 'in.mp4', out] + extra)
    assert message in capsys.readouterr().err


def test_demo_refuses_an_image_sequence_output(tmp_path, capsys):
    """OpenCV reads "%04d" as a frame pattern and would write files the atomic
    rename never sees."""
    with pytest.raises(SystemExit):
        demo.parse_args(
            ['c.py', 'm.pth', 'in.mp4',
             str(tmp_path / 'f_%04d.png')])
    assert 'not an image-sequence pattern' in capsys.readouterr().err


@pytest.mark.parametrize('dtype', ['fp16', 'bf16'])
def test_demo_refuses_reduced_precision_on_cpu(tmp_path, capsys, dtype):
    with pytest.raises(SystemExit):
        demo.parse_args([
            'c.py', 'm.pth', 'in.mp4',
            str(tmp_path / 'o.mp4'), '--dtype', dtype
        ])
    assert 'CUDA only' in capsys.readouterr().err


def test_demo_optimization_flags(model_files, tmp_path, capsys):
    """Folding is on by default and said; --no-fuse and --channels-last reach
    the detector."""
    cfg_file, ckpt = model_files
    video = osp.join(UCF24_MINI, 'v_Basketball_g07_c04.mp4')
    common = [
        '--max-frames', '2', '--clip-len', '3', '--input-size', '64', '64'
    ]
    demo.main([cfg_file, ckpt, video, str(tmp_path / 'a.mp4')] + common)
    assert 'Inference: conv+BN folded (' in capsys.readouterr().out
    demo.main([
        cfg_file, ckpt, video,
        str(tmp_path / 'b.mp4'), '--no-fuse', '--channels-last', 'on'
    ] + common)
    assert 'Inference: no folding, channels-last, fp32' in \
        capsys.readouterr().out


def test_demo_live_source_errors(model_files, tmp_path, monkeypatch):
    """A missing file or a stream that delivers nothing: a clear error
    naming it, and no empty output files."""
    cfg_file, ckpt = model_files
    jsonl = str(tmp_path / 'p.jsonl')
    args = [str(tmp_path / 'o.mp4'), '--live', '--out-json', jsonl]
    with pytest.raises(FileNotFoundError, match='missing.avi'):
        demo.main([cfg_file, ckpt, str(tmp_path / 'missing.avi')] + args)
    assert not os.path.exists(jsonl)
    monkeypatch.setattr(
        'mmyowo.apis.live.cv2.VideoCapture', lambda *a: type(
            'Dead', (), {
                'isOpened': lambda self: True,
                'get': lambda self, prop: 25.0,
                'read': lambda self: (False, None),
                'release': lambda self: None
            })())
    with pytest.raises(SystemExit, match='rtsp://cam.invalid/x: no frame'):
        demo.main([cfg_file, ckpt, 'rtsp://cam.invalid/x'] + args)
    assert not os.path.exists(jsonl)


def test_demo_onnxruntime_backend(model_files, tmp_path):
    """--backend onnxruntime runs an export directory of the checkpoint:
    the class names come from its manifest."""
    cfg_file, ckpt = model_files
    onnx_dir = str(tmp_path / 'onnx')
    export_tool.main([
        cfg_file, '--checkpoint', ckpt, '--out-dir', onnx_dir, '--clip-len',
        '3', '--shape', '64', '64', '--no-verify'
    ])
    video = osp.join(
        UCF24_MINI,
        sorted(f for f in os.listdir(UCF24_MINI) if f.endswith('.mp4'))[0])
    out = str(tmp_path / 'annotated.mp4')
    demo.main([
        cfg_file, onnx_dir, video, out, '--backend', 'onnxruntime',
        '--max-frames', '4', '--clip-len', '3', '--input-size', '64', '64'
    ])
    assert len(read_back(out)) == 4
    with pytest.raises(SystemExit):
        demo.parse_args([
            cfg_file, onnx_dir, video, out, '--providers',
            'CPUExecutionProvider'
        ])
