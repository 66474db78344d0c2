"""Deployment: optimized PyTorch inference (:mod:`.optimize`), ONNX export
of both inference modes' graphs and the onnxruntime backend.

apis and tools may import this package; models, datasets and evaluation
never do.
"""
from .onnx_backend import (DEFAULT_PROVIDERS, ORTYOWO, ManifestError,
                           load_manifest, ort_model_from_pytorch)
from .onnx_export import export_onnx, export_onnx_graphs
from .optimize import (InferenceOptions, OptimizedModel, fuse_conv_bn,
                       optimize_for_inference)

__all__ = [
    'InferenceOptions', 'OptimizedModel', 'fuse_conv_bn',
    'optimize_for_inference', 'export_onnx', 'export_onnx_graphs', 'ORTYOWO',
    'ManifestError', 'load_manifest', 'ort_model_from_pytorch',
    'DEFAULT_PROVIDERS'
]
