"""Fit the anchors of a YOWO-Plus config to a dataset's boxes by IoU k-means.

Usage::

    python tools/analysis/kmeans_anchors.py GT_FILE \\
        [--config configs/_base_/models/yowo_plus.py] [--input-size W H] \\
        [--split 0] [--num-anchors 9] [--seed 0] [--update median] \\
        [--num-boxes 20000]

Every annotated box of the training videos of ``--split`` in the canonical
ground truth ``GT_FILE`` (``.pkl`` / ``.json``, see
``mmyowo.datasets.annotations``) is rescaled from its video's
``resolution`` to the network input, as the test pipeline's
``Resize(keep_ratio=False)`` does. The ``(w, h)`` pairs are clustered with
k-means under the distance ``1 - IoU`` of boxes aligned at a common centre
(YOLOv2, Redmon & Farhadi 2017, §"Dimension Clusters"): k-means++
initialisation under that distance, the **median** width and height of each
cluster as its new centre (``--update mean`` for the mean), repeated from
``--num-init`` seeded starts, the run with the highest mean best-anchor IoU
kept. The anchors, rounded to whole pixels, are sorted by area and split
finest level first into the levels of the config's strides (3 x 3 for the
paper's 9 anchors and strides 8/16/32).

Printed: the anchors as a ``base_anchors`` config snippet; the mean
best-anchor IoU over all training boxes with the config's anchors (before)
and the fitted ones (after); and the histogram of positives per ground-truth
box when the config's real assigner (``MultiLevelTopKAssigner``, paper §3.3)
assigns the boxes of ``--num-boxes`` randomly drawn training frames (all
boxes of a frame together, so conflicts count) on the model's grid, before
and after.

Input size: ``--input-size``, else the ``Resize`` scale of the config's test
pipeline, else 224x224.
"""
import argparse
import os.path as osp
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
from mmaction.registry import TASK_UTILS
from mmengine.config import Config
from mmengine.registry import init_default_scope

import mmyowo  # noqa: F401
from mmyowo.datasets.annotations import group_boxes_by_frame, load_annotations

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
DEFAULT_CONFIG = osp.join(REPO, 'configs', '_base_', 'models', 'yowo_plus.py')
DEFAULT_INPUT_SIZE = (224, 224)
UPDATES = ('median', 'mean')


def wh_iou(wh: np.ndarray, anchors: np.ndarray) -> np.ndarray:
    """IoU of boxes and anchors aligned at a common centre.

    Args:
        wh (np.ndarray): ``(N, 2)`` box widths and heights.
        anchors (np.ndarray): ``(K, 2)`` anchor widths and heights, > 0.

    Returns:
        np.ndarray: ``(N, K)`` IoUs; ``1 - IoU`` is the k-means distance.
    """
    wh = np.asarray(wh, dtype=np.float64)
    anchors = np.asarray(anchors, dtype=np.float64)
    inter = (
        np.minimum(wh[:, None, 0], anchors[None, :, 0]) *
        np.minimum(wh[:, None, 1], anchors[None, :, 1]))
    union = (wh[:, 0] * wh[:, 1])[:, None] + (anchors[:, 0] *
                                              anchors[:, 1])[None] - inter
    return inter / union


def training_frames(gt: Dict,
                    input_size: Tuple[int, int],
                    split: int = 0,
                    source: str = 'ground truth') -> List[np.ndarray]:
    """The boxes of every annotated frame of the training videos, rescaled.

    Args:
        gt (dict): Canonical ground truth.
        input_size (tuple[int, int]): ``(W, H)`` of the network input.
        split (int): Index into ``gt['train_videos']``.
        source (str): Name of the file, for error messages.

    Returns:
        list[np.ndarray]: One float64 ``(k, 4)`` xyxy array per annotated
        frame, in input pixels (``x * W / w``, ``y * H / h`` for a video of
        ``resolution`` ``(h, w)``).

    Raises:
        ValueError: For a missing split or a split without any box.
    """
    if not 0 <= split < len(gt['train_videos']):
        raise ValueError(f'{source}: split {split} does not exist '
                         f'(train_videos has {len(gt["train_videos"])} '
                         'splits)')
    in_w, in_h = input_size
    frames = []
    for video in gt['train_videos'][split]:
        h, w = gt['resolution'][video]
        scale = np.array([in_w / w, in_h / h] * 2)
        per_frame = group_boxes_by_frame(gt['gttubes'].get(video, {}))
        for frame in sorted(per_frame):
            frames.append(per_frame[frame][0].astype(np.float64) * scale)
    if not frames:
        raise ValueError(f'{source}: the training videos of split {split} '
                         'have no boxes')
    return frames


def _weighted_median(values: np.ndarray, weights: np.ndarray) -> float:
    """Smallest value whose cumulative weight reaches half the total."""
    order = np.argsort(values, kind='stable')
    cumulative = np.cumsum(weights[order])
    return float(values[order][np.searchsorted(cumulative,
                                               cumulative[-1] / 2)])


def _update(wh: np.ndarray, weights: np.ndarray, update: str) -> np.ndarray:
    if update == 'mean':
        return (wh * weights[:, None]).sum(0) / weights.sum()
    return np.array([
        _weighted_median(wh[:, 0], weights),
        _weighted_median(wh[:, 1], weights)
    ])


def _kmeans_once(wh: np.ndarray, weights: np.ndarray, k: int,
                 rng: np.random.Generator, update: str,
                 max_iter: int) -> np.ndarray:
    # k-means++: each next centre drawn with probability ~ weight * d^2,
    # d = 1 - IoU with the nearest centre chosen so far.
    centres = [wh[rng.choice(len(wh), p=weights / weights.sum())]]
    for _ in range(1, k):
        dist = 1 - wh_iou(wh, np.array(centres)).max(1)
        # Positive: the sizes are distinct and more than k (checked).
        prob = weights * dist**2
        centres.append(wh[rng.choice(len(wh), p=prob / prob.sum())])
    centres = np.array(centres, dtype=np.float64)
    assign = None
    for _ in range(max_iter):
        ious = wh_iou(wh, centres)
        new_assign = ious.argmax(1)
        if assign is not None and np.array_equal(new_assign, assign):
            break
        assign = new_assign
        for c in range(k):
            members = assign == c
            if members.any():
                centres[c] = _update(wh[members], weights[members], update)
            else:
                # An emptied cluster restarts at the worst-fitted size.
                centres[c] = wh[np.argmin(ious.max(1))]
    return centres


def kmeans_anchors(wh: np.ndarray,
                   k: int = 9,
                   seed: int = 0,
                   update: str = 'median',
                   num_init: int = 5,
                   max_iter: int = 300) -> np.ndarray:
    """IoU k-means of box sizes; returns ``(k, 2)`` centres sorted by area.

    Identical sizes are merged (with their counts as weights) first, which
    gives the same clustering as the raw boxes at a fraction of the cost.

    Args:
        wh (np.ndarray): ``(N, 2)`` positive widths and heights.
        k (int): Number of anchors.
        seed (int): Seed of the k-means++ draws.
        update (str): ``'median'`` or ``'mean'`` of the members' widths and
            heights as the new centre.
        num_init (int): Seeded restarts; the one with the highest mean
            best-anchor IoU is returned.
        max_iter (int): Iterations per run at most (stops earlier when no
            box changes cluster).

    Raises:
        ValueError: Bad arguments, non-positive sizes or fewer distinct
            sizes than ``k``.
    """
    if update not in UPDATES:
        raise ValueError(f'update must be one of {UPDATES}, got {update!r}')
    wh = np.asarray(wh, dtype=np.float64).reshape(-1, 2)
    if not (wh > 0).all():
        raise ValueError('box widths and heights must be positive')
    sizes, counts = np.unique(wh, axis=0, return_counts=True)
    if len(sizes) < k:
        raise ValueError(f'{len(sizes)} distinct box sizes cannot make '
                         f'{k} anchors')
    weights = counts.astype(np.float64)
    rng = np.random.default_rng(seed)
    best, best_iou = None, -1.0
    for _ in range(num_init):
        centres = _kmeans_once(sizes, weights, k, rng, update, max_iter)
        score = mean_best_iou(sizes, centres, weights)
        if score > best_iou:
            best, best_iou = centres, score
    return best[np.argsort(best.prod(1), kind='stable')]


def mean_best_iou(wh: np.ndarray,
                  anchors: np.ndarray,
                  weights: Optional[np.ndarray] = None) -> float:
    """Mean over boxes of the IoU with the best-fitting anchor."""
    best = wh_iou(wh,
                  np.asarray(anchors, dtype=np.float64).reshape(-1, 2)).max(1)
    return float(np.average(best, weights=weights))


def split_into_levels(anchors: np.ndarray,
                      num_levels: int) -> List[List[Tuple[int, int]]]:
    """Round anchors to whole pixels (at least 1) and deal them, sorted by
    area, into ``num_levels`` equal groups, finest level first."""
    anchors = np.asarray(anchors, dtype=np.float64).reshape(-1, 2)
    if len(anchors) % num_levels:
        raise ValueError(f'{len(anchors)} anchors do not split into '
                         f'{num_levels} equal levels')
    rounded = np.maximum(np.rint(anchors), 1).astype(int)
    rounded = rounded[np.argsort(rounded.prod(1), kind='stable')]
    per_level = len(rounded) // num_levels
    return [[(int(w), int(h)) for w, h in rounded[i:i + per_level]]
            for i in range(0, len(rounded), per_level)]


def featmap_sizes_of(input_size: Tuple[int, int],
                     strides: Sequence[int]) -> List[Tuple[int, int]]:
    """``(H, W)`` per level; stride-2 convs with padding round up."""
    in_w, in_h = input_size
    return [(-(-in_h // s), -(-in_w // s)) for s in strides]


def positives_per_box(frames: Sequence[np.ndarray], assigner,
                      base_anchors: Sequence, strides: Sequence[int],
                      featmap_sizes: Sequence[Tuple[int, int]]) -> np.ndarray:
    """Number of positive priors of every box, frame by frame.

    Args:
        frames (sequence[np.ndarray]): ``(k, 4)`` xyxy boxes per frame.
        assigner: An assigner with ``assign(gt_bboxes, base_anchors,
            strides, featmap_sizes)`` (``MultiLevelTopKAssigner``).
        base_anchors, strides, featmap_sizes: Passed to ``assign``.

    Returns:
        np.ndarray: int64, one count per box, frames concatenated.
    """
    counts = []
    for boxes in frames:
        assigned = assigner.assign(
            torch.as_tensor(boxes, dtype=torch.float32), base_anchors, strides,
            featmap_sizes)
        counts.append(
            torch.bincount(assigned, minlength=len(boxes) + 1)[1:].numpy())
    return np.concatenate(counts).astype(np.int64)


def sample_frames(frames: Sequence[np.ndarray],
                  num_boxes: int,
                  seed: int = 0) -> List[np.ndarray]:
    """Frames drawn at random without replacement until they hold at least
    ``num_boxes`` boxes (all frames if they hold fewer)."""
    order = np.random.default_rng(seed).permutation(len(frames))
    taken, total = [], 0
    for index in order:
        if total >= num_boxes:
            break
        taken.append(frames[index])
        total += len(frames[index])
    return taken


def input_size_of(cfg: Config) -> Optional[Tuple[int, int]]:
    """``(W, H)`` of the test pipeline's ``Resize``, if the config has one."""
    loader = cfg.get('test_dataloader')
    if not loader:
        return None
    for transform in loader.dataset.get('pipeline', []):
        if transform.get('type') == 'Resize':
            w, h = transform['scale']
            return int(w), int(h)
    return None


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Fit anchors to the training boxes of a canonical GT '
        'file by IoU k-means.')
    parser.add_argument('gt', help='canonical ground truth (.pkl / .json)')
    parser.add_argument(
        '--config',
        default=DEFAULT_CONFIG,
        help='config whose anchors, strides and assigner are compared '
        '(default: the base model, COCO anchors)')
    parser.add_argument(
        '--input-size',
        type=int,
        nargs=2,
        metavar=('W', 'H'),
        help='network input (default: the Resize of the '
        "config's test pipeline, else 224 224)")
    parser.add_argument(
        '--split', type=int, default=0, help='index of the training split')
    parser.add_argument(
        '--num-anchors',
        type=int,
        help="default: the config's number of anchors")
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--update', choices=UPDATES, default='median')
    parser.add_argument('--num-init', type=int, default=5)
    parser.add_argument(
        '--num-boxes',
        type=int,
        default=20000,
        help='boxes (whole frames) for the assigner '
        'histogram')
    return parser.parse_args(argv)


def _histogram_table(before: np.ndarray, after: np.ndarray) -> str:
    size = max(before.max(), after.max()) + 1
    hb = np.bincount(before, minlength=size)
    ha = np.bincount(after, minlength=size)
    rows = ['positives | before          | after']
    for n in range(size):
        rows.append(f'{n:9d} | {hb[n]:6d} ({hb[n] / len(before):6.1%}) | '
                    f'{ha[n]:6d} ({ha[n] / len(after):6.1%})')
    rows.append(f'     mean | {before.mean():15.3f} | {after.mean():.3f}')
    return '\n'.join(rows)


def main(argv: Optional[Sequence[str]] = None) -> Dict:
    """Fit, print and return ``dict(anchors, iou_before, iou_after,
    positives_before, positives_after)``."""
    args = parse_args(argv)
    cfg = Config.fromfile(args.config)
    head = cfg.model.bbox_head
    old_anchors = [[tuple(a) for a in level] for level in head.base_anchors]
    strides = tuple(head.strides)
    input_size = tuple(
        args.input_size or input_size_of(cfg) or DEFAULT_INPUT_SIZE)
    init_default_scope(cfg.get('default_scope', 'mmaction'))
    assigner = TASK_UTILS.build(cfg.model.train_cfg.assigner)
    k = args.num_anchors or sum(len(level) for level in old_anchors)

    gt = load_annotations(args.gt)
    frames = training_frames(gt, input_size, args.split, args.gt)
    boxes = np.concatenate(frames)
    wh = boxes[:, 2:] - boxes[:, :2]
    print(f'{args.gt}: {len(wh)} boxes in {len(frames)} frames of '
          f'{len(gt["train_videos"][args.split])} training videos (split '
          f'{args.split}), rescaled to the {input_size[0]}x{input_size[1]} '
          'input')
    fitted = kmeans_anchors(wh, k, args.seed, args.update, args.num_init)
    new_anchors = split_into_levels(fitted, len(strides))
    iou_before = mean_best_iou(wh, np.concatenate(old_anchors))
    iou_after = mean_best_iou(wh, np.concatenate(new_anchors))
    print(f'IoU k-means (k={k}, k-means++ init, {args.update} update, seed '
          f'{args.seed}, best of {args.num_init}), levels of strides '
          f'{strides} finest first:')
    print('base_anchors=[' +
          ',\n              '.join('[' + ', '.join(f'({w}, {h})'
                                                   for w, h in level) + ']'
                                   for level in new_anchors) + ']')
    print(f'mean best-anchor IoU: before {iou_before:.4f}, after '
          f'{iou_after:.4f}')

    sampled = sample_frames(frames, args.num_boxes, args.seed)
    featmaps = featmap_sizes_of(input_size, strides)
    before = positives_per_box(sampled, assigner, old_anchors, strides,
                               featmaps)
    after = positives_per_box(sampled, assigner, new_anchors, strides,
                              featmaps)
    print(f'positives per ground-truth box ({type(assigner).__name__}, '
          f'{len(before)} boxes of {len(sampled)} random training frames, '
          f'feature maps {featmaps}):')
    print(_histogram_table(before, after))
    return dict(
        anchors=new_anchors,
        iou_before=iou_before,
        iou_after=iou_after,
        positives_before=before,
        positives_after=after)


if __name__ == '__main__':
    main()
