"""Helpers of the ground-truth converters under ``tools/data``.

The converters read a dataset's own annotation layout and write the
canonical dict of :mod:`mmyowo.datasets.annotations`. These helpers make sure
that what they write is what the loader accepts: every split video gets a
``gttubes`` entry (an empty dict when it has no tube), boxes are clipped into
their frame and degenerate ones (zero or negative area, or smaller than a
minimum size) are dropped and counted, never silently kept.
"""
import os.path as osp
from collections import Counter
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple

import numpy as np

from ..datasets.annotations import save_annotations
from ..utils.text_io import not_utf8_message


def split_videos(train_lists: Sequence[Sequence[str]],
                 test_lists: Sequence[Sequence[str]]) -> List[str]:
    """The videos of all train / test split lists, each once, in order."""
    return list(
        dict.fromkeys(
            v for lists in (train_lists, test_lists) for split in lists
            for v in split))


def new_ground_truth(labels: Sequence[str],
                     train_lists: Sequence[Sequence[str]],
                     test_lists: Sequence[Sequence[str]]
                     ) -> Tuple[Dict[str, Any], List[str]]:
    """An empty canonical GT for ``labels`` and the given splits, and the
    videos of all splits (:func:`split_videos`) for a converter to fill
    in: ``nframes``, ``resolution`` and ``gttubes`` for every one of them
    (``gttubes[video] = {}`` for a video left without tubes, since the
    loader refuses a split video without an entry)."""
    gt = dict(
        labels=list(labels),
        gttubes={},
        nframes={},
        resolution={},
        train_videos=[list(v) for v in train_lists],
        test_videos=[list(v) for v in test_lists])
    return gt, split_videos(train_lists, test_lists)


def save_converted(gt: Dict[str, Any], report: Counter, path: str) -> None:
    """Validate and write ``gt`` with :func:`save_annotations`, then print the
    path and a converter's report (one ``name: count`` line per entry, sorted
    by name)."""
    save_annotations(gt, path)
    print(f'wrote {path}')
    for key in sorted(report):
        print(f'  {key}: {report[key]}')


def clip_boxes(boxes: np.ndarray,
               hw: Tuple[int, int],
               min_size: float = 1.0) -> Tuple[np.ndarray, np.ndarray]:
    """Clip xyxy boxes into a frame and flag the degenerate ones.

    Args:
        boxes: ``(n, 4)`` xyxy boxes in pixels.
        hw: Frame size ``(h, w)``.
        min_size: Boxes narrower or lower than this (after clipping) are
            degenerate. Boxes of zero or negative area are degenerate
            whatever ``min_size`` (even 0): the loader refuses them.

    Returns:
        ``(clipped, keep)``: the clipped float32 boxes and a bool mask of the
        boxes to keep.
    """
    h, w = hw
    clipped = np.asarray(boxes, dtype=np.float32).reshape(-1, 4).copy()
    clipped[:, 0::2] = clipped[:, 0::2].clip(0, w)
    clipped[:, 1::2] = clipped[:, 1::2].clip(0, h)
    widths = clipped[:, 2] - clipped[:, 0]
    heights = clipped[:, 3] - clipped[:, 1]
    keep = ((widths >= min_size) & (heights >= min_size) & (widths > 0)
            & (heights > 0))
    return clipped, keep


def sanitize_tube(frames: np.ndarray,
                  boxes: np.ndarray,
                  hw: Tuple[int, int],
                  nframes: int,
                  min_size: float = 1.0,
                  report: Optional[Counter] = None) -> Optional[np.ndarray]:
    """Turn a converted tube into a canonical one the loader accepts.

    Boxes are clipped into the frame (:func:`clip_boxes`); degenerate boxes
    and boxes at frames past ``nframes`` (annotations longer than the frames
    on disk) are dropped.

    Args:
        frames: ``(n,)`` 1-based frame numbers.
        boxes: ``(n, 4)`` xyxy boxes in on-disk pixels.
        hw: Frame size ``(h, w)``.
        nframes: Number of frames of the video.
        min_size: See :func:`clip_boxes`.
        report: Counter updated with ``boxes``, ``boxes clipped into the
            frame``, ``degenerate boxes dropped``, ``boxes past the last
            frame dropped``, ``tubes`` and ``tubes dropped (no box left)``.

    Returns:
        The ``(m, 5)`` float32 tube, or ``None`` if no box is left.
    """
    report = Counter() if report is None else report
    frames = np.asarray(frames, dtype=np.float64).reshape(-1)
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    clipped, keep = clip_boxes(boxes, hw, min_size)
    moved = (np.abs(clipped - boxes) > 1e-3).any(1)
    beyond = frames > nframes
    report['boxes'] += len(boxes)
    report['boxes clipped into the frame'] += int((moved & keep).sum())
    report['degenerate boxes dropped'] += int((~keep).sum())
    report['boxes past the last frame dropped'] += int((beyond & keep).sum())
    keep &= ~beyond
    if not keep.any():
        report['tubes dropped (no box left)'] += 1
        return None
    report['tubes'] += 1
    return np.concatenate([frames[keep, None], clipped[keep]],
                          1).astype(np.float32)


def read_split_list(path: str) -> List[str]:
    """Read a split list into unique video ids ``Class/video`` (file order).

    Accepts the layouts of the YOWO family: one video per line
    (``Basketball/v_Basketball_g01_c01``, the ``testlist_video.txt`` style),
    or one annotated frame per line (``Basketball/v_Basketball_g01_c01/
    00009.txt``, optionally under ``labels/`` or ``rgb-images/``). Blank lines
    and ``#`` comments are skipped.

    Raises:
        FileNotFoundError: If the list does not exist.
        ValueError: Naming the file and line for a line that is no video id.
    """
    if not osp.isfile(path):
        raise FileNotFoundError(f'split list not found: {path}')
    videos: Dict[str, None] = {}
    for lineno, line in text_lines(path):
        entry = line.split('#', 1)[0].strip()
        if not entry:
            continue
        # Only the path counts: some lists append a label column.
        parts = entry.split()[0].replace('\\', '/').strip('/').split('/')
        if parts[0] in ('labels', 'rgb-images', 'rawframes', 'videos'):
            parts = parts[1:]
        if parts and osp.splitext(parts[-1])[1]:
            if len(parts) == 3:  # Class/video/00009.txt
                parts = parts[:2]
            elif len(parts) == 2:  # Class/video.avi
                parts = [parts[0], osp.splitext(parts[1])[0]]
        if len(parts) != 2 or not all(parts):
            raise ValueError(
                f'{path}:{lineno}: expected a video id "Class/video" '
                f'(optionally followed by "/00001.txt"), got {entry!r}')
        videos['/'.join(parts)] = None
    return list(videos)


def text_lines(path: str) -> Iterator[Tuple[int, str]]:
    """Yield ``(line number, line)`` of a UTF-8 text file (1-based numbers; a
    byte-order mark is accepted).

    Raises:
        ValueError: Naming the file, the line and the byte where the file
            stops being UTF-8 text.
    """
    with open(path, 'r', encoding='utf-8-sig') as f:
        try:
            yield from enumerate(f, 1)
        except UnicodeDecodeError as err:
            raise ValueError(
                not_utf8_message(path, err, lambda n: f'{path}:{n}')) from None
