"""Backbones: CSPDarknet53 (the 2D branch)."""
from .cspdarknet53 import CSPDarknet53, CSPStage, DarkBlock

__all__ = ['CSPDarknet53', 'CSPStage', 'DarkBlock']
