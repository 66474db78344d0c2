"""Per-person action lists of a detection result (AVA style).

The head scores every class of a box with its own sigmoid (``scores``
``(N, C)``: confidence x class), because "a person often has multiple
actions at the same time" (paper §3.3); the ``labels`` field keeps only the
best one. These helpers
list, per detected person, every class whose score reaches a threshold,
highest first: what the demo draws as a stack of ``label score`` lines.
"""
from typing import List, NamedTuple, Optional, Sequence

import numpy as np
from mmengine.structures import InstanceData


class ActionScore(NamedTuple):
    """One action of a person."""

    #: 0-based class index.
    label: int
    #: Class name (the index as text without class names).
    name: str
    #: ``sigmoid(conf) * sigmoid(cls)`` of that class.
    score: float


class PersonActions(NamedTuple):
    """A detected person and every action scored at or above a threshold."""

    #: ``(4,)`` float32 xyxy box in original-frame pixels.
    bbox: np.ndarray
    #: The actions, highest score first (never empty).
    actions: List[ActionScore]


def check_score_thr(score_thr: float) -> float:
    """Return ``score_thr`` if it is a number in ``[0, 1]``.

    Raises:
        ValueError: Otherwise (NaN included: no score reaches it, so
            nothing would be listed or drawn, without a word).
    """
    if isinstance(
            score_thr,
            bool) or not isinstance(score_thr,
                                    (int, float, np.integer, np.floating)):
        raise ValueError(f'score_thr must be a number in [0, 1], got '
                         f'{score_thr!r}')
    if not 0 <= score_thr <= 1:
        raise ValueError(f'score_thr must be in [0, 1] (class scores are '
                         f'probabilities), got {score_thr!r}')
    return score_thr


def person_actions(pred: InstanceData,
                   score_thr: float,
                   class_names: Optional[Sequence[str]] = None
                   ) -> List[PersonActions]:
    """List every class scoring at least ``score_thr``, per detected box.

    Args:
        pred: A frame's detections: ``bboxes`` ``(N, 4)`` and ``scores``
            ``(N, C)`` (tensors or arrays), as ``YOWO.predict`` and
            :class:`~mmyowo.apis.YOWOVideoDetector` return them.
        score_thr: Lowest class score listed, in ``[0, 1]`` (the scores
            are probabilities); boxes without any such class are left out.
        class_names: ``C`` names; default: the indices as text.

    Returns:
        One :class:`PersonActions` per box that has a class at or above the
        threshold, in the order of ``pred`` (the head's: best score first),
        its actions sorted by score, highest first (ties: lower index).

    Raises:
        ValueError: If ``score_thr`` is not a number in ``[0, 1]`` (NaN
            would list nothing, whatever the scores), ``scores`` is not
            ``(N, C)`` for the ``N`` boxes, or ``class_names`` does not have
            ``C`` names.
    """
    check_score_thr(score_thr)
    bboxes = _numpy(pred.bboxes).reshape(-1, 4).astype(np.float32)
    scores = _numpy(pred.scores).astype(np.float64)
    if scores.ndim != 2 or scores.shape[0] != bboxes.shape[0]:
        raise ValueError(f'expected scores (N, C) for N = {len(bboxes)} '
                         f'boxes, got shape {scores.shape}')
    num_classes = scores.shape[1]
    if class_names is None:
        class_names = [str(i) for i in range(num_classes)]
    elif len(class_names) != num_classes:
        raise ValueError(f'{len(class_names)} class names for {num_classes} '
                         'class scores')
    persons = []
    for index, box in enumerate(bboxes):
        box_scores = scores[index]
        classes = np.flatnonzero(box_scores >= score_thr)
        if classes.size == 0:
            continue
        # Stable sort: equal scores keep the lower class index first.
        classes = classes[np.argsort(-box_scores[classes], kind='stable')]
        persons.append(
            PersonActions(box, [
                ActionScore(int(c), str(class_names[c]), float(box_scores[c]))
                for c in classes
            ]))
    return persons


def _numpy(value) -> np.ndarray:
    """A tensor (any device / dtype) or array-like as a numpy array."""
    if hasattr(value, 'detach'):
        value = value.detach().float().cpu().numpy()
    return np.asarray(value)
