"""See docs/architecture.md."""
from .frame_map_metric import FrameMAPMetric

__all__ = ['FrameMAPMetric']
