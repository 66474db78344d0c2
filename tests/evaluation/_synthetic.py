"""Random ground truth and detections shared by the evaluation tests."""
from typing import Any, Dict, List, Tuple

import numpy as np


def moving_tube(frames: np.ndarray,
                x: float,
                y: float,
                w: float = 60,
                h: float = 80,
                speed: float = 1.0) -> np.ndarray:
    """``(n, 5)`` tube of a box moving right by ``speed`` px per frame."""
    frames = np.asarray(frames, dtype=np.float64)
    x1 = x + speed * (frames - frames[0])
    return np.column_stack(
        (frames, x1, np.full(len(frames),
                             y), x1 + w, np.full(len(frames), y + h)))


def empty_gt(videos: List[str],
             num_classes: int,
             nframes: int = 40) -> Dict[str, Any]:
    """Canonical ground truth with no tubes yet."""
    return dict(
        labels=[f'action{c}' for c in range(num_classes)],
        gttubes={v: {}
                 for v in videos},
        nframes={v: nframes
                 for v in videos},
        resolution={v: (240, 320)
                    for v in videos},
        train_videos=[[]],
        test_videos=[list(videos)])


def random_gt(rng: np.random.Generator,
              num_videos: int = 8,
              num_classes: int = 4,
              nframes: int = 40) -> Tuple[Dict[str, Any], List[str]]:
    """Videos with one or two random tubes each (the last class unused)."""
    videos = [f'cls/v{i}' for i in range(num_videos)]
    gt = empty_gt(videos, num_classes, nframes)
    for video in videos:
        for _ in range(int(rng.integers(1, 3))):
            label = int(rng.integers(0, num_classes - 1))
            start = int(rng.integers(1, nframes - 6))
            end = int(rng.integers(start + 5, nframes + 1))
            tube = moving_tube(
                np.arange(start, end + 1), rng.uniform(0, 150),
                rng.uniform(0, 120)).astype(np.float32)
            gt['gttubes'][video].setdefault(label, []).append(tube)
    return gt, videos


def random_detections(rng: np.random.Generator, gt: Dict[str, Any],
                      videos: List[str], num_classes: int) -> np.ndarray:
    """Jittered copies of the ground truth (some with a wrong class) plus
    random boxes on random frames, with distinct random scores."""
    rows = []
    for index, video in enumerate(videos):
        for label, tubes in gt['gttubes'][video].items():
            for tube in tubes:
                for row in tube:
                    for _ in range(2):
                        lab = label if rng.random() < 0.7 else int(
                            rng.integers(0, num_classes))
                        rows.append([
                            index, row[0], lab, 0.0,
                            *(row[1:] + rng.normal(0, 8, 4))
                        ])
        for _ in range(25):
            frame = int(rng.integers(1, gt['nframes'][video] + 1))
            x, y = rng.uniform(0, 200), rng.uniform(0, 150)
            rows.append([
                index, frame,
                int(rng.integers(0, num_classes)), 0.0, x, y, x + 50, y + 70
            ])
    dets = np.array(rows)
    dets[:, 3] = rng.permutation(len(dets)) / len(dets) + 1e-3
    dets[:, 4:] = np.sort(dets[:, 4:].reshape(-1, 2, 2), axis=1).reshape(-1, 4)
    return dets
