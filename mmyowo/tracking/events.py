"""Online action start / end events per track and class, with hysteresis.

An action of a track *starts* when its smoothed score has stayed at or
above ``on_thr`` for ``min_on`` consecutive processed frames, and *ends*
when it has stayed below ``off_thr`` (``<= on_thr``) for ``min_off``
consecutive frames, or when the track is lost (not seen for
``lost_after`` processed frames) or the stream ends. Between the two
thresholds nothing changes: a score hovering around one threshold does not
toggle the action. Start events carry the time of the first frame of the
run that triggered them, end events the time of the last frame the action
held, so ``end - start`` is the action's span.
"""
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np


def format_time(seconds: float) -> str:
    """``MM:SS.ss`` (``HH:MM:SS.ss`` past an hour), as in the events log."""
    minutes, secs = divmod(max(float(seconds), 0.0), 60.0)
    hours, minutes = divmod(int(minutes), 60)
    if hours:
        return f'{hours:02d}:{minutes:02d}:{secs:05.2f}'
    return f'{minutes:02d}:{secs:05.2f}'


@dataclass
class ActionEvent:
    """An action of a track started or ended."""

    #: ``'started'`` or ``'ended'``.
    kind: str
    track_id: int
    label: int
    name: str
    #: Frame number (of the source) and its time in seconds.
    frame: int
    time: float
    #: Smoothed score at the event's frame.
    score: float

    def __str__(self) -> str:
        return (f'#{self.track_id} {self.name} {self.kind} '
                f'{format_time(self.time)}')

    def to_dict(self) -> dict:
        """JSON-ready fields."""
        return dict(
            event=self.kind,
            track_id=self.track_id,
            label=self.label,
            action=self.name,
            frame=self.frame,
            time=round(self.time, 4),
            time_text=format_time(self.time),
            score=round(self.score, 4))


@dataclass
class _ClassState:
    """Hysteresis state of one (track, class)."""

    active: bool = False
    run: int = 0
    run_start: Tuple[int, float] = (0, 0.0)
    last_on: Tuple[int, float, float] = (0, 0.0, 0.0)


@dataclass
class _TrackState:
    """Event state of one track: its classes and the step it was last
    seen."""

    classes: Dict[int, _ClassState] = field(default_factory=dict)
    last_step: int = 0


class ActionEventDetector:
    """Turn per-frame smoothed scores of tracks into start / end events.

    Args:
        class_names (sequence[str]): Names of the ``C`` classes.
        on_thr (float): A score reaching this starts an action.
        off_thr (float, optional): A score below this ends it; default
            ``on_thr - 0.1`` (at least 0).
        min_on (int): Consecutive frames at or above ``on_thr`` to start.
        min_off (int): Consecutive frames below ``off_thr`` to end.
        lost_after (int): Processed frames without the track after which
            its open actions end.
    """

    def __init__(self,
                 class_names: Sequence[str],
                 on_thr: float = 0.4,
                 off_thr: Optional[float] = None,
                 min_on: int = 2,
                 min_off: int = 3,
                 lost_after: int = 30) -> None:
        off_thr = max(on_thr - 0.1, 0.0) if off_thr is None else off_thr
        if not (np.isfinite(on_thr) and np.isfinite(off_thr)
                and 0.0 <= off_thr <= on_thr <= 1.0):
            raise ValueError(f'event thresholds need 0 <= off_thr <= on_thr '
                             f'<= 1, got on_thr={on_thr!r}, '
                             f'off_thr={off_thr!r}')
        for name, value in (('min_on', min_on), ('min_off', min_off),
                            ('lost_after', lost_after)):
            if int(value) != value or value < 1:
                raise ValueError(f'{name} must be an integer >= 1, got '
                                 f'{value!r}')
        self.class_names = list(class_names)
        self.on_thr, self.off_thr = float(on_thr), float(off_thr)
        self.min_on, self.min_off = int(min_on), int(min_off)
        self.lost_after = int(lost_after)
        self._tracks: Dict[int, _TrackState] = {}
        self._step = 0

    def active(self, track_id: int) -> List[int]:
        """Classes currently active for a track."""
        state = self._tracks.get(track_id)
        if state is None:
            return []
        return [c for c, s in sorted(state.classes.items()) if s.active]

    def update(self, frame: int, time: float, tracks: Dict[int, np.ndarray]
               ) -> Tuple[List[ActionEvent], List[int]]:
        """Process one frame.

        Args:
            frame: The frame's number in the source.
            time: Its time in seconds.
            tracks: ``{track_id: (C,) smoothed scores}`` of the tracks seen
                in this frame.

        Returns:
            ``(events, lost)``: the events of this frame, and the ids of the
            tracks found lost at this frame (their actions ended).
        """
        self._step += 1
        events: List[ActionEvent] = []
        for track_id, scores in tracks.items():
            state = self._tracks.setdefault(track_id, _TrackState())
            state.last_step = self._step
            for label, score in enumerate(np.asarray(scores, float)):
                events.extend(
                    self._update_class(state, track_id, label, float(score),
                                       frame, time))
        lost = [
            t for t, s in self._tracks.items()
            if self._step - s.last_step >= self.lost_after
        ]
        for track_id in lost:
            events.extend(self._end_track(track_id))
        return events, lost

    def finish(self) -> List[ActionEvent]:
        """End every open action (end of the stream)."""
        events: List[ActionEvent] = []
        for track_id in list(self._tracks):
            events.extend(self._end_track(track_id))
        return events

    def _end_track(self, track_id: int) -> List[ActionEvent]:
        """Close a track's open actions at their last held frame."""
        state = self._tracks.pop(track_id)
        return [
            self._event('ended', track_id, label, *s.last_on)
            for label, s in sorted(state.classes.items()) if s.active
        ]

    def _event(self, kind: str, track_id: int, label: int, frame: int,
               time: float, score: float) -> ActionEvent:
        """An event of a class of a track."""
        return ActionEvent(kind, track_id, label, self.class_names[label],
                           frame, time, score)

    def _update_class(self, state: _TrackState, track_id: int, label: int,
                      score: float, frame: int,
                      time: float) -> List[ActionEvent]:
        """Advance one class of a track by one frame (the hysteresis)."""
        cls = state.classes.get(label)
        if cls is None:
            if score < self.on_thr:
                return []  # keep the state small: only classes ever on
            cls = state.classes[label] = _ClassState()
        if not cls.active:
            if score >= self.on_thr:
                if cls.run == 0:
                    cls.run_start = (frame, time)
                cls.run += 1
                cls.last_on = (frame, time, score)
                if cls.run >= self.min_on:
                    cls.active, cls.run = True, 0
                    return [
                        self._event('started', track_id, label, *cls.run_start,
                                    score)
                    ]
            else:
                cls.run = 0
            return []
        if score < self.off_thr:
            cls.run += 1
            if cls.run >= self.min_off:
                cls.active, cls.run = False, 0
                return [self._event('ended', track_id, label, *cls.last_on)]
        else:
            cls.run = 0
            cls.last_on = (frame, time, score)
        return []
