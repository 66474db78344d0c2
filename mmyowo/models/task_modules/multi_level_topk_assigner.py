"""Multi-level top-k positive assignment (paper §3.3, last paragraph)."""
from typing import List, Sequence, Tuple, Union

import torch
from mmaction.registry import TASK_UTILS
from torch import Tensor


def shape_iou(wh1: Tensor, wh2: Tensor) -> Tensor:
    """IoU of boxes aligned at a common centre, from their sizes only.

    Args:
        wh1 (Tensor): ``(N, 2)`` widths and heights.
        wh2 (Tensor): ``(K, 2)`` widths and heights, all positive.

    Returns:
        Tensor: ``(N, K)`` IoUs.
    """
    inter = (
        torch.min(wh1[:, None, 0], wh2[None, :, 0]) *
        torch.min(wh1[:, None, 1], wh2[None, :, 1]))
    area1 = wh1[:, 0] * wh1[:, 1]
    area2 = wh2[:, 0] * wh2[:, 1]
    return inter / (area1[:, None] + area2[None, :] - inter)


@TASK_UTILS.register_module()
class MultiLevelTopKAssigner:
    """Assign each ground truth to priors on several levels (YOWO-Plus §3.3).

    YOLOv3 gives a ground truth only the single prior whose anchor best fits
    it among all levels. YOWO-Plus relaxes this, level by level: "for the
    topmost feature map, only one box with the highest iou with the nine
    priori boxes is matched; for the second layer ... the two boxes with the
    highest iou ...; for the third layer ... the three boxes ...; if they are
    not present, this layer will not be responsible for prediction". Read
    here as:

    1. Rank all anchors of all levels (9 for YOLOv3) by *shape IoU* with
       the ground truth (boxes aligned at the centre, IoU of the ``(w, h)``
       pairs). Equal IoUs keep the anchor order, finest level first.
    2. Level ``l`` takes those of **its own** anchors whose rank is below
       ``topk_per_level[l]``: with ``(3, 2, 1)`` the coarsest level (stride
       32) takes its anchor if it is the overall best, the middle one its
       anchors among the best two, the finest one its anchors among the best
       three. A level owning none of them is not responsible.
    3. For every taken anchor, the prior at the cell holding the box centre,
       ``(floor(cx / stride), floor(cy / stride))`` clamped to the map,
       becomes positive. A centre on a cell edge belongs to the right/lower
       cell.

    A ground truth thus gets between 1 and ``max(topk_per_level)`` positives
    (with ``(3, 2, 1)``: at most 3, the best anchor always included).

    Conflicts: when several ground truths claim the same prior (centres in
    one cell, same anchor), the one whose shape IoU with that anchor is the
    highest wins, ties going to the lower ground-truth index. Unlike
    YOLOv3's "label overwrite" (the later box wins, the paper's ref. [46])
    the outcome does not depend on the annotation order, and the prior goes
    to the box its anchor describes best; the loser keeps its other
    positives.

    Args:
        topk_per_level (sequence[int]): ``k`` per level, finest level first.
            Defaults to ``(3, 2, 1)`` (paper).
    """

    def __init__(self, topk_per_level: Sequence[int] = (3, 2, 1)) -> None:
        if len(topk_per_level) == 0 or any(
                int(k) != k or k < 0 for k in topk_per_level):
            raise ValueError('topk_per_level must be non-negative integers, '
                             f'got {topk_per_level}')
        self.topk_per_level = tuple(int(k) for k in topk_per_level)

    def assign(self, gt_bboxes: Tensor, base_anchors: List[Union[Tensor,
                                                                 Sequence]],
               strides: Sequence[int],
               featmap_sizes: Sequence[Tuple[int, int]]) -> Tensor:
        """Assign the ground truths of one image to the priors.

        Args:
            gt_bboxes (Tensor): ``(N, 4)`` xyxy boxes in input pixels.
            base_anchors (list[Tensor]): ``(A_l, 2)`` anchor ``(w, h)`` in
                input pixels per level, finest first.
            strides (sequence[int]): Stride per level.
            featmap_sizes (sequence[tuple[int, int]]): ``(H, W)`` per level.

        Returns:
            Tensor: ``assigned_gt_inds`` LongTensor ``(num_priors,)`` on the
            device of ``gt_bboxes``: 0 = negative, ``i + 1`` = ground truth
            ``i``; priors in the order of docs/architecture.md (per level
            ``(y * W + x) * A + a``, levels finest first).

        Raises:
            ValueError: Inconsistent numbers of levels, bad shapes or
                non-positive anchors.
        """
        num_levels = len(base_anchors)
        if not (len(strides) == len(featmap_sizes) == num_levels == len(
                self.topk_per_level)):
            raise ValueError(
                'MultiLevelTopKAssigner needs one entry per level in '
                f'base_anchors ({num_levels}), strides ({len(strides)}), '
                f'featmap_sizes ({len(featmap_sizes)}) and topk_per_level '
                f'({len(self.topk_per_level)})')
        if gt_bboxes.dim() != 2 or gt_bboxes.shape[1] != 4:
            raise ValueError('gt_bboxes must have shape (N, 4), got '
                             f'{tuple(gt_bboxes.shape)}')
        device = gt_bboxes.device
        anchors = [
            torch.as_tensor(a, dtype=torch.float32, device=device)
            for a in base_anchors
        ]
        if any(a.dim() != 2 or a.shape[1] != 2 for a in anchors):
            raise ValueError('base_anchors must be (A_l, 2) per level, got '
                             f'{[tuple(a.shape) for a in anchors]}')
        all_anchors = torch.cat(anchors)
        if not bool((all_anchors > 0).all()):
            raise ValueError('anchor sizes must be positive')

        # Per-anchor attributes of the level owning it, shape (K,).
        counts = [a.shape[0] for a in anchors]
        level_sizes = [h * w * n for (h, w), n in zip(featmap_sizes, counts)]
        offsets = [sum(level_sizes[:i]) for i in range(num_levels)]

        def per_anchor(values: Sequence) -> Tensor:
            return torch.repeat_interleave(
                torch.as_tensor(values, device=device),
                torch.as_tensor(counts, device=device))

        stride_k = per_anchor(strides).float()
        height_k = per_anchor([h for h, _ in featmap_sizes]).long()
        width_k = per_anchor([w for _, w in featmap_sizes]).long()
        count_k = per_anchor(counts).long()
        offset_k = per_anchor(offsets).long()
        topk_k = per_anchor(self.topk_per_level).long()
        local_k = torch.cat([torch.arange(n, device=device) for n in counts])

        num_priors = sum(level_sizes)
        assigned = torch.zeros(num_priors, dtype=torch.long, device=device)
        num_gts, num_anchors = gt_bboxes.shape[0], all_anchors.shape[0]
        if num_gts == 0:
            return assigned

        gt = gt_bboxes.detach().float()
        gt_wh = (gt[:, 2:] - gt[:, :2]).clamp(min=0)
        ious = shape_iou(gt_wh, all_anchors)
        order = ious.sort(dim=1, descending=True, stable=True).indices
        ranks = torch.empty_like(order).scatter_(
            1, order,
            torch.arange(num_anchors, device=device).expand(num_gts, -1))
        selected = ranks < topk_k[None]

        centre = (gt[:, :2] + gt[:, 2:]) / 2
        cell_x = torch.minimum(
            (centre[:, None, 0] / stride_k).floor().long().clamp(min=0),
            width_k - 1)
        cell_y = torch.minimum(
            (centre[:, None, 1] / stride_k).floor().long().clamp(min=0),
            height_k - 1)
        prior_inds = offset_k + (cell_y * width_k + cell_x) * count_k + local_k

        # Candidate score per (gt, prior); -1 = not claimed. One gt never
        # claims a prior twice (distinct anchors are distinct priors).
        gt_inds, anchor_inds = selected.nonzero(as_tuple=True)
        scores = ious.new_full((num_gts, num_priors), -1.0)
        scores[gt_inds, prior_inds[gt_inds, anchor_inds]] = ious[gt_inds,
                                                                 anchor_inds]
        best_score = scores.amax(dim=0)
        # argmax returns the first maximum: ties go to the lower gt index.
        winner = scores.argmax(dim=0)
        return torch.where(best_score >= 0, winner + 1, assigned)
