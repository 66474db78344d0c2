"""Deployment: optimized PyTorch inference (:mod:`.optimize`).

This room is imported by :mod:`mmyowo.apis` and ``tools/`` only, never by
``mmyowo.models`` / ``datasets`` / ``evaluation``.
"""
# --- optimized PyTorch inference (mmyowo/deploy/optimize.py) --------------
from .optimize import (InferenceOptions, OptimizedModel, fuse_conv_bn,
                       optimize_for_inference)

__all__ = [
    'InferenceOptions', 'OptimizedModel', 'fuse_conv_bn',
    'optimize_for_inference'
]
