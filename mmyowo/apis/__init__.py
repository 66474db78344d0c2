"""High-level inference APIs."""
from .inference import (CPU_FRAME_BATCH, DEFAULT_SETTINGS, MODES, FrameResult,
                        YOWOVideoDetector, init_detector, pipeline_settings,
                        preprocessor_normalization, resolve_frame_batch)
from .video_reader import (VideoReader, VideoTruncatedWarning, check_frame,
                           iter_frames, source_name)

__all__ = [
    'CPU_FRAME_BATCH', 'DEFAULT_SETTINGS', 'MODES', 'FrameResult',
    'YOWOVideoDetector', 'init_detector', 'pipeline_settings',
    'preprocessor_normalization', 'resolve_frame_batch', 'VideoReader',
    'VideoTruncatedWarning', 'check_frame', 'iter_frames', 'source_name'
]
