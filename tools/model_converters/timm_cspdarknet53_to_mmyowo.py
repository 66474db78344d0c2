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

The renaming is :func:`convert_timm_cspdarknet53`: ``CSPDarknet53`` mirrors
timm's module layout one to one, so only prefixes change.
"""
import argparse
import os.path as osp
import re
from collections import OrderedDict
from typing import Dict, List, Mapping, Optional, Tuple

import torch

from mmyowo.utils.atomic_io import atomic_writer
from mmyowo.utils.checkpoint import load_checkpoint_file, unwrap_state_dict

# timm prefix -> our prefix. Full models (and checkpoints on the hub) use
# ``stem.conv1.`` / ``stages.<i>.``; ``features_only`` models flatten the
# first level of their ``nn.Sequential`` containers into ``stem_conv1.`` /
# ``stages_<i>.``. Below these prefixes both layouts are identical to ours
# (timm's ConvNormAct has ``conv`` and ``bn`` children, like ConvModule).
_TIMM_KEY_RULES: Tuple[Tuple[str, str], ...] = (
    (r'^stem[._]conv1\.', 'stem.'),
    (r'^stages[._](\d+)\.', r'stages.\1.'),
)
# The ImageNet classifier, which a backbone does not have.
_TIMM_DROPPED_KEYS = re.compile(r'^head\.')


def convert_timm_cspdarknet53(state_dict: Mapping[str, torch.Tensor]
                              ) -> 'OrderedDict[str, torch.Tensor]':
    """Rename a timm ``cspdarknet53`` state dict to ``CSPDarknet53``'s.

    Accepts the full classification model's keys (the classifier ``head.*``
    is dropped) and the ``features_only`` model's keys.

    Args:
        state_dict (Mapping[str, Tensor]): timm state dict.

    Returns:
        OrderedDict[str, Tensor]: Backbone-level state dict (no prefix), to
        be loaded with ``init_cfg=dict(type='Pretrained', checkpoint=PATH)``
        on the backbone.

    Raises:
        ValueError: If keys match no known timm layout (listed in the
            message), or if nothing is left to convert.
    """
    converted: 'OrderedDict[str, torch.Tensor]' = OrderedDict()
    unmatched = []
    for key, value in state_dict.items():
        if _TIMM_DROPPED_KEYS.match(key):
            continue
        for pattern, replacement in _TIMM_KEY_RULES:
            new_key, count = re.subn(pattern, replacement, key)
            if count:
                converted[new_key] = value
                break
        else:
            unmatched.append(key)
    if unmatched:
        raise ValueError(
            f'{len(unmatched)} keys of the timm state dict are not part of '
            f'cspdarknet53: {unmatched}')
    if not converted:
        raise ValueError('the timm state dict has no cspdarknet53 backbone '
                         'weights (stem.* / stages.*)')
    return converted


def load_timm_state_dict(path: str) -> Dict[str, torch.Tensor]:
    """Read a timm state dict from ``path`` (.safetensors or torch file).

    Raises:
        FileNotFoundError: If ``path`` does not exist.
        ImportError: For a .safetensors file without ``safetensors``.
        ValueError: Naming the file if it holds no tensor state dict or is
            no valid .safetensors file (bad header, truncated data).
    """
    if not osp.isfile(path):
        raise FileNotFoundError(f'timm checkpoint not found: {path}')
    if path.endswith('.safetensors'):
        try:
            from safetensors import SafetensorError
            from safetensors.torch import load_file
        except ImportError as err:
            raise ImportError(f'reading {path} needs the safetensors package '
                              '(pip install safetensors)') from err
        try:
            return load_file(path, device='cpu')
        except SafetensorError as err:
            # Its message names neither the file nor the format.
            raise ValueError(f'{path}: not a readable .safetensors file '
                             f'({err})') from err
    checkpoint = unwrap_state_dict(load_checkpoint_file(path, 'cpu'), path)
    non_tensors = [
        k for k, v in checkpoint.items() if not isinstance(v, torch.Tensor)
    ]
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

    timm_state_dict = load_timm_state_dict(args.src)
    try:
        state_dict = convert_timm_cspdarknet53(timm_state_dict)
    except ValueError as err:
        # The renaming's messages (unknown keys, no backbone key) do not
        # say which file they are about.
        raise ValueError(f'{args.src}: {err}') from err
    dst_dir = osp.dirname(osp.abspath(args.dst))
    if not osp.isdir(dst_dir):
        raise FileNotFoundError(f'output directory does not exist: {dst_dir}')
    # Atomically: a failed write keeps a previous file under that name.
    with atomic_writer(args.dst) as f:
        torch.save({'state_dict': state_dict}, f)
    print(f'wrote {len(state_dict)} tensors to {args.dst}')


if __name__ == '__main__':
    main()
