"""Export a YOWO detector to ONNX (raw head maps; mmyowo/deploy/onnx_export.py
documents the graphs).

Usage::

    # the three graphs of both inference modes + manifest.json, for
    # init_detector(..., backend='onnxruntime') and tools/demo.py
    python tools/deployment/export_onnx.py CONFIG --checkpoint CKPT \
        --out-dir work_dirs/yowo_onnx [--clip-len 16] [--shape 224 224] \
        [--opset 17] [--no-verify] [--cfg-options ...]

    # the per-frame graph alone, as one file
    python tools/deployment/export_onnx.py CONFIG [--checkpoint CKPT] \
        --clip-len 16 --shape 224 224 --output model.onnx \
        [--dynamic-batch] [--no-verify]

With ``--out-dir``, ``--clip-len`` and ``--shape`` default to the config's
test pipeline (what ``init_detector(..., backend='onnxruntime')`` checks),
the batch axes are dynamic, and the checkpoint's ``dataset_meta`` (class
names) goes into the manifest.

The per-frame graph (the per-frame path of mmyowo/apis/inference.py, key
frame last):

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
``--no-verify``, run with onnxruntime on random inputs and compared with
PyTorch (the largest difference is printed, and recorded in the manifest).
"""
import argparse
from typing import List, Optional, Sequence

import numpy as np
import torch
import torch.nn as nn
from mmengine.config import DictAction

from mmyowo.apis import init_detector
from mmyowo.apis.preprocessing import DEFAULT_SETTINGS, FramePreprocessor
from mmyowo.deploy import export_onnx, export_onnx_graphs
from mmyowo.deploy.onnx_export import INPUT_NAME, PerFrameGraph


def run_onnxruntime(path: str, clip: np.ndarray) -> List[np.ndarray]:
    """Run the exported graph on a ``[B, 3, L, H, W]`` float32 clip."""
    import onnxruntime as ort
    session = ort.InferenceSession(path, providers=['CPUExecutionProvider'])
    return session.run(None, {INPUT_NAME: clip.astype(np.float32)})


def max_abs_diff(model: nn.Module, path: str, clip: torch.Tensor) -> float:
    """Largest difference between onnxruntime's and PyTorch's maps."""
    with torch.no_grad():
        expected = PerFrameGraph(model).eval()(clip)
    actual = run_onnxruntime(path, clip.numpy())
    return max(
        float(np.abs(a - e.numpy()).max()) for a, e in zip(actual, expected))


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('config')
    parser.add_argument('--checkpoint')
    parser.add_argument(
        '--clip-len',
        type=int,
        help='clip length (default: the config\'s test pipeline, else '
        f'{DEFAULT_SETTINGS["clip_len"]})')
    parser.add_argument(
        '--shape',
        type=int,
        nargs=2,
        metavar=('H', 'W'),
        help='input size (default: the config\'s test pipeline, else '
        f'{DEFAULT_SETTINGS["input_size"]})')
    where = parser.add_mutually_exclusive_group()
    where.add_argument(
        '--out-dir',
        help='write the graphs of both inference modes and manifest.json '
        'here (for backend="onnxruntime")')
    where.add_argument(
        '--output', help='write the per-frame graph alone to this file')
    parser.add_argument('--opset', type=int, default=17)
    parser.add_argument(
        '--dynamic-batch',
        action='store_true',
        help='--output: make the batch axis dynamic (always with --out-dir)')
    parser.add_argument(
        '--no-verify',
        action='store_true',
        help='skip the onnxruntime comparison')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)
    args = parser.parse_args(argv)
    if args.clip_len is not None and args.clip_len < 1:
        parser.error('--clip-len must be >= 1')
    if args.out_dir is None and args.output is None:
        args.output = 'yowo_plus.onnx'
    return args


def main(argv: Optional[Sequence[str]] = None) -> None:
    args = parse_args(argv)
    model = init_detector(
        args.config,
        args.checkpoint,
        device='cpu',
        cfg_options=args.cfg_options)
    # The settings init_detector(..., backend='onnxruntime') will check.
    preprocessor, settings = FramePreprocessor.from_config(
        model.cfg, model.data_preprocessor, input_size=args.shape)
    clip_len = args.clip_len or int(
        settings.get('clip_len', DEFAULT_SETTINGS['clip_len']))
    shape = list(preprocessor.input_size)
    stride = max(model.bbox_head.strides)
    if any(s <= 0 or s % stride for s in shape):
        raise ValueError(f'--shape {shape} must be multiples of the '
                         f'largest stride {stride}')
    if args.out_dir is not None:
        manifest = export_onnx_graphs(
            model,
            args.out_dir,
            clip_len,
            shape,
            args.opset,
            dataset_meta=model.dataset_meta,
            verify=not args.no_verify)
        for name, graph in manifest['graphs'].items():
            diff = graph.get('max_abs_diff_vs_pytorch')
            check = '' if diff is None else \
                f', max |onnxruntime - pytorch| = {diff:.2e}'
            print(f'{args.out_dir}/{graph["file"]}: inputs {graph["inputs"]}'
                  f', outputs {graph["outputs"]}{check}')
        print(f'{args.out_dir}/manifest.json: clip_len {clip_len}, input '
              f'{shape[0]}x{shape[1]}, float32')
        return
    names = export_onnx(model, args.output, clip_len, shape, args.opset,
                        args.dynamic_batch)
    print(f'{args.output}: input {INPUT_NAME} [B, 3, {clip_len}, '
          f'{shape[0]}, {shape[1]}], outputs {names}')
    if not args.no_verify:
        clip = torch.randn(1, 3, clip_len, *shape)
        print('max |onnxruntime - pytorch| = '
              f'{max_abs_diff(model, args.output, clip):.2e}')


if __name__ == '__main__':
    main()
