"""Multi-label boxes: one person box carrying several actions at once.

The paper trains the classes with independent sigmoids because "a person
often has multiple actions at the same time" (§3.3). In the canonical
ground truth (docs/architecture.md) such a person is one tube per action,
the tubes carrying the *identical* box on the frames where the actions
overlap. The data path merges identical boxes of one frame into one box with
several labels (as mmaction's ``AVADataset`` merges the CSV rows of one
entity box), for every dataset alike:

- boxes whose four coordinates are equal (exact float equality) are one
  box; its labels are the distinct labels of the merged rows, in order of
  appearance;
- a dataset (one ground-truth file) in which some merged box has two or
  more distinct labels is *multi-label*: its samples carry ``gt_labels`` as
  ``(n, C)`` float32 multi-hot rows; otherwise ``gt_labels`` stay ``(n,)``
  int64 class indices, as before (a same-label duplicate box merges into
  one box either way).
"""
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np


def merge_identical_boxes(boxes: np.ndarray, labels: np.ndarray
                          ) -> Tuple[np.ndarray, List[Tuple[int, ...]]]:
    """Merge the identical boxes of one frame.

    Args:
        boxes (np.ndarray): ``(k, 4)`` boxes of one frame.
        labels (np.ndarray): ``(k,)`` 0-based labels of the boxes.

    Returns:
        tuple: ``(m, 4)`` boxes (first occurrence order, ``boxes``' dtype;
        ``boxes`` itself when nothing merges) and, per box, the tuple of its
        distinct labels in order of appearance.
    """
    index: Dict[Tuple[float, ...], int] = {}
    label_sets: List[List[int]] = []
    keep: List[int] = []
    for row, (box, label) in enumerate(zip(boxes.tolist(), labels.tolist())):
        key = tuple(box)
        slot = index.get(key)
        if slot is None:
            index[key] = len(keep)
            keep.append(row)
            label_sets.append([int(label)])
        elif int(label) not in label_sets[slot]:
            label_sets[slot].append(int(label))
    merged = boxes if len(keep) == len(boxes) else boxes[keep]
    return merged, [tuple(s) for s in label_sets]


def to_multi_hot(label_sets: Sequence[Sequence[int]],
                 num_classes: int) -> np.ndarray:
    """``(m, num_classes)`` float32 rows with 1 at each box's labels."""
    rows = np.zeros((len(label_sets), num_classes), dtype=np.float32)
    for row, labels in enumerate(label_sets):
        rows[row, list(labels)] = 1.0
    return rows


def find_multilabel_box(gttubes: Dict[int, List[np.ndarray]]
                        ) -> Optional[Tuple[int, Tuple[int, ...]]]:
    """First frame of one video where an identical box has several labels.

    Args:
        gttubes (dict): ``{label: [(n, 5) tube (frame, x1, y1, x2, y2)]}``
            of one video.

    Returns:
        tuple | None: ``(frame, labels)`` of the first such box (smallest
        frame), or None when every box of the video has one label.
    """
    rows = []
    for label, tubes in gttubes.items():
        for tube in tubes:
            tube = np.asarray(tube, np.float64).reshape(-1, 5)
            rows.append(np.insert(tube, 5, label, axis=1))
    if not rows:
        return None
    # Distinct (frame, box, label) rows, then distinct (frame, box) rows: a
    # (frame, box) seen more than once has several labels.
    distinct = np.unique(np.concatenate(rows), axis=0)
    boxes, first, counts = np.unique(
        distinct[:, :5], axis=0, return_index=True, return_counts=True)
    shared = np.flatnonzero(counts > 1)
    if not len(shared):
        return None
    start = first[shared[0]]
    labels = distinct[start:start + counts[shared[0]], 5]
    return int(boxes[shared[0], 0]), tuple(int(v) for v in labels)
