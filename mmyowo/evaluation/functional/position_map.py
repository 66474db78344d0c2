"""Frame-mAP per key-frame position of the streaming windows (paper §3.1).

The streaming mode cuts each video into windows of ``L`` frames (sampling
step ``p``) and detects on every frame of a window with one 3D pass, frame
``f`` (1-based) sitting at position ``((f - 1) mod Lp) // p`` of its window
(:func:`mmyowo.datasets.window_dataset.stream_windows`). Scoring each
position's frames apart shows how accuracy depends on where the key frame
sits in the clip, the question key-frame random sampling (KFRS) answers.
The same partition applied to per-frame detections (key frame always
last) scores the very same frames with full past context: the control.
"""
from typing import Any, Dict, Sequence

import numpy as np

from .frame_map import frame_map
from .inputs import DETECTION_COLUMNS


def frame_map_by_position(detections: np.ndarray,
                          gt: Dict[str, Any],
                          videos: Sequence[str],
                          clip_len: int,
                          frame_interval: int = 1,
                          iou_thr: float = 0.5,
                          protocol: str = 'annotated',
                          pixel_plus_one: bool = True,
                          round_boxes: bool = True) -> Dict[str, Any]:
    """Frame-mAP of the frames at each streaming-window position.

    Args:
        detections: ``(N, 8)`` rows ``[video_index, frame, label, score,
            x1, y1, x2, y2]`` on every frame of ``videos`` (as
            ``FrameMAPMetric`` saves them from ``mim test``, per-frame or
            streaming).
        gt: Canonical ground truth.
        videos: The evaluated video ids.
        clip_len: Window length ``L``.
        frame_interval: Sampling step ``p``.
        iou_thr, protocol, pixel_plus_one, round_boxes: As
            :func:`~mmyowo.evaluation.functional.frame_map`.

    Returns:
        dict with ``all`` (the :func:`frame_map` result of every frame) and
        ``positions``: per position ``0..L-1``, the :func:`frame_map`
        result of its frames (``mAP``, ``num_frames``,
        ``num_annotated_frames``, ...).

    Example:
        >>> import numpy as np
        >>> from mmyowo.evaluation.functional import frame_map_by_position
        >>> gt = dict(labels=['a'], nframes={'v': 4},
        ...           resolution={'v': (10, 10)},
        ...           gttubes={'v': {0: [np.array(
        ...               [[f, 1, 1, 5, 5] for f in range(1, 5)], float)]}})
        >>> dets = np.array([[0, f, 0, 0.9, 1, 1, 5, 5] for f in (1, 3)])
        >>> result = frame_map_by_position(dets, gt, ['v'], clip_len=2)
        >>> [round(p['mAP'], 2) for p in result['positions']]
        [1.0, 0.0]
    """
    if clip_len < 1 or frame_interval < 1:
        raise ValueError(f'clip_len ({clip_len}) and frame_interval '
                         f'({frame_interval}) must be >= 1')
    detections = np.asarray(detections, dtype=np.float64)
    if detections.size == 0:
        detections = detections.reshape(0, len(DETECTION_COLUMNS))
    if detections.ndim != 2 or detections.shape[1] != len(DETECTION_COLUMNS):
        # frame_map checks every row; the position column needs the shape.
        raise ValueError('detections must be an (n, 8) array of rows '
                         f'{list(DETECTION_COLUMNS)}, got shape '
                         f'{detections.shape}')
    nframes = [int(gt['nframes'][v]) for v in videos]
    frames = np.array([(i, f) for i, n in enumerate(nframes)
                       for f in range(1, n + 1)],
                      dtype=np.int64).reshape(-1, 2)
    span = clip_len * frame_interval
    frame_pos = ((frames[:, 1] - 1) % span) // frame_interval
    det_pos = (
        (detections[:, 1].astype(np.int64) - 1) % span) // frame_interval

    def score(keep_frames: np.ndarray, keep_dets: np.ndarray) -> Dict:
        return frame_map(
            detections[keep_dets],
            gt,
            videos,
            iou_thr,
            protocol,
            pixel_plus_one,
            round_boxes=round_boxes,
            frames=frames[keep_frames])

    everything = np.ones(len(frames), bool)
    return dict(
        all=score(everything, np.ones(len(detections), bool)),
        positions=[
            score(frame_pos == j, det_pos == j) for j in range(clip_len)
        ])
