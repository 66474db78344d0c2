"""Reusable layers."""
from .dropblock import DropBlock
from .se_layer import SELayer

__all__ = ['DropBlock', 'SELayer']
