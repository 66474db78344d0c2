"""Video inference with YOWO-Plus: per-frame and streaming modes.

Both modes read a video (a file, a camera, or any iterator of ``(H, W, 3)``
RGB ``uint8`` frames) lazily, front to back, and return one detection
result per frame: an ``InstanceData`` with ``bboxes`` ``(N, 4)`` xyxy in
original-frame pixels, ``scores`` ``(N, C)`` and ``labels`` ``(N,)``
(docs/architecture.md, "Model outputs"). :meth:`FrameResult.actions` lists
per detected person every class scoring at least a threshold, highest first
(AVA style, :mod:`.results`), not only the best one in ``labels``.

Modes
-----
``'per-frame'`` (YOWO's inference)
    Every frame ``t`` is the key frame of its own clip
    ``[v_{t-(L-1)p}, ..., v_{t-p}, v_t]``: the key frame is always the
    *last* clip frame, and frame numbers before the start of the video are
    clamped to the first frame (the edge repetition of KFRS, paper §3.1).
    The result of frame ``t`` depends only on frames ``<= t``: the mode is
    causal and online (a camera gets each answer as soon as its frame
    arrives), and it suits any model, including ones trained the YOWO way
    with the key frame last. Cost per frame: one 3D pass, one 2D pass, one
    neck + head pass. Only the last ``(L - 1) p + 1`` frames are kept.

``'streaming'`` (paper §1 and §3.1: "input N frames into the 3D-CNN to obtain
global features, and use the 2D-CNN as a sliding window")
    The video is cut into consecutive windows of ``L`` frames (with a
    sampling step ``p``: chunks of ``L p`` frames, each split into ``p``
    interleaved windows ``v_{s+r}, v_{s+r+p}, ...``, so every frame belongs
    to exactly one window). One 3D pass serves all the key frames of a
    window; the 2D branch runs once per frame, batched over the window, and
    the neck and head run once per key frame, batched too. The key frames
    sit at *every* position of the window, so the mode needs a model trained
    with key-frame random sampling (KFRS, §3.1); a model trained with the
    key frame last will degrade at the early positions. It is much cheaper
    (the 3D cost, the bulk of the model, is shared by ``L`` frames) but not
    causal: a frame's result comes when its window is complete, a latency of
    up to ``L p`` frames. The last, partial window is padded by repeating its
    last frame; results are returned for the real frames only. Only the
    current chunk of ``L p`` frames is kept.

With the same clip and the same key-frame position, both paths compute
exactly the same function (``YOWO.predict`` with ``key_frame_index``);
:meth:`YOWOVideoDetector.detect_windows` is the streaming path,
:meth:`YOWOVideoDetector.detect_clips` the clip path.

Each frame is preprocessed once, as the config's test pipeline and the
model's data preprocessor do (:mod:`.preprocessing`); :mod:`.model_init`
builds the model (:func:`~mmyowo.apis.init_detector`).
"""
from contextlib import nullcontext
from pathlib import Path
from typing import (TYPE_CHECKING, Any, ContextManager, Dict, Iterable,
                    Iterator, List, NamedTuple, Optional, Sequence, Tuple,
                    Union)

import numpy as np
import torch
import torch.nn as nn
from mmaction.structures import ActionDataSample
from mmengine.config import Config
from mmengine.structures import InstanceData
from torch import Tensor

from mmyowo.deploy.optimize import (InferenceOptions, OptimizedModel,
                                    optimize_for_inference)
from .preprocessing import DEFAULT_SETTINGS, FramePreprocessor
from .results import PersonActions, person_actions
from .video_reader import VideoLike, iter_frames

if TYPE_CHECKING:
    from .live import LiveResult

MODES = ('per-frame', 'streaming')

#: Default streaming ``frame_batch`` off CUDA (see YOWOVideoDetector).
CPU_FRAME_BATCH = 4


class FrameResult(NamedTuple):
    """One frame of :meth:`YOWOVideoDetector.iter_video`."""

    #: 0-based frame number in the video (shadows ``tuple.index``, which a
    #: frame result has no use for).
    index: int  # type: ignore[assignment]
    #: The original ``(H, W, 3)`` RGB ``uint8`` frame.
    frame: np.ndarray
    #: Detections in original-frame pixels.
    pred: InstanceData

    def actions(self,
                score_thr: float,
                class_names: Optional[Sequence[str]] = None
                ) -> List[PersonActions]:
        """Every action scored at least ``score_thr``, per detected person
        (highest first; see :func:`~mmyowo.apis.person_actions`)."""
        return person_actions(self.pred, score_thr, class_names)


def resolve_frame_batch(frame_batch: Union[int, str, None],
                        device: Union[str, torch.device]) -> Optional[int]:
    """The streaming ``frame_batch`` of :class:`YOWOVideoDetector` on
    ``device``: ``'auto'`` is ``None`` (all frames at once) on CUDA and
    :data:`CPU_FRAME_BATCH` elsewhere; an int >= 1 or ``None`` is kept.

    Raises:
        ValueError: For any other value.
    """
    if frame_batch == 'auto':
        return None if torch.device(device).type == 'cuda' \
            else CPU_FRAME_BATCH
    if frame_batch is not None and (not isinstance(frame_batch, int)
                                    or frame_batch < 1):
        raise ValueError(f'frame_batch must be >= 1, None or "auto", got '
                         f'{frame_batch!r}')
    return frame_batch


def model_device(model: Any) -> torch.device:
    """The device of the tensors ``model`` reads: its ``device`` attribute when
    it has one (a model whose network runs outside PyTorch, e.g.
    mmyowo.deploy's onnxruntime model, reads host tensors), else that of its
    first parameter."""
    device = getattr(model, 'device', None)
    if isinstance(device, torch.device):
        return device
    return next(model.parameters()).device


class YOWOVideoDetector:
    """Run a YOWO model over whole videos (see the module docstring).

    Settings come from the arguments, else from the test pipeline of
    ``model.cfg``, else from :data:`~.preprocessing.DEFAULT_SETTINGS`.

    Preprocessing is the test pipeline's, frame by frame
    (:class:`~.preprocessing.FramePreprocessor`): each frame goes through
    the pipeline's own ``Resize`` transforms and is normalised as the
    model's data preprocessor does, so a clip equals what
    ``Compose(test_pipeline)`` and ``model.data_preprocessor`` give for the
    same frames; a pipeline with a transform that cannot be reproduced per
    frame is refused. The metas ``ori_shape`` / ``img_shape`` /
    ``scale_factor`` let the head rescale the boxes back to original pixels.

    Args:
        model (nn.Module): A YOWO model (e.g. from :func:`init_detector`,
            PyTorch or onnxruntime backend); it is put in eval mode.
        mode (str): ``'per-frame'`` or ``'streaming'``.
        clip_len (int, optional): Clip length ``L``.
        frame_interval (int, optional): Sampling step ``p``.
        input_size (tuple[int, int], optional): Network input ``(h, w)``;
            both must be multiples of the head's largest stride. It
            replaces the pipeline's resizes by one to this size (with the
            pipeline's interpolation).
        frame_batch (int | str, optional): Streaming mode: most key frames
            per 2D / neck / head call. ``None`` batches all frames of the
            windows at once, best on GPUs. ``'auto'`` (default) is ``None``
            on CUDA and :data:`CPU_FRAME_BATCH` elsewhere, since on CPUs
            large batches fall out of the caches (CSPDarknet53 at 224: a
            batch of 16 costs about a third more per frame than batches of
            4, measured on one thread).
        optimize (InferenceOptions, optional): Run an optimized inference
            copy of ``model`` (:func:`mmyowo.deploy.optimize_for_inference`:
            conv + BN folding, channels-last, fp16 / bf16 autocast on CUDA)
            instead of ``model`` itself, which is then left as it is.
            ``None`` (default) runs ``model``, put in eval mode, unchanged.
            The tolerances to the eager fp32 model are in the README,
            "Optimized inference".
    """

    def __init__(self,
                 model: nn.Module,
                 mode: str = 'per-frame',
                 clip_len: Optional[int] = None,
                 frame_interval: Optional[int] = None,
                 input_size: Optional[Sequence[int]] = None,
                 frame_batch: Union[int, str, None] = 'auto',
                 optimize: Optional[InferenceOptions] = None) -> None:
        if mode not in MODES:
            raise ValueError(f'mode must be one of {MODES}, got {mode!r}')
        #: The optimized copy and its settings (``None`` without
        #: ``optimize``).
        self.optimized: Optional[OptimizedModel] = None
        if optimize is not None:
            self.optimized = optimize_for_inference(model, optimize)
            model = self.optimized.model
        # Duck-typed: a YOWO, or any model with its interface (bbox_head,
        # data_preprocessor, predict, predict_windows, eval; e.g. the
        # onnxruntime model of mmyowo.deploy); typed as nn.Module, its
        # submodules would read as ``Tensor | Module``.
        yowo: Any = model
        self.model: Any = yowo.eval()
        self.device = model_device(model)
        cfg = getattr(model, 'cfg', None)
        self.preprocessor, settings = FramePreprocessor.from_config(
            cfg if isinstance(cfg, Config) else None,
            yowo.data_preprocessor,
            input_size=input_size,
            device=self.device)
        clip: Dict[str, Any] = dict(DEFAULT_SETTINGS)
        clip.update(settings)
        for key, value in (('clip_len', clip_len), ('frame_interval',
                                                    frame_interval)):
            if value is not None:
                clip[key] = value
        self.mode = mode
        self.clip_len = int(clip['clip_len'])
        self.frame_interval = int(clip['frame_interval'])
        self.input_size = self.preprocessor.input_size
        if self.clip_len < 1 or self.frame_interval < 1:
            raise ValueError(f'clip_len ({self.clip_len}) and frame_interval '
                             f'({self.frame_interval}) must be >= 1')
        stride = max(yowo.bbox_head.strides)
        if len(self.input_size) != 2 or any(s <= 0 or s % stride
                                            for s in self.input_size):
            raise ValueError(f'input_size {self.input_size} must be (h, w) '
                             f'with multiples of the largest stride {stride}')
        self.frame_batch = resolve_frame_batch(frame_batch, self.device)

    # ------------------------------------------------------------------ #
    # preprocessing
    # ------------------------------------------------------------------ #
    def preprocess(self,
                   frame: np.ndarray,
                   out: Optional[Tensor] = None) -> Tuple[Tensor, dict]:
        """Resize and normalise one ``(h, w, 3)`` RGB ``uint8`` frame, into
        ``out`` if given, as the test pipeline does.

        Returns ``(input, metas)``; see
        :meth:`~.preprocessing.FramePreprocessor.__call__`.
        """
        return self.preprocessor(frame, out)

    # ------------------------------------------------------------------ #
    # the two network paths
    # ------------------------------------------------------------------ #
    def autocast(self) -> ContextManager:
        """The context the network runs in: ``torch.autocast`` when
        ``optimize`` asked for fp16 / bf16, else a no-op. The head decodes
        in fp32 either way."""
        if self.optimized is None:
            return nullcontext()
        return self.optimized.autocast()

    @torch.inference_mode()
    def detect_clips(self,
                     clips: Tensor,
                     metas: Sequence[dict],
                     key_frame_index: Optional[int] = None
                     ) -> List[InstanceData]:
        """Clip path: one key frame per clip (``YOWO.predict``).

        Args:
            clips (Tensor): ``[B, 3, L, H, W]`` normalised clips.
            metas (sequence[dict]): ``B`` metas (see :meth:`preprocess`).
            key_frame_index (int, optional): 0-based key-frame position;
                defaults to ``L - 1`` (per-frame mode).

        Returns:
            list[InstanceData]: One result per clip, in original pixels.
        """
        if clips.dim() != 5 or clips.shape[0] != len(metas):
            raise ValueError(f'expected [B, 3, L, H, W] clips with B = '
                             f'{len(metas)} metas, got {tuple(clips.shape)}')
        key = clips.shape[2] - 1 if key_frame_index is None \
            else key_frame_index
        samples = [
            ActionDataSample(metainfo=dict(meta, key_frame_index=key))
            for meta in metas
        ]
        with self.autocast():
            preds = self.model.predict(clips, samples)
        return [s.pred_instances for s in preds]

    @torch.inference_mode()
    def detect_windows(self, windows: Tensor, metas: Sequence[Sequence[dict]]
                       ) -> List[List[InstanceData]]:
        """Streaming path: every frame of each window is a key frame
        (``YOWO.predict_windows``).

        One 3D pass per window; the 2D branch, the neck and the head run once
        per key frame, batched over all windows' frames (in batches of at
        most ``frame_batch`` frames).

        Args:
            windows (Tensor): ``[B, 3, L, H, W]`` normalised windows.
            metas (sequence[sequence[dict]]): Per window, the metas of its
                first ``n_b`` frames (``1 <= n_b <= L``): the key frames to
                detect on. The frames after them are padding and only feed
                the 3D branch.

        Returns:
            list[list[InstanceData]]: Per window, ``n_b`` results.
        """
        # The model's own streaming path (YOWO.predict_windows), which
        # mmyowo's WindowTestLoop runs too: ``mim test`` and this API give
        # the same detections.
        with self.autocast():
            return self.model.predict_windows(windows, metas, self.frame_batch)

    # ------------------------------------------------------------------ #
    # whole videos
    # ------------------------------------------------------------------ #
    def iter_video(self, video: VideoLike) -> Iterator[FrameResult]:
        """Lazily yield a :class:`FrameResult` per frame, in frame order.

        Args:
            video (VideoLike): A video file, a camera index or an iterable of
                ``(H, W, 3)`` RGB ``uint8`` frames, e.g. a
                :class:`~mmyowo.apis.VideoReader`, whose ``truncated`` and
                ``frames_read`` tell afterwards whether the file decoded
                all the frames its container announces.

        Raises:
            FileNotFoundError, VideoDecodeError: Unreadable video file.
            ValueError: No frames, or a malformed frame.

        Warns:
            VideoTruncatedWarning: A video file stops decoding before the
                frame count its container announces; the results cover the
                decoded frames only.
        """
        frames = iter_frames(video)
        if self.mode == 'per-frame':
            return self._iter_per_frame(frames)
        return self._iter_streaming(frames)

    def iter_live(self,
                  source: Union[int, str, Path],
                  realtime: bool = False,
                  fps: Optional[float] = None,
                  stall_timeout: float = 10.0) -> Iterator['LiveResult']:
        """Run live on a camera, a stream URL or a file, never falling
        behind: the causal per-frame path on the newest frame grabbed, the
        frames the model cannot keep up with dropped and counted (see
        :mod:`mmyowo.apis.live`, which documents the latency bound).

        Args:
            source: Camera index, stream URL (``rtsp://``, ``http://``) or
                video file.
            realtime: Play a file at its own frame rate, as a camera would
                deliver it.
            fps: Frame rate to use if the source reports none.
            stall_timeout: Seconds without a new frame before
                :class:`~mmyowo.apis.live.LiveSourceError`.

        Yields:
            LiveResult: Per processed frame: its number, time, frame,
            detections, capture-to-result latency and the run's counters.
        """
        # Imported here: live imports this module (its results and reader
        # build on the detector).
        from .live import iter_live
        return iter_live(
            self,
            source,
            realtime=realtime,
            fps=fps,
            stall_timeout=stall_timeout)

    def __call__(self, video: VideoLike) -> List[InstanceData]:
        """Detections of every frame of ``video`` (see :meth:`iter_video`)."""
        return [result.pred for result in self.iter_video(video)]

    @torch.inference_mode()
    def _iter_per_frame(self,
                        frames: Iterable[np.ndarray]) -> Iterator[FrameResult]:
        """Per-frame mode: one clip ending at each frame."""
        length, step = self.clip_len, self.frame_interval
        span = (length - 1) * step + 1
        # Ring buffer of the last ``span`` preprocessed frames: each frame is
        # resized and normalised once, though it enters ``length`` clips.
        ring = torch.empty((3, span, *self.input_size),
                           dtype=torch.float32,
                           device=self.device)
        offsets = torch.arange(length - 1, -1, -1) * step
        for t, frame in enumerate(frames):
            _, meta = self.preprocess(frame, out=ring[:, t % span])
            slots = (t - offsets).clamp_(min=0).remainder_(span)
            clip = ring.index_select(1, slots.to(self.device)).unsqueeze(0)
            yield FrameResult(t, frame, self.detect_clips(clip, [meta])[0])

    @torch.inference_mode()
    def _iter_streaming(self,
                        frames: Iterable[np.ndarray]) -> Iterator[FrameResult]:
        """Streaming mode: chunks of windows, every frame a key frame."""
        length, step = self.clip_len, self.frame_interval
        span = length * step
        # Frame q of a chunk is written straight into its slot: window
        # q % step, position q // step.
        windows = torch.empty((step, 3, length, *self.input_size),
                              dtype=torch.float32,
                              device=self.device)
        chunk: List[np.ndarray] = []
        metas: List[dict] = []
        start = 0
        for frame in frames:
            q = len(chunk)
            _, meta = self.preprocess(
                frame, out=windows[q % step, :, q // step])
            chunk.append(frame)
            metas.append(meta)
            if len(chunk) == span:
                yield from self._flush_chunk(windows, chunk, metas, start)
                start += span
                chunk, metas = [], []
        if chunk:
            yield from self._flush_chunk(windows, chunk, metas, start)

    def _flush_chunk(self, windows: Tensor, chunk: List[np.ndarray],
                     metas: List[dict], start: int) -> Iterator[FrameResult]:
        """Detect on a chunk's windows and yield its frames' results."""
        step = self.frame_interval
        used = min(step, len(chunk))
        window_metas = [metas[r::step] for r in range(used)]
        for r, window in enumerate(window_metas):
            n = len(window)
            # The last, partial window repeats its last frame.
            windows[r, :, n:] = windows[r, :, n - 1:n]
        preds = self.detect_windows(windows[:used], window_metas)
        for q, frame in enumerate(chunk):
            yield FrameResult(start + q, frame, preds[q % step][q // step])
