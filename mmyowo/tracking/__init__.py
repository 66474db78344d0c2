"""Online tracking on top of the detector: persistent person ids
(:class:`PersonTracker`, mmdet's trackers), per-track score smoothing
(:class:`ScoreSmoother`), action start / end events with hysteresis
(:class:`ActionEventDetector`) and machine-readable outputs
(:mod:`.outputs`).

A capability apart: ``mmyowo.models``, ``mmyowo.datasets`` and
``mmyowo.evaluation`` never import it, and importing it does not import
``mmdet.models`` (only building a tracker does).
"""
from .events import ActionEvent, ActionEventDetector, format_time
from .online import OnlineActionTracker, TrackedFrame, TrackedPerson
from .outputs import CSV_HEADER, TrackingWriter
from .smoothing import ScoreSmoother
from .tracker import DEFAULT_TRACKER, PersonTracker, build_mmdet_tracker

__all__ = [
    'ActionEvent', 'ActionEventDetector', 'format_time', 'OnlineActionTracker',
    'TrackedFrame', 'TrackedPerson', 'CSV_HEADER', 'TrackingWriter',
    'ScoreSmoother', 'DEFAULT_TRACKER', 'PersonTracker', 'build_mmdet_tracker'
]
