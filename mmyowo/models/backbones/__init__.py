"""Backbones: CSPDarknet53 (the 2D branch) and its timm weight converter."""
from .cspdarknet53 import (CSPDarknet53, CSPStage, DarkBlock,
                           convert_timm_cspdarknet53)

__all__ = [
    'CSPDarknet53', 'CSPStage', 'DarkBlock', 'convert_timm_cspdarknet53'
]
