"""Convert timm's ``cspdarknet53`` weights to mmyowo's ``CSPDarknet53``.

Usage::

    python tools/model_converters/timm_cspdarknet53_to_mmyowo.py SRC DST

``SRC`` is a timm checkpoint: a ``.safetensors`` file (needs the
``safetensors`` package), or a ``.pth``/``.pt``/``.bin`` file holding a state
dict, possibly wrapped in ``{'state_dict': ...}`` or ``{'model': ...}``. Both
the classification model (its ``head.*`` classifier is dropped) and a
``features_only`` model are accepted. ``DST`` is written as
``{'state_dict': ...}`` with backbone-level keys (``stem.*``, ``stages.*``,
no prefix), so it is loaded on the backbone itself::

    backbone_2d=dict(
        type='CSPDarknet53',
        act_cfg=dict(type='LeakyReLU'),  # what timm's ImageNet weights use
        init_cfg=dict(type='Pretrained', checkpoint='DST'))

Do not set ``prefix`` in that ``init_cfg``; ``prefix`` selects a sub-dict of
a whole-model checkpoint (e.g. ``prefix='backbone_2d.'`` to take the 2D
branch of a trained YOWO checkpoint).

The renaming itself is
:func:`mmyowo.models.backbones.convert_timm_cspdarknet53`.
"""
import argparse
import os.path as osp
from typing import Dict, List, Optional

import torch

from mmyowo.models.backbones import convert_timm_cspdarknet53
from mmyowo.utils.checkpoint import load_checkpoint_file, unwrap_state_dict


def load_timm_state_dict(path: str) -> Dict[str, torch.Tensor]:
    """Read a timm state dict from ``path`` (.safetensors or torch file).

    Raises:
        FileNotFoundError: If ``path`` does not exist.
        ImportError: For a .safetensors file without ``safetensors``.
        ValueError: If the file holds no tensor state dict.
    """
    if not osp.isfile(path):
        raise FileNotFoundError(f'timm checkpoint not found: {path}')
    if path.endswith('.safetensors'):
        try:
            from safetensors.torch import load_file
        except ImportError as err:
            raise ImportError(f'reading {path} needs the safetensors package '
                              '(pip install safetensors)') from err
        return load_file(path, device='cpu')
    checkpoint = unwrap_state_dict(load_checkpoint_file(path, 'cpu'), path)
    non_tensors = [k for k, v in checkpoint.items()
                   if not isinstance(v, torch.Tensor)]
    if non_tensors:
        raise ValueError(f'{path} is not a state dict of tensors: entries '
                         f'{non_tensors[:10]} are not tensors')
    return checkpoint


def main(argv: Optional[List[str]] = None) -> None:
    """Command-line entry point (``argv`` defaults to ``sys.argv[1:]``)."""
    parser = argparse.ArgumentParser(
        description='Convert timm cspdarknet53 weights to mmyowo '
        'CSPDarknet53 (backbone-level keys).')
    parser.add_argument('src', help='timm checkpoint (.pth or .safetensors)')
    parser.add_argument('dst', help='output checkpoint path')
    args = parser.parse_args(argv)

    state_dict = convert_timm_cspdarknet53(load_timm_state_dict(args.src))
    dst_dir = osp.dirname(osp.abspath(args.dst))
    if not osp.isdir(dst_dir):
        raise FileNotFoundError(f'output directory does not exist: {dst_dir}')
    torch.save({'state_dict': state_dict}, args.dst)
    print(f'wrote {len(state_dict)} tensors to {args.dst}')


if __name__ == '__main__':
    main()
