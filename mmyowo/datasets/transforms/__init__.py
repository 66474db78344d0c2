"""See docs/architecture.md."""
from .augmentation import RandomZoomJitter  # noqa: F401
from .ava_decode import AVARawFrameDecode  # noqa: F401
from .kfrs import KFRSampleFrames  # noqa: F401
from .loading import VideoDecode  # noqa: F401
from .rawframe_decode import RawFrameDecodeKeepBoxes  # noqa: F401
