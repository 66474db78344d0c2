"""Online "who is doing what, since when": tracker + smoothing + events.

:class:`OnlineActionTracker` takes one frame's detections at a time (an
``InstanceData`` with ``bboxes`` ``(N, 4)`` and ``scores`` ``(N, C)``, as
:class:`~mmyowo.apis.YOWOVideoDetector` gives them), gives each person a
persistent ``track_id`` (:class:`.PersonTracker`), smooths its class scores
over its own frames (:class:`.ScoreSmoother`) and reports action start / end
events (:class:`.ActionEventDetector`).
"""
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Sequence

import numpy as np

from .events import ActionEvent, ActionEventDetector
from .smoothing import ScoreSmoother
from .tracker import PersonTracker


@dataclass
class TrackedPerson:
    """One tracked person in one frame."""

    track_id: int
    #: ``(4,)`` xyxy box in frame pixels.
    bbox: np.ndarray
    #: ``(C,)`` class scores of this frame's detection.
    scores: np.ndarray
    #: ``(C,)`` scores smoothed over the track's frames.
    smoothed: np.ndarray
    #: Classes active (started, not yet ended) after this frame.
    active: List[int]

    def actions(self, score_thr: float,
                class_names: Sequence[str]) -> List[dict]:
        """Classes whose smoothed score reaches ``score_thr``, highest first,
        as ``{'label', 'action', 'score', 'raw_score'}`` dicts."""
        order = np.argsort(-self.smoothed, kind='stable')
        return [
            dict(
                label=int(c),
                action=str(class_names[c]),
                score=round(float(self.smoothed[c]), 4),
                raw_score=round(float(self.scores[c]), 4)) for c in order
            if self.smoothed[c] >= score_thr
        ]


@dataclass
class TrackedFrame:
    """The tracking result of one frame."""

    frame: int
    time: float
    persons: List[TrackedPerson]
    events: List[ActionEvent]


class OnlineActionTracker:
    """Track persons, smooth their scores and detect action events.

    Args:
        class_names (sequence[str]): The ``C`` class names.
        tracker (dict, optional): mmdet tracker config
            (:data:`~.tracker.DEFAULT_TRACKER` by default).
        smoothing (dict, optional): :class:`.ScoreSmoother` arguments.
        events (dict, optional): :class:`.ActionEventDetector` arguments
            (besides the class names).
    """

    def __init__(self,
                 class_names: Sequence[str],
                 tracker: Optional[Dict[str, Any]] = None,
                 smoothing: Optional[Dict[str, Any]] = None,
                 events: Optional[Dict[str, Any]] = None) -> None:
        self.class_names = list(class_names)
        self.tracker = PersonTracker(tracker)
        self.smoother = ScoreSmoother(**(smoothing or {}))
        self.events = ActionEventDetector(self.class_names, **(events or {}))

    def update(self, pred: Any, frame: int, time: float) -> TrackedFrame:
        """Process one frame's detections (frames in order; gaps allowed).

        Args:
            pred: ``bboxes`` ``(N, 4)`` and ``scores`` ``(N, C)`` (tensors
                or arrays).
            frame: The frame's number in the source.
            time: Its time in seconds.
        """
        bboxes = _numpy(pred.bboxes).reshape(-1, 4).astype(np.float32)
        scores = _numpy(pred.scores).astype(np.float64)
        if scores.ndim != 2 or len(scores) != len(bboxes) or (
                scores.shape[1] != len(self.class_names)):
            raise ValueError(f'expected scores ({len(bboxes)}, '
                             f'{len(self.class_names)}), got '
                             f'{scores.shape}')
        det_scores = scores.max(
            axis=1) if scores.size else np.zeros(len(bboxes))
        ids = self.tracker.update(bboxes, det_scores)
        smoothed: Dict[int, np.ndarray] = {}
        kept = []
        for index, track_id in enumerate(ids):
            if track_id is None or track_id in smoothed:
                continue
            smoothed[track_id] = self.smoother.update(track_id, scores[index])
            kept.append((index, track_id))
        events, lost = self.events.update(frame, time, smoothed)
        for track_id in lost:
            self.smoother.forget(track_id)
        persons = [
            TrackedPerson(track_id, bboxes[index], scores[index],
                          smoothed[track_id], self.events.active(track_id))
            for index, track_id in kept
        ]
        return TrackedFrame(frame, time, persons, events)

    def finish(self) -> List[ActionEvent]:
        """End every open action (end of the stream)."""
        return self.events.finish()


def _numpy(value: Any) -> np.ndarray:
    """A tensor (any device) or array-like as a numpy array."""
    if hasattr(value, 'detach'):
        value = value.detach().float().cpu().numpy()
    return np.asarray(value)
