"""Comparing two detectors' results on the same input."""
from typing import Sequence, Tuple

import torch
from mmengine.structures import InstanceData


def matched_diffs(actual: InstanceData,
                  expected: InstanceData) -> Tuple[float, float]:
    """Largest box and score differences between two sets of detections of one
    frame, each expected detection matched to the actual one whose box corners
    are nearest (L-infinity).

    Detections whose scores differ by rounding only may come in another
    order (sorting and NMS break near-ties either way), so they are matched
    rather than compared by index. The matching must be one-to-one, with
    equal labels, and both sets of the same size (else ``AssertionError``).
    """
    assert len(actual) == len(expected)
    if not len(expected):
        return 0.0, 0.0
    dist = (expected.bboxes[:, None] - actual.bboxes[None]).abs().amax(dim=-1)
    box, nearest = dist.min(dim=1)
    assert len(set(nearest.tolist())) == len(expected), 'not one-to-one'
    assert torch.equal(actual.labels[nearest], expected.labels)
    score = (actual.scores[nearest] - expected.scores).abs().max()
    return float(box.max()), float(score)


def max_matched_diffs(actual: Sequence[InstanceData],
                      expected: Sequence[InstanceData]) -> Tuple[float, float]:
    """:func:`matched_diffs` over frames: the largest of each; the frames must
    be as many and hold detections."""
    assert len(actual) == len(expected)
    assert sum(len(e) for e in expected), 'the test needs detections'
    diffs = [matched_diffs(a, e) for a, e in zip(actual, expected)]
    return max(d[0] for d in diffs), max(d[1] for d in diffs)
