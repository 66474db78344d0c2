"""See docs/architecture.md."""
from .ava_metric import YOWOAVAMetric
from .frame_map_metric import FrameMAPMetric

__all__ = ['FrameMAPMetric', 'YOWOAVAMetric']
