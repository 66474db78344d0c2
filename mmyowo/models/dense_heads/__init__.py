"""Dense heads."""
from .yowo_head import YOWOHead, YOWOHeadModule

__all__ = ['YOWOHead', 'YOWOHeadModule']
