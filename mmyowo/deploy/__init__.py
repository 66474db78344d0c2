"""Deployment: run exported YOWO graphs outside PyTorch.

apis and tools may import this package; models, datasets and evaluation
never do.
"""
# --- ONNX export and the onnxruntime backend (issue 16, deliverable 3) ---
from .onnx_backend import (DEFAULT_PROVIDERS, ORTYOWO, ManifestError,
                           load_manifest, ort_model_from_pytorch)
from .onnx_export import export_onnx, export_onnx_graphs

__all__ = [
    'export_onnx', 'export_onnx_graphs', 'ORTYOWO', 'ManifestError',
    'load_manifest', 'ort_model_from_pytorch', 'DEFAULT_PROVIDERS'
]
