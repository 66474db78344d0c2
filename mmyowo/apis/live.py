"""Live video: a mode that never falls behind its source.

A reader thread (:class:`LiveSource`) grabs frames from a camera index, an
RTSP / HTTP URL or a file, as fast as they come (a file with
``realtime=True`` is played at its own frame rate, like a camera, which is
how the live mode is tested), and keeps only the last ``span`` frames
grabbed, ``span = (L - 1) p + 1`` being the clip span of the per-frame mode.
:func:`iter_live` runs the detector's causal per-frame path (key frame last,
:meth:`~mmyowo.apis.YOWOVideoDetector.detect_clips`) on the *newest* frame
each time it is free, with the clip made of the frames grabbed before it
(consecutive source frames, whether they were processed or not; before the
first frame, the first frame is repeated, as in the per-frame mode). Frames
that arrive while the model is busy and are not the newest when it is free
are dropped as key frames, and counted.

Latency bound: when the detector becomes free it takes the newest frame,
captured at most one frame interval earlier (or waits for the next one), so
the delay from a frame's capture to its result is at most one processing
time plus one frame interval, plus the scheduling delays of the two threads
(tests allow 100 ms on a loaded machine). Memory is bounded: ``span`` raw
frames and their preprocessed copies, whatever the stream's length.

Ends: the iterator stops at the end of a file, raises :class:`LiveSourceError`
with the source's name when a camera or stream stops delivering frames
(``stall_timeout`` seconds without a frame: a stalled or disconnected
source never hangs the caller) or when the source cannot be opened, and
closes the reader thread and the capture when the caller stops iterating
(``break``, Ctrl-C's ``KeyboardInterrupt``, an error).
"""
import threading
import time
from collections import deque
from pathlib import Path
from typing import (Any, Deque, Dict, Iterator, List, NamedTuple, Optional,
                    Tuple, Union)

import cv2
import numpy as np
import torch
from mmengine.structures import InstanceData

#: A live source: a camera index, a URL (``rtsp://``, ``http://`` ...) or
#: a video file.
LiveLike = Union[int, str, Path]


class LiveSourceError(RuntimeError):
    """A live source cannot be opened, stalled or disconnected."""


class GrabbedFrame(NamedTuple):
    """A frame as the reader thread grabbed it."""

    #: 0-based number of the frame in the source.
    seq: int
    #: ``time.monotonic()`` right after the frame was decoded.
    capture_time: float
    #: ``(H, W, 3)`` RGB ``uint8``.
    frame: np.ndarray


def is_url(source: Any) -> bool:
    """Whether a source is a stream URL (``scheme://...``)."""
    return isinstance(source, str) and '://' in source


class LiveSource:
    """Grab frames in a background thread, keeping only the newest ones.

    Args:
        source (int | str | Path): Camera index, stream URL or video file.
        history (int): Frames kept (the newest and those before it).
        realtime (bool): Play a file at its own frame rate (cameras and
            streams are paced by their source anyway).
        fps (float, optional): Frame rate to use when the source reports
            none (``realtime`` and timestamps).
        stall_timeout (float): Seconds without a new frame after which the
            source counts as stalled (:class:`LiveSourceError`).

    Raises:
        FileNotFoundError: A file path that does not exist.
        LiveSourceError: The source cannot be opened, or ``realtime`` with
            a frame rate that is neither reported nor given.
    """

    def __init__(self,
                 source: LiveLike,
                 history: int = 1,
                 realtime: bool = False,
                 fps: Optional[float] = None,
                 stall_timeout: float = 10.0) -> None:
        if isinstance(source, bool) or not isinstance(source,
                                                      (int, str, Path)):
            raise TypeError('a live source is a camera index, a stream URL '
                            f'or a video file, got {type(source).__name__}')
        if history < 1:
            raise ValueError(f'history must be >= 1, got {history}')
        if not stall_timeout > 0:
            raise ValueError(f'stall_timeout must be > 0, got {stall_timeout}')
        self.is_camera = isinstance(source, int)
        self.is_stream = self.is_camera or is_url(source)
        self.name = f'camera {source}' if self.is_camera else str(source)
        if not self.is_stream and not Path(self.name).is_file():
            raise FileNotFoundError(f'video file not found: {self.name}')
        self._capture = cv2.VideoCapture(
            source if isinstance(source, int) else self.name)
        if not self._capture.isOpened():
            self._capture.release()
            raise LiveSourceError(f'{self.name}: cannot open the source (no '
                                  'such camera, unreachable stream or not a '
                                  'video)')
        reported = self._capture.get(cv2.CAP_PROP_FPS)
        reported = float(reported) if np.isfinite(reported) and (
            0 < reported < 1000) else 0.0
        self.fps = float(fps) if fps else reported
        self.realtime = bool(realtime) and not self.is_stream
        if self.realtime and not self.fps:
            self._capture.release()
            raise LiveSourceError(f'{self.name}: the file reports no frame '
                                  'rate, needed to play it in real time; '
                                  'give one (fps=..., demo: --fps)')
        self.stall_timeout = float(stall_timeout)
        self.grabbed = 0
        self.ended = False
        self.start_time: Optional[float] = None
        self._frames: Deque[GrabbedFrame] = deque(maxlen=history)
        self._grab_times: Deque[float] = deque(maxlen=30)
        self._error: Optional[BaseException] = None
        self._cond = threading.Condition()
        self._stop = threading.Event()
        # A daemon thread: a capture blocked in a read of a dead stream
        # cannot keep the process alive.
        self._thread = threading.Thread(
            target=self._run, name=f'LiveSource({self.name})', daemon=True)
        self._thread.start()

    def _run(self) -> None:
        """The reader thread: grab frames until the end or :meth:`close`."""
        try:
            while not self._stop.is_set():
                if self.realtime and self.start_time is not None:
                    due = self.start_time + self.grabbed / self.fps
                    delay = due - time.monotonic()
                    if delay > 0 and self._stop.wait(delay):
                        break
                ok, bgr = self._capture.read()
                now = time.monotonic()
                if not ok:
                    break
                rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
                with self._cond:
                    if self.start_time is None:
                        self.start_time = now
                    self._frames.append(GrabbedFrame(self.grabbed, now, rgb))
                    self._grab_times.append(now)
                    self.grabbed += 1
                    self._cond.notify_all()
        except BaseException as err:  # handed to the consumer thread
            self._error = err
        finally:
            with self._cond:
                self.ended = True
                self._cond.notify_all()

    def wait_newer(self, seq: int) -> Optional[List[GrabbedFrame]]:
        """Wait for a frame newer than ``seq``; return the frames held (the
        newest last), or ``None`` at the end of the source.

        Raises:
            LiveSourceError: No new frame for ``stall_timeout`` seconds, the
                reader failed, or a camera / stream ended without a frame.
        """
        deadline = time.monotonic() + self.stall_timeout
        with self._cond:
            while not (self._frames and self._frames[-1].seq > seq):
                if self.ended:
                    break
                left = deadline - time.monotonic()
                if left <= 0:
                    raise LiveSourceError(
                        f'{self.name}: no frame for {self.stall_timeout:g} s '
                        f'after {self.grabbed} frames: the source stalled or '
                        'disconnected')
                self._cond.wait(left)
            if self._error is not None:
                raise LiveSourceError(f'{self.name}: reading failed after '
                                      f'{self.grabbed} frames: '
                                      f'{self._error}') from self._error
            if self._frames and self._frames[-1].seq > seq:
                return list(self._frames)
        if self.grabbed == 0:
            raise LiveSourceError(f'{self.name}: no frame could be read '
                                  '(empty, corrupt or disconnected source)')
        if self.is_stream:
            raise LiveSourceError(f'{self.name}: the stream ended or '
                                  f'disconnected after {self.grabbed} '
                                  'frames')
        return None

    @property
    def input_fps(self) -> float:
        """Frames grabbed per second, over the last 30 frames."""
        with self._cond:
            return _rate(self._grab_times)

    def frame_time(self, grabbed: GrabbedFrame) -> float:
        """A frame's time in seconds from the start: media time for files
        (``seq / fps``), capture time for cameras and streams."""
        if not self.is_stream and self.fps:
            return grabbed.seq / self.fps
        return grabbed.capture_time - (self.start_time or 0.0)

    def close(self) -> None:
        """Stop the reader thread and release the capture (idempotent)."""
        self._stop.set()
        self._thread.join(timeout=2.0)
        if not self._thread.is_alive():
            self._capture.release()

    def __enter__(self) -> 'LiveSource':
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class LiveStats(NamedTuple):
    """Where a live run stands (the demo's status line)."""

    #: Frames grabbed / processed / dropped (never processed) so far.
    grabbed: int
    processed: int
    dropped: int
    #: Recent input and processing rates (frames per second).
    input_fps: float
    processed_fps: float
    #: Capture-to-result delay of the last frame (seconds).
    latency: float

    def __str__(self) -> str:
        return (f'in {self.input_fps:5.1f} fps | processed '
                f'{self.processed_fps:5.1f} fps | dropped {self.dropped} | '
                f'latency {self.latency * 1000:6.1f} ms')


class LiveResult(NamedTuple):
    """One processed frame of :func:`iter_live`."""

    #: 0-based frame number in the source (gaps: dropped frames; shadows
    #: ``tuple.index``, as in :class:`~.inference.FrameResult`).
    index: int  # type: ignore[assignment]
    #: Time of the frame in seconds (see :meth:`LiveSource.frame_time`).
    time: float
    #: The ``(H, W, 3)`` RGB frame.
    frame: np.ndarray
    #: Detections in original-frame pixels.
    pred: InstanceData
    #: ``time.monotonic()`` of the capture, of the moment the detector took
    #: the frame, and of the result.
    capture_time: float
    start_time: float
    result_time: float
    stats: LiveStats

    @property
    def latency(self) -> float:
        """Seconds from the frame's capture to its result."""
        return self.result_time - self.capture_time

    @property
    def wait(self) -> float:
        """Seconds the frame waited for the detector (at most one frame
        interval, plus scheduling delays)."""
        return self.start_time - self.capture_time

    @property
    def process_time(self) -> float:
        """Seconds the detector spent on the frame (preprocessing of the clip's
        new frames included)."""
        return self.result_time - self.start_time


def _rate(times: Deque[float]) -> float:
    """Events per second over a window of monotonic times."""
    if len(times) < 2 or times[-1] <= times[0]:
        return 0.0
    return (len(times) - 1) / (times[-1] - times[0])


def iter_live(detector: Any,
              source: LiveLike,
              realtime: bool = False,
              fps: Optional[float] = None,
              stall_timeout: float = 10.0) -> Iterator[LiveResult]:
    """Run a detector live on a source: see the module docstring.

    Args:
        detector (YOWOVideoDetector): Its clip settings and
            :meth:`~mmyowo.apis.YOWOVideoDetector.detect_clips` are used
            (the causal per-frame path, whatever its ``mode``).
        source (int | str | Path): Camera index, stream URL or file.
        realtime (bool): Play a file at its own frame rate.
        fps (float, optional): Frame rate if the source reports none.
        stall_timeout (float): Seconds without a frame before
            :class:`LiveSourceError`.

    Yields:
        LiveResult: One per processed frame, in capture order.
    """
    length, step = detector.clip_len, detector.frame_interval
    span = (length - 1) * step + 1
    live = LiveSource(
        source,
        history=span,
        realtime=realtime,
        fps=fps,
        stall_timeout=stall_timeout)
    # Preprocessed frames by number, only those still in the history.
    cache: Dict[int, Tuple[torch.Tensor, dict]] = {}
    out_times: Deque[float] = deque(maxlen=30)
    last_seq, processed = -1, 0
    try:
        while True:
            held = live.wait_newer(last_seq)
            if held is None:
                return
            newest = held[-1]
            started = time.monotonic()
            by_seq = {g.seq: g for g in held}
            oldest = held[0].seq
            # The clip's frames: newest - k p, clamped to the oldest held
            # (the first frame, at the start of the stream; the history
            # holds the whole span afterwards).
            seqs = [
                max(newest.seq - k * step, oldest)
                for k in range(length - 1, -1, -1)
            ]
            for seq in list(cache):
                if seq < oldest:
                    del cache[seq]
            for seq in seqs:
                if seq not in cache:
                    inputs, meta = detector.preprocess(by_seq[seq].frame)
                    cache[seq] = (inputs, meta)
            clip = torch.stack([cache[s][0] for s in seqs], dim=1)
            pred = detector.detect_clips(
                clip.unsqueeze(0), [cache[newest.seq][1]])[0]
            done = time.monotonic()
            processed += 1
            last_seq = newest.seq
            out_times.append(done)
            stats = LiveStats(
                grabbed=live.grabbed,
                processed=processed,
                dropped=newest.seq + 1 - processed,
                input_fps=live.input_fps,
                processed_fps=_rate(out_times),
                latency=done - newest.capture_time)
            yield LiveResult(newest.seq, live.frame_time(newest), newest.frame,
                             pred, newest.capture_time, started, done, stats)
    finally:
        live.close()
