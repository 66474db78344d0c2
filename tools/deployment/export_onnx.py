"""Export a YOWO detector to ONNX in tensor mode (raw head maps).

Usage::

    python tools/deployment/export_onnx.py CONFIG [--checkpoint CKPT] \
        --clip-len 16 --shape 224 224 --output model.onnx [--opset 17] \
        [--dynamic-batch] [--no-verify] [--cfg-options ...]

The graph (the per-frame path of mmyowo/apis/inference.py, key frame last):

* input ``clip``: float32 ``[B, 3, L, H, W]`` (``NCTHW``), RGB frames resized
  to ``H x W`` and normalised with the config's data-preprocessor mean / std;
  the key frame is the last one, ``clip[:, :, L - 1]``. ``L``, ``H`` and
  ``W`` are fixed at export; ``B`` is 1, or dynamic with ``--dynamic-batch``.
* outputs ``maps_s8``, ``maps_s16``, ``maps_s32`` (one per head level,
  finest first, named by stride): float32 ``[B, A * (5 + C), H / s, W / s]``
  with, for anchor ``a`` (``A = 3``), channels ``a * (5 + C) + k``:
  ``k = 0..3`` the YOLOv3 box offsets ``tx, ty, tw, th``, ``k = 4`` the
  confidence logit, ``k = 5..`` the ``C`` class logits. Decoding, the score
  ``sigmoid(conf) * sigmoid(cls)`` and NMS are left to the runtime (see
  ``YOWOHead.predict_by_feat``).

The model is exported with the legacy TorchScript exporter
(``dynamo=False``), checked with ``onnx.checker`` and, unless
``--no-verify``, run with onnxruntime on a random clip and compared with
PyTorch.
"""
import argparse
import io
from typing import List, Optional, Sequence

import numpy as np
import torch
import torch.nn as nn
from mmengine.config import DictAction

from mmyowo.apis import init_detector
from mmyowo.utils.atomic_io import atomic_write_bytes

INPUT_NAME = 'clip'


class YOWOTensorModel(nn.Module):
    """YOWO from a clip to the raw head maps, key frame = last frame."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, clip: torch.Tensor) -> tuple:
        model = self.model
        feats = model.fuse(
            model.extract_feat_2d(clip[:, :, -1]), model.extract_feat_3d(clip))
        return tuple(model.bbox_head(feats))


def output_names(strides: Sequence[int]) -> List[str]:
    """``maps_s{stride}`` per head level."""
    return [f'maps_s{s}' for s in strides]


def export_onnx(model: nn.Module,
                path: str,
                clip_len: int,
                shape: Sequence[int],
                opset: int = 17,
                dynamic_batch: bool = False) -> List[str]:
    """Export ``model`` (in eval mode, on CPU) to ``path`` and check it.

    Returns:
        list[str]: The output names.
    """
    import onnx
    model.eval()
    wrapper = YOWOTensorModel(model).eval()
    names = output_names(model.bbox_head.strides)
    clip = torch.randn(1, 3, clip_len, *shape)
    dynamic_axes = None
    if dynamic_batch:
        dynamic_axes = {n: {0: 'batch'} for n in [INPUT_NAME, *names]}
    # Exported into memory, checked, then written atomically: a failed
    # export or write never leaves a broken file under ``path``.
    buffer = io.BytesIO()
    with torch.no_grad():
        torch.onnx.export(
            wrapper, (clip, ),
            buffer,
            input_names=[INPUT_NAME],
            output_names=names,
            dynamic_axes=dynamic_axes,
            opset_version=opset,
            do_constant_folding=True,
            dynamo=False)
    onnx.checker.check_model(onnx.load_from_string(buffer.getvalue()))
    atomic_write_bytes(buffer.getvalue(), path)
    return names


def run_onnxruntime(path: str, clip: np.ndarray) -> List[np.ndarray]:
    """Run the exported graph on a ``[B, 3, L, H, W]`` float32 clip."""
    import onnxruntime as ort
    session = ort.InferenceSession(path, providers=['CPUExecutionProvider'])
    return session.run(None, {INPUT_NAME: clip.astype(np.float32)})


def max_abs_diff(model: nn.Module, path: str, clip: torch.Tensor) -> float:
    """Largest difference between onnxruntime's and PyTorch's maps."""
    with torch.no_grad():
        expected = YOWOTensorModel(model).eval()(clip)
    actual = run_onnxruntime(path, clip.numpy())
    return max(
        float(np.abs(a - e.numpy()).max()) for a, e in zip(actual, expected))


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('config')
    parser.add_argument('--checkpoint')
    parser.add_argument('--clip-len', type=int, default=16)
    parser.add_argument(
        '--shape', type=int, nargs=2, default=[224, 224], metavar=('H', 'W'))
    parser.add_argument('--output', default='yowo_plus.onnx')
    parser.add_argument('--opset', type=int, default=17)
    parser.add_argument(
        '--dynamic-batch',
        action='store_true',
        help='make the batch axis dynamic')
    parser.add_argument(
        '--no-verify',
        action='store_true',
        help='skip the onnxruntime comparison')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)
    args = parser.parse_args(argv)
    if args.clip_len < 1:
        parser.error('--clip-len must be >= 1')
    return args


def main(argv: Optional[Sequence[str]] = None) -> None:
    args = parse_args(argv)
    model = init_detector(
        args.config,
        args.checkpoint,
        device='cpu',
        cfg_options=args.cfg_options)
    stride = max(model.bbox_head.strides)
    if any(s <= 0 or s % stride for s in args.shape):
        raise ValueError(f'--shape {args.shape} must be multiples of the '
                         f'largest stride {stride}')
    names = export_onnx(model, args.output, args.clip_len, args.shape,
                        args.opset, args.dynamic_batch)
    print(f'{args.output}: input {INPUT_NAME} [B, 3, {args.clip_len}, '
          f'{args.shape[0]}, {args.shape[1]}], outputs {names}')
    if not args.no_verify:
        clip = torch.randn(1, 3, args.clip_len, *args.shape)
        print('max |onnxruntime - pytorch| = '
              f'{max_abs_diff(model, args.output, clip):.2e}')


if __name__ == '__main__':
    main()
