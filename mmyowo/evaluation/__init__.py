"""Frame-mAP / video-mAP evaluation."""
from . import functional, metrics  # noqa: F401
