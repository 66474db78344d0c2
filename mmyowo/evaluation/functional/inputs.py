"""Parse and check the inputs of the evaluation functions.

Detections are rows ``[video_index, frame (1-based), label (0-based), score,
x1, y1, x2, y2]`` (``docs/architecture.md``), ``video_index`` indexing the
list of evaluated videos; ground truth is the canonical ACT-style dict.
"""
from typing import Any, Callable, Dict, NamedTuple, Optional, Sequence

import numpy as np

DETECTION_COLUMNS = ('video_index', 'frame', 'label', 'score', 'x1', 'y1',
                     'x2', 'y2')


class Detections(NamedTuple):
    """Columns of a detection array, typed."""
    video: np.ndarray  # (n,) int64 index into the video list
    frame: np.ndarray  # (n,) int64 1-based frame number
    label: np.ndarray  # (n,) int64 0-based class
    score: np.ndarray  # (n,) float64
    boxes: np.ndarray  # (n, 4) float64 xyxy

    def select(self, mask: np.ndarray) -> 'Detections':
        """The rows picked by a bool mask or an index array."""
        return Detections(*(col[mask] for col in self))


class GroundTruthBoxes(NamedTuple):
    """Every ground-truth box of the evaluated videos, one row each.

    Rows are ordered by video (in the order of the video list), then label,
    then tube, then frame within the tube.
    """
    video: np.ndarray  # (m,) int64 index into the video list
    frame: np.ndarray  # (m,) int64
    label: np.ndarray  # (m,) int64
    tube: np.ndarray  # (m,) int64 global tube number
    boxes: np.ndarray  # (m, 4) float64

    def select(self, mask: np.ndarray) -> 'GroundTruthBoxes':
        """The rows picked by a bool mask or an index array."""
        return GroundTruthBoxes(*(col[mask] for col in self))


def check_videos(gt: Dict[str, Any], videos: Sequence[str]) -> np.ndarray:
    """Return the ``nframes`` of ``videos``; raise for an unknown video."""
    unknown = [v for v in videos if v not in gt['nframes']]
    if unknown:
        raise ValueError(f'{len(unknown)} evaluated video(s) are unknown to '
                         f'the ground truth (no nframes entry), e.g. '
                         f'{unknown[:3]}')
    return np.array([gt['nframes'][v] for v in videos], dtype=np.int64)


def parse_detections(detections: np.ndarray, videos: Sequence[str],
                     nframes: Optional[np.ndarray],
                     num_classes: int) -> Detections:
    """Split a detection array into typed columns and check every row.

    Args:
        detections: ``(n, 8)`` array, see the module docstring.
        videos: Evaluated video ids (``video_index`` indexes them).
        nframes: ``(len(videos),)`` frame count of each video; ``None``
            checks only ``frame >= 1``.
        num_classes: Number of classes.

    Raises:
        ValueError: Naming the first offending row, for a wrong shape, a
            non-finite value, a non-integer index column, a video index
            outside ``videos``, a frame outside ``[1, nframes]``, a label
            outside ``[0, num_classes)`` or a box with ``x2 < x1`` or
            ``y2 < y1``.
    """
    dets = np.asarray(detections)
    if dets.size == 0:
        dets = dets.reshape(0, len(DETECTION_COLUMNS))
    if dets.ndim != 2 or dets.shape[1] != len(DETECTION_COLUMNS):
        raise ValueError('detections must be an (n, 8) array of rows '
                         f'{list(DETECTION_COLUMNS)}, got shape {dets.shape}')
    dets = dets.astype(np.float64, copy=False)

    def fail(mask: np.ndarray, problem: Callable[[int], str]) -> None:
        if mask.any():
            row = int(np.flatnonzero(mask)[0])
            raise ValueError(f'detections row {row} '
                             f'({dets[row].tolist()}): {problem(row)}')

    fail(~np.isfinite(dets).all(axis=1), lambda row: 'non-finite value')
    index_cols = dets[:, :3]
    fail((index_cols != np.round(index_cols)).any(axis=1),
         lambda row: 'video_index, frame and label must be integers')
    video = dets[:, 0].astype(np.int64)
    frame = dets[:, 1].astype(np.int64)
    label = dets[:, 2].astype(np.int64)
    fail((video < 0) | (video >= len(videos)), lambda row:
         f'video index outside [0, {len(videos)}) (the evaluated videos)')
    fail(frame < 1, lambda row: 'frame numbers start at 1')
    if nframes is not None:
        fail(
            frame > nframes[video], lambda row:
            f'frame beyond the {nframes[video[row]]} frames of video '
            f'{videos[video[row]]!r}')
    fail((label < 0) | (label >= num_classes),
         lambda row: f'label outside [0, {num_classes})')
    boxes = dets[:, 4:8]
    fail((boxes[:, 2] < boxes[:, 0]) | (boxes[:, 3] < boxes[:, 1]),
         lambda row: 'box with x2 < x1 or y2 < y1')
    return Detections(video, frame, label, dets[:, 3].copy(), boxes.copy())


def parse_frames(frames: np.ndarray, videos: Sequence[str],
                 nframes: np.ndarray) -> np.ndarray:
    """Check a list of evaluated frames and return their frame keys.

    Args:
        frames: ``(m, 2)`` rows ``[video_index, frame (1-based)]``, e.g. the
            key frames a strided test set predicted; repeats are allowed.
        videos: Evaluated video ids (``video_index`` indexes them).
        nframes: ``(len(videos),)`` frame count of each video.

    Returns:
        Sorted unique int64 keys (:func:`frame_keys`) of the frames.

    Raises:
        ValueError: Naming the first offending row, for a wrong shape, a
            non-integer value, a video index outside ``videos`` or a frame
            outside ``[1, nframes]``.
    """
    rows = np.asarray(frames)
    if rows.size == 0:
        rows = rows.reshape(0, 2)
    if rows.ndim != 2 or rows.shape[1] != 2:
        raise ValueError('frames must be an (m, 2) array of rows [video_index'
                         f', frame], got shape {rows.shape}')
    rows = rows.astype(np.float64, copy=False)

    def fail(mask: np.ndarray, problem: str) -> None:
        if mask.any():
            row = int(np.flatnonzero(mask)[0])
            raise ValueError(f'frames row {row} ({rows[row].tolist()}): '
                             f'{problem}')

    fail(~np.isfinite(rows).all(axis=1) | (rows != np.round(rows)).any(1),
         'video_index and frame must be integers')
    video, frame = rows[:, 0].astype(np.int64), rows[:, 1].astype(np.int64)
    fail((video < 0) | (video >= len(videos)),
         f'video index outside [0, {len(videos)})')
    fail((frame < 1) | (frame > nframes[video]),
         'frame outside [1, nframes] of its video')
    return np.unique(frame_keys(video, frame, nframes))


def flatten_ground_truth(gt: Dict[str, Any],
                         videos: Sequence[str]) -> GroundTruthBoxes:
    """Every ground-truth box of ``videos`` as flat arrays.

    Args:
        gt: Canonical ground truth (int label keys, ``(n, 5)`` tubes).
        videos: Evaluated video ids.
    """
    video, label, tube, arrays = [], [], [], []
    num_tubes = 0
    for index, name in enumerate(videos):
        tubes = gt['gttubes'].get(name, {})
        for lab in sorted(tubes):
            for array in tubes[lab]:
                array = np.asarray(array, dtype=np.float64).reshape(-1, 5)
                video.append(np.full(len(array), index, np.int64))
                label.append(np.full(len(array), lab, np.int64))
                tube.append(np.full(len(array), num_tubes, np.int64))
                arrays.append(array)
                num_tubes += 1
    if not arrays:
        empty = np.zeros(0, np.int64)
        return GroundTruthBoxes(empty, empty, empty, empty, np.zeros((0, 4)))
    rows = np.concatenate(arrays)
    return GroundTruthBoxes(
        np.concatenate(video), rows[:, 0].astype(np.int64),
        np.concatenate(label), np.concatenate(tube), rows[:, 1:5].copy())


def frame_keys(video: np.ndarray, frame: np.ndarray,
               nframes: np.ndarray) -> np.ndarray:
    """One int64 key per (video, frame), in ``[0, len(nframes) * (max nframes +
    1))``."""
    stride = int(nframes.max(initial=0)) + 1
    return video * stride + frame
