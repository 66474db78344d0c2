"""Live mode (mmyowo/apis/live.py): a slow stand-in model on a file played in
real time stays live (bounded latency, dropped frames counted, flat memory);
stalled and disconnected sources give a clear error, never a hang."""
import threading
import time

import cv2
import numpy as np
import psutil
import pytest
import torch

from mmyowo.apis import LiveSource, LiveSourceError, YOWOVideoDetector
from mmyowo.apis import live as live_module
from .test_inference import make_model

FPS = 50.0
#: Scheduling margin of the latency bound (two threads on a loaded CI
#: machine; the bound itself is one processing time + one frame interval).
MARGIN = 0.1


def write_video(path, num, hw=(240, 320), fps=FPS):
    writer = cv2.VideoWriter(
        str(path), cv2.VideoWriter_fourcc(*'MJPG'), fps, (hw[1], hw[0]))
    rng = np.random.default_rng(0)
    base = rng.integers(0, 256, (*hw, 3), dtype=np.uint8)
    for i in range(num):
        writer.write(np.roll(base, i, axis=1))
    writer.release()
    return str(path)


@pytest.fixture(scope='module')
def detector():
    return YOWOVideoDetector(make_model(), input_size=(64, 64))


def slowed(detector, seconds):
    """The detector with a deliberately slow stand-in network: each call
    takes at least ``seconds``."""
    original = detector.detect_clips

    def slow(*args, **kwargs):
        tic = time.monotonic()
        out = original(*args, **kwargs)
        time.sleep(max(0.0, seconds - (time.monotonic() - tic)))
        return out

    detector.detect_clips = slow
    return original


def test_live_stays_live_with_a_slow_model(detector, tmp_path):
    num = 300
    video = write_video(tmp_path / 'v.avi', num)
    original = slowed(detector, 3.5 / FPS)  # 3.5 frame intervals per frame
    process = psutil.Process()
    try:
        results, rss = [], []
        for result in detector.iter_live(video, realtime=True):
            results.append(result._replace(frame=None, pred=None))
            rss.append(process.memory_info().rss)
    finally:
        detector.detect_clips = original
    interval = 1.0 / FPS
    last = results[-1]
    assert last.stats.grabbed == num
    # Never behind: each processed frame waited at most one frame interval
    # (the newest frame is taken as soon as the model is free) ...
    waits = np.array([r.wait for r in results])
    assert waits.max() <= interval + MARGIN, waits.max()
    # ... so its delay is at most one processing time plus that interval,
    # over all the hundreds of frames (it does not grow with time).
    latency = np.array([r.latency for r in results])
    assert (latency <= np.array([r.process_time
                                 for r in results]) + interval + MARGIN).all()
    assert latency[-50:].mean() <= latency[:50].mean() + MARGIN
    # The frames it could not keep up with were dropped and counted.
    indices = [r.index for r in results]
    assert indices == sorted(set(indices))
    assert last.stats.processed == len(results)
    assert last.stats.dropped == indices[-1] + 1 - len(results)
    assert 0.5 * num < last.stats.dropped < num
    assert last.stats.input_fps == pytest.approx(FPS, rel=0.2)
    assert 0 < last.stats.processed_fps < FPS / 2
    # Media time of the file's frames.
    assert results[10].time == pytest.approx(results[10].index / FPS)
    # Flat memory: 300 frames of 230 kB each would be 69 MB if kept.
    assert max(rss[len(rss) // 4:]) - rss[len(rss) // 4] < 20 * 2**20


def test_live_clip_is_made_of_the_grabbed_frames(detector, tmp_path):
    """The clip of a processed frame is the frames grabbed just before it,
    dropped ones included: the same as the per-frame mode's clip."""
    video = write_video(tmp_path / 'v.avi', 40, hw=(48, 80))
    seen = []
    original = detector.detect_clips

    def spy(clips, metas, key_frame_index=None):
        seen.append(clips.clone())
        time.sleep(0.05)
        return original(clips, metas, key_frame_index)

    detector.detect_clips = spy
    try:
        results = list(detector.iter_live(video, realtime=True))
    finally:
        detector.detect_clips = original
    frames = []
    capture = cv2.VideoCapture(video)
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        frames.append(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB))
    step, length = detector.frame_interval, detector.clip_len
    for result, clip in list(zip(results, seen))[-3:]:
        seqs = [
            max(result.index - k * step, 0) for k in range(length - 1, -1, -1)
        ]
        expected = torch.stack(
            [detector.preprocess(frames[s])[0] for s in seqs], dim=1)
        assert torch.allclose(clip[0], expected)


class FakeCapture:
    """A camera / stream that delivers ``frames`` frames, then stalls (blocks)
    or disconnects (``read`` fails)."""

    def __init__(self, frames, stall):
        self.frames, self.stall = frames, stall
        self.count = 0
        self.release_event = threading.Event()

    def isOpened(self):
        return True

    def get(self, prop):
        return 25.0 if prop == cv2.CAP_PROP_FPS else 0.0

    def read(self):
        if self.count >= self.frames:
            if self.stall:
                self.release_event.wait(5.0)
            return False, None
        self.count += 1
        time.sleep(0.01)
        return True, np.zeros((48, 80, 3), np.uint8)

    def release(self):
        self.release_event.set()


@pytest.mark.parametrize('stall', [True, False])
def test_stalled_or_disconnected_stream(detector, monkeypatch, stall):
    capture = FakeCapture(5, stall)
    monkeypatch.setattr(live_module.cv2, 'VideoCapture', lambda *a: capture)
    results = []
    tic = time.monotonic()
    message = 'stalled or disconnected' if stall else 'ended or disconnected'
    with pytest.raises(LiveSourceError, match=message) as err:
        for result in detector.iter_live(
                'rtsp://camera.invalid/live', stall_timeout=0.5):
            results.append(result)
    assert 'rtsp://camera.invalid/live' in str(err.value)
    assert 'after 5 frames' in str(err.value)
    assert results and time.monotonic() - tic < 4.0


def test_source_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match='missing.avi'):
        LiveSource(str(tmp_path / 'missing.avi'))
    bad = tmp_path / 'bad.avi'
    bad.write_bytes(b'not a video')
    with pytest.raises(LiveSourceError, match='bad.avi'):
        LiveSource(str(bad))
    with pytest.raises(TypeError, match='camera index'):
        LiveSource(True)


def test_stop_closes_the_reader(detector, tmp_path):
    """Leaving the loop (break, Ctrl-C) stops the reader thread."""
    video = write_video(tmp_path / 'v.avi', 200, hw=(48, 80))
    results = detector.iter_live(video, realtime=True)
    next(results)
    name = f'LiveSource({video})'
    assert name in {t.name for t in threading.enumerate()}
    results.close()  # what a break or a KeyboardInterrupt does
    assert name not in {t.name for t in threading.enumerate()}
