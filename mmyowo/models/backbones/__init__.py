"""Backbones of the 2D branch: CSPDarknet53 (the paper's) and torchvision's
ImageNet classifiers (the fast variants)."""
from .cspdarknet53 import CSPDarknet53, CSPStage, DarkBlock
from .torchvision_backbone import ARCHS, TorchvisionBackbone

__all__ = [
    'CSPDarknet53', 'CSPStage', 'DarkBlock', 'TorchvisionBackbone', 'ARCHS'
]
