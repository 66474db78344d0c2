"""Dense heads."""
from .yowo_head import YOWOHead
from .yowo_head_module import YOWOHeadModule

__all__ = ['YOWOHead', 'YOWOHeadModule']
