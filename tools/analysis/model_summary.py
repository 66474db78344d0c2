"""Print parameters and GFLOPs of a YOWO model per branch.

Usage::

    python tools/analysis/model_summary.py configs/yowo_plus_ucf24.py \
        [--clip-lens 8 16] [--shape 224 224] [--cfg-options ...]

The branches are the 2D backbone (one key frame), the 3D branch (backbone +
time-collapsing neck, whole clip), the fusion neck and the head. FLOPs are
counted by mmengine's ``FlopAnalyzer`` (one multiply-add = one FLOP, the
convention of the paper's Table 4 and of mmdet/mmaction's get_flops).
"""
import argparse
from typing import Dict, List, Sequence

import torch
import torch.nn as nn
from mmaction.registry import MODELS
from mmengine.analysis import FlopAnalyzer
from mmengine.config import Config, DictAction
from mmengine.registry import init_default_scope

import mmyowo  # noqa: F401


def count_params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


class _Branch(nn.Module):
    """Wrap a callable over submodules so FlopAnalyzer can trace it."""

    def __init__(self, fn, modules: Sequence[nn.Module]) -> None:
        super().__init__()
        self.fn = fn
        self.parts = nn.ModuleList(modules)

    def forward(self, *args):
        return self.fn(*args)


def _gflops(module: nn.Module, inputs: tuple) -> float:
    analyzer = FlopAnalyzer(module, inputs)
    analyzer.unsupported_ops_warnings(False)
    analyzer.uncalled_modules_warnings(False)
    return analyzer.total() / 1e9


@torch.no_grad()
def summarize(model: nn.Module, clip_len: int,
              shape: Sequence[int]) -> List[Dict[str, object]]:
    """Rows ``{branch, params_M, gflops}`` for one clip length."""
    model.eval()
    h, w = shape
    clip = torch.randn(1, 3, clip_len, h, w)
    key = clip[:, :, -1]
    feats_2d = model.extract_feat_2d(key)
    feat_3d = model.extract_feat_3d(clip)
    fused = model.fuse(feats_2d, feat_3d)
    branches = [
        ('2D backbone', _Branch(model.extract_feat_2d,
                                [model.backbone_2d]), (key, )),
        ('3D branch',
         _Branch(model.extract_feat_3d, [
             m for m in (model.backbone_3d, model.neck_3d) if m is not None
         ]), (clip, )),
        ('fusion neck',
         _Branch(lambda *f: model.fuse(f[:-1], f[-1]),
                 [model.neck]), (*feats_2d, feat_3d)),
        ('head', _Branch(lambda *f: model.bbox_head(f),
                         [model.bbox_head]), fused),
    ]
    rows = []
    for name, module, inputs in branches:
        if name == '3D branch' and feat_3d is None:
            continue
        rows.append(
            dict(
                branch=name,
                params_M=count_params(module) / 1e6,
                gflops=_gflops(module, inputs)))
    rows.append(
        dict(
            branch='total',
            params_M=sum(r['params_M'] for r in rows),
            gflops=sum(r['gflops'] for r in rows)))
    return rows


def format_table(results: Dict[int, List[Dict[str, object]]]) -> str:
    lens = sorted(results)
    header = '| branch | params (M) | ' + ' | '.join(f'GFLOPs @{n} frames'
                                                     for n in lens) + ' |'
    lines = [header, '|' + '---|' * (2 + len(lens))]
    for i, row in enumerate(results[lens[0]]):
        cells = ' | '.join(f"{results[n][i]['gflops']:.2f}" for n in lens)
        lines.append(f"| {row['branch']} | {row['params_M']:.2f} | {cells} |")
    return '\n'.join(lines)


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('config')
    parser.add_argument('--clip-lens', type=int, nargs='+', default=[8, 16])
    parser.add_argument('--shape', type=int, nargs=2, default=[224, 224])
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    init_default_scope(cfg.get('default_scope', 'mmaction'))
    model = MODELS.build(cfg.model)
    results = {n: summarize(model, n, args.shape) for n in args.clip_lens}
    print(f'Model: {args.config}, input {args.shape[0]}x{args.shape[1]}')
    print(format_table(results))


if __name__ == '__main__':
    main()
