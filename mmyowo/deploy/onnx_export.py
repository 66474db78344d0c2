"""Export a YOWO detector to ONNX: the three graphs the two inference modes
run, and the manifest that ties them to their config.

The graphs (all float32, the batch axis ``B`` / ``N`` dynamic, ``L``, ``H``
and ``W`` fixed at export; inputs normalised as the config's data
preprocessor does):

``per_frame.onnx`` (per-frame mode, ``YOWO.predict`` with the key frame last)
    input ``clip`` ``[B, 3, L, H, W]`` -> ``maps_s8``, ``maps_s16``,
    ``maps_s32``: the raw head maps, one per level (finest first, named by
    stride), ``[B, A * (5 + C), H / s, W / s]``; for anchor ``a``, channels
    ``a * (5 + C) + k``: ``k = 0..3`` the YOLOv3 box offsets, ``k = 4`` the
    confidence logit, ``k = 5..`` the ``C`` class logits.
``backbone3d.onnx`` (streaming mode: one pass per window; absent for a
    2D-only model)
    input ``windows`` ``[B, 3, L, H, W]`` -> ``feat_3d`` ``[B, C3, H / 32,
    W / 32]`` (3D backbone and time-collapsing neck).
``keyframe_head.onnx`` (streaming mode: per key frame, batched; and
    ``predict`` with a key frame other than the last)
    inputs ``frames`` ``[N, 3, H, W]`` and (with a 3D branch) ``feat_3d``
    ``[N, C3, H / 32, W / 32]`` -> the head maps as above (2D branch,
    fusion neck, head).

Decoding, the score ``sigmoid(conf) * sigmoid(cls)`` and NMS are not in the
graphs: the runtime (:mod:`.onnx_backend`) runs the PyTorch head's
``predict_by_feat`` on the maps, the post-processing of the PyTorch path.

``manifest.json`` records what the runtime checks before it runs a graph:
the format version, ``clip_len``, ``input_size``, the head's strides and
``num_classes``, whether there is a 3D branch, the dtype, the opset, each
graph's file, input / output names and SHA-256, the largest difference to
PyTorch measured at export, the config's file and SHA-256 and the
checkpoint's ``dataset_meta``.

Graphs are exported with the legacy TorchScript exporter (``dynamo=False``)
from a copy of the model whose Mish activations are written with one
sigmoid (:mod:`.export_ops`: the same function, about 1.6x faster in
onnxruntime), checked with ``onnx.checker`` and written atomically; the
check against PyTorch runs the model as given. The manifest is written last,
so a directory with a manifest holds complete graphs.
"""
import hashlib
import io
import json
import os
import os.path as osp
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
import torch.nn as nn
from torch import Tensor

from mmyowo.utils.atomic_io import atomic_write_bytes, atomic_write_text
from .export_ops import export_copy

#: Format tag and version of ``manifest.json``.
MANIFEST_FORMAT = 'mmyowo-onnx'
MANIFEST_VERSION = 1
MANIFEST_NAME = 'manifest.json'
#: Graph names -> files in an export directory.
GRAPH_FILES = {
    'per_frame': 'per_frame.onnx',
    'backbone3d': 'backbone3d.onnx',
    'keyframe_head': 'keyframe_head.onnx',
}
#: Input name of the per-frame graph (also that of the single-file export).
INPUT_NAME = 'clip'


def output_names(strides: Sequence[int]) -> List[str]:
    """``maps_s{stride}`` per head level."""
    return [f'maps_s{s}' for s in strides]


class PerFrameGraph(nn.Module):
    """YOWO from a clip to the raw head maps, key frame = last frame."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, clip: Tensor) -> Tuple[Tensor, ...]:
        """``[B, 3, L, H, W]`` clips -> head maps of their last frames."""
        model: Any = self.model
        return tuple(
            model.key_frame_maps(clip[:, :, -1], model.extract_feat_3d(clip)))


class Backbone3DGraph(nn.Module):
    """YOWO's 3D branch: windows -> ``feat_3d``."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, windows: Tensor) -> Tensor:
        """``[B, 3, L, H, W]`` -> ``[B, C3, H / 32, W / 32]``."""
        model: Any = self.model
        return model.extract_feat_3d(windows)


class KeyFrameHeadGraph(nn.Module):
    """YOWO's 2D branch, fusion neck and head: key frames (+ their 3D features)
    -> head maps."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self,
                frames: Tensor,
                feat_3d: Optional[Tensor] = None) -> Tuple[Tensor, ...]:
        """``[N, 3, H, W]`` frames, ``[N, C3, h, w]`` features -> maps."""
        model: Any = self.model
        return tuple(model.key_frame_maps(frames, feat_3d))


def export_graph(module: nn.Module,
                 inputs: Dict[str, Tensor],
                 outputs: Sequence[str],
                 path: str,
                 opset: int = 17,
                 dynamic_batch: bool = True) -> bytes:
    """Export ``module`` called on ``inputs`` (in order) to ``path``.

    The graph is exported into memory, checked with ``onnx.checker``, then
    written atomically: a failed export or write leaves no broken file.

    Returns:
        bytes: The serialised graph.
    """
    # Imported here: exporting is a deployment step, and onnx is not
    # needed to train or test.
    import onnx
    names = list(inputs)
    dynamic_axes = None
    if dynamic_batch:
        dynamic_axes = {n: {0: 'batch'} for n in [*names, *outputs]}
    buffer = io.BytesIO()
    with torch.no_grad():
        torch.onnx.export(
            module.eval(),
            tuple(inputs.values()),
            # The legacy exporter writes to file objects too.
            buffer,  # type: ignore[arg-type]
            input_names=names,
            output_names=list(outputs),
            dynamic_axes=dynamic_axes,
            opset_version=opset,
            do_constant_folding=True,
            dynamo=False)
    data = buffer.getvalue()
    onnx.checker.check_model(onnx.load_from_string(data))
    atomic_write_bytes(data, path)
    return data


def export_onnx(model: nn.Module,
                path: str,
                clip_len: int,
                shape: Sequence[int],
                opset: int = 17,
                dynamic_batch: bool = False) -> List[str]:
    """Export the per-frame graph alone (``clip`` -> head maps) to ``path``.

    Returns:
        list[str]: The output names.
    """
    yowo: Any = model.eval()
    names = output_names(yowo.bbox_head.strides)
    export_graph(
        PerFrameGraph(export_copy(model)),
        {INPUT_NAME: torch.randn(1, 3, clip_len, *shape)}, names, path, opset,
        dynamic_batch)
    return names


def _graph_specs(model: nn.Module, clip_len: int, shape: Sequence[int]
                 ) -> Dict[str, Tuple[type, Dict[str, Tensor]]]:
    """Per graph name: the wrapper class and example inputs (batch 1)."""
    yowo: Any = model
    clip = torch.randn(1, 3, clip_len, *shape)
    specs: Dict[str, Tuple[type, Dict[str, Tensor]]] = {
        'per_frame': (PerFrameGraph, {
            INPUT_NAME: clip
        })
    }
    frames: Dict[str, Tensor] = {'frames': clip[:, :, -1]}
    if yowo.with_3d:
        specs['backbone3d'] = (Backbone3DGraph, {'windows': clip})
        with torch.no_grad():
            frames['feat_3d'] = yowo.extract_feat_3d(clip)
    specs['keyframe_head'] = (KeyFrameHeadGraph, frames)
    return specs


def max_abs_diff(session: Any, module: nn.Module,
                 inputs: Dict[str, Tensor]) -> float:
    """Largest ``|onnxruntime - PyTorch|`` over the outputs of one graph."""
    with torch.no_grad():
        expected = module.eval()(*inputs.values())
    if isinstance(expected, Tensor):
        expected = (expected, )
    actual = session.run(None, {k: v.numpy() for k, v in inputs.items()})
    return max(
        float(np.abs(a - e.numpy()).max()) for a, e in zip(actual, expected))


def sha256_file(path: str) -> str:
    """SHA-256 hex digest of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, 'rb') as f:
        for block in iter(lambda: f.read(1 << 20), b''):
            digest.update(block)
    return digest.hexdigest()


def export_onnx_graphs(model: nn.Module,
                       out_dir: str,
                       clip_len: int,
                       shape: Sequence[int],
                       opset: int = 17,
                       dataset_meta: Optional[dict] = None,
                       verify: bool = True) -> dict:
    """Export the graphs of both inference modes and their manifest.

    Args:
        model (nn.Module): A YOWO (on CPU; put in eval mode). Its ``cfg``,
            when set (as :func:`~mmyowo.apis.init_detector` does), is
            recorded in the manifest (file name and SHA-256 of its text).
        out_dir (str): Directory to write ``per_frame.onnx``,
            ``backbone3d.onnx`` (with a 3D branch), ``keyframe_head.onnx``
            and ``manifest.json`` to; created if needed.
        clip_len (int): Clip length ``L``.
        shape (tuple[int, int]): Input ``(H, W)``, multiples of the largest
            stride.
        opset (int): ONNX opset.
        dataset_meta (dict, optional): Recorded (e.g. the checkpoint's class
            names) and given back by the runtime as ``model.dataset_meta``.
        verify (bool): Run each graph in onnxruntime (CPU) on random inputs
            of batch 2 and record the largest difference to PyTorch.

    Returns:
        dict: The manifest.

    Raises:
        ValueError: ``clip_len`` < 1 or ``shape`` not multiples of the
            largest stride.
    """
    yowo: Any = model
    strides = [int(s) for s in yowo.bbox_head.strides]
    if clip_len < 1:
        raise ValueError(f'clip_len must be >= 1, got {clip_len}')
    if len(shape) != 2 or any(s <= 0 or s % max(strides) for s in shape):
        raise ValueError(f'shape {tuple(shape)} must be (H, W), multiples of '
                         f'the largest stride {max(strides)}')
    model.eval()
    exported = export_copy(model)
    os.makedirs(out_dir, exist_ok=True)
    outputs = output_names(strides)
    graphs: Dict[str, dict] = {}
    for name, (graph, inputs) in _graph_specs(model, clip_len, shape).items():
        graph_outputs = ['feat_3d'] if name == 'backbone3d' else outputs
        path = osp.join(out_dir, GRAPH_FILES[name])
        data = export_graph(
            graph(exported), inputs, graph_outputs, path, opset)
        entry: Dict[str, Any] = dict(
            file=GRAPH_FILES[name],
            inputs=list(inputs),
            outputs=graph_outputs,
            sha256=hashlib.sha256(data).hexdigest())
        if verify:
            # Imported here: onnxruntime is a deployment dependency.
            import onnxruntime as ort
            session = ort.InferenceSession(
                data, providers=['CPUExecutionProvider'])
            generator = torch.Generator().manual_seed(0)
            batch2 = {
                k: torch.randn((2, *v.shape[1:]), generator=generator)
                for k, v in inputs.items()
            }
            # Against the model as given, not the rewritten copy.
            entry['max_abs_diff_vs_pytorch'] = max_abs_diff(
                session, graph(model), batch2)
        graphs[name] = entry
    cfg = getattr(model, 'cfg', None)
    config = None
    if cfg is not None:
        config = dict(
            file=getattr(cfg, 'filename', None),
            sha256=hashlib.sha256(cfg.pretty_text.encode()).hexdigest())
    manifest = dict(
        format=MANIFEST_FORMAT,
        version=MANIFEST_VERSION,
        clip_len=int(clip_len),
        input_size=[int(s) for s in shape],
        strides=strides,
        num_classes=int(yowo.bbox_head.num_classes),
        with_3d=bool(yowo.with_3d),
        dtype='float32',
        opset=int(opset),
        graphs=graphs,
        config=config,
        dataset_meta=dataset_meta)
    # Last: a manifest means every graph it names is complete.
    atomic_write_text(
        json.dumps(manifest, indent=2) + '\n',
        osp.join(out_dir, MANIFEST_NAME))
    return manifest
