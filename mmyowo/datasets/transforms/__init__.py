"""See docs/architecture.md."""
from .augmentation import RandomZoomJitter  # noqa: F401
from .kfrs import KFRSampleFrames  # noqa: F401
from .loading import RawFrameDecodeKeepBoxes, VideoDecode  # noqa: F401
