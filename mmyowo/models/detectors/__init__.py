"""Detectors."""
from .yowo import YOWO

__all__ = ['YOWO']
