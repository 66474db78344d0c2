"""High-level inference APIs.

The public API: build a model (:func:`init_detector`), run it over videos
(:class:`YOWOVideoDetector`), read frames (:class:`VideoReader`) and the
result records. Helpers (settings, preprocessing, frame checks) stay in
their modules: :mod:`.inference`, :mod:`.preprocessing`,
:mod:`.video_reader`.
"""
from .inference import FrameResult, YOWOVideoDetector
from .live import LiveResult, LiveSource, LiveSourceError, LiveStats
from .model_init import init_detector
from .results import ActionScore, PersonActions, person_actions
from .video_reader import VideoReader, VideoTruncatedWarning

__all__ = [
    'init_detector', 'YOWOVideoDetector', 'FrameResult', 'ActionScore',
    'PersonActions', 'person_actions', 'VideoReader', 'VideoTruncatedWarning',
    'LiveSource', 'LiveResult', 'LiveStats', 'LiveSourceError'
]
