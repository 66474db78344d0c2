"""YOWO-Plus detection head (paper §3.2-3.4.1): loss and prediction.

The convolutions are :class:`~.yowo_head_module.YOWOHeadModule`, built
from the ``head_module`` config.
"""
import math
from typing import Dict, List, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
from mmaction.registry import MODELS, TASK_UTILS
from mmengine.dist import all_reduce
from mmengine.model import BaseModule
from mmengine.structures import InstanceData
from torch import Tensor
from torchvision.ops import box_iou, nms

from ..task_modules import make_grid_priors, yolo_decode

#: YOLOv3's COCO anchors (416 input) scaled to a 224 input, finest level first.
DEFAULT_ANCHORS = (((5, 7), (9, 16), (18, 12)), ((16, 33), (33, 24), (32, 64)),
                   ((62, 48), (84, 107), (201, 176)))


@MODELS.register_module()
class YOWOHead(BaseModule):
    """Loss and prediction logic of the YOWO-Plus head.

    Boxes use YOLOv3 coding on 9 anchors, 3 per level; confidence and class
    scores are independent sigmoids (multi-label, §3.3). Training: the
    ``MultiLevelTopKAssigner`` (§3.3) picks positive priors; CIoU loss
    (eq. 5-6) on decoded positive boxes, binary focal loss on confidence over
    all priors (eq. 10; negatives whose predicted box overlaps a ground truth
    by more than ``ignore_iou_thr`` are ignored, as in YOLOv3) and on the
    classes of the positives (eq. 9; one-hot or multi-hot targets, see
    :meth:`class_targets`). All three are averaged over the number
    of positives in the batch, under DDP over the mean number per rank
    (:meth:`num_pos_avg_factor`). Testing:
    ``score = sigmoid(conf) * sigmoid(cls)`` per class, a score threshold on
    the best class, class-agnostic NMS.

    Args:
        head_module (dict): ``YOWOHeadModule`` config.
        base_anchors (sequence): ``(w, h)`` anchors per level, finest first.
        strides (sequence[int]): Strides of the levels.
        loss_bbox (dict): Box loss config.
        loss_conf (dict): Confidence loss config.
        loss_cls (dict): Classification loss config.
        train_cfg (dict, optional): ``assigner`` config and
            ``ignore_iou_thr`` (None to ignore no negative).
        test_cfg (dict, optional): ``score_thr``, ``nms_iou_thr``,
            ``nms_pre``, ``max_per_img``.
        init_cfg (dict, optional): Initialisation config.

    Example:
        >>> import torch
        >>> from mmengine.structures import InstanceData
        >>> from mmyowo.models.dense_heads import YOWOHead
        >>> head = YOWOHead(head_module=dict(
        ...     type='YOWOHeadModule', num_classes=2, in_channels=(8, 16, 32)))
        >>> feats = [torch.rand(1, 8, 8, 8), torch.rand(1, 16, 4, 4),
        ...          torch.rand(1, 32, 2, 2)]  # strides 8, 16, 32 of 64x64
        >>> pred_maps = head(feats)  # 3 anchors x (4 box + 1 conf + 2 cls)
        >>> [tuple(m.shape) for m in pred_maps]
        [(1, 21, 8, 8), (1, 21, 4, 4), (1, 21, 2, 2)]
        >>> gt = InstanceData(bboxes=torch.tensor([[8., 8., 40., 56.]]),
        ...                   labels=torch.tensor([1]))
        >>> sorted(head.loss_by_feat(pred_maps, [gt]))
        ['loss_bbox', 'loss_cls', 'loss_conf']
        >>> result = head.predict_by_feat(
        ...     pred_maps, [dict(img_shape=(64, 64))], rescale=False)[0]
        >>> result.bboxes.shape[1], bool((result.bboxes <= 64).all())
        (4, True)
    """

    def __init__(self,
                 head_module: dict,
                 base_anchors: Sequence = DEFAULT_ANCHORS,
                 strides: Sequence[int] = (8, 16, 32),
                 loss_bbox: dict = dict(type='CIoULoss', loss_weight=1.0),
                 loss_conf: dict = dict(
                     type='BinaryFocalLoss',
                     alpha=0.5,
                     gamma=2.0,
                     loss_weight=1.0),
                 loss_cls: dict = dict(
                     type='BinaryFocalLoss',
                     alpha=0.25,
                     gamma=2.0,
                     loss_weight=1.0),
                 train_cfg: Optional[dict] = None,
                 test_cfg: Optional[dict] = None,
                 init_cfg: Optional[Union[dict, list]] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        self.head_module = MODELS.build(head_module)
        self.num_classes = self.head_module.num_classes
        self.strides = tuple(strides)
        anchors = torch.as_tensor(base_anchors, dtype=torch.float32)
        if anchors.shape != (len(self.strides),
                             self.head_module.num_base_priors, 2):
            raise ValueError(f'base_anchors must have shape (num_levels, '
                             f'{self.head_module.num_base_priors}, 2), got '
                             f'{tuple(anchors.shape)}')
        self.register_buffer('base_anchors', anchors, persistent=False)
        self.loss_bbox = MODELS.build(loss_bbox)
        self.loss_conf = MODELS.build(loss_conf)
        self.loss_cls = MODELS.build(loss_cls)
        self.train_cfg = dict(train_cfg or {})
        self.test_cfg = dict(
            dict(
                score_thr=0.005,
                nms_iou_thr=0.4,
                nms_pre=1000,
                max_per_img=100), **(test_cfg or {}))
        self.assigner = TASK_UTILS.build(
            self.train_cfg.get('assigner',
                               dict(type='MultiLevelTopKAssigner')))
        self.ignore_iou_thr = self.train_cfg.get('ignore_iou_thr', 0.5)

    def forward(self, feats: Sequence[Tensor]) -> List[Tensor]:
        """Return one ``[B, A * (5 + C), H, W]`` map per level."""
        return self.head_module(feats)

    # ------------------------------------------------------------------ #
    # shared decoding
    # ------------------------------------------------------------------ #
    def flatten_preds(self, pred_maps: Sequence[Tensor]) -> Tensor:
        """Concatenate the per-level prediction maps ``[B, A * (5 + C), H, W]``
        (per anchor: box offsets, confidence, class logits) into ``[B,
        num_priors, 5 + C]`` ordered ``(level, y, x, anchor)``."""
        flat = []
        for x in pred_maps:
            b, _, h, w = x.shape
            x = x.view(b, -1, self.head_module.num_attrib, h, w)
            flat.append(
                x.permute(0, 3, 4, 1, 2).reshape(b, -1,
                                                 self.head_module.num_attrib))
        return torch.cat(flat, dim=1)

    def grid_priors(self, featmap_sizes: Sequence[Tuple[int, int]],
                    device: torch.device) -> Tuple[Tensor, Tensor, Tensor]:
        """Return ``grid_xy``, ``anchors_wh`` and per-prior ``strides``."""
        grids, anchors, strides = [], [], []
        for size, base, stride in zip(featmap_sizes, self.base_anchors,
                                      self.strides):
            grid, wh = make_grid_priors(size, base, device)
            grids.append(grid)
            anchors.append(wh)
            strides.append(grid.new_full((grid.shape[0], 1), stride))
        return torch.cat(grids), torch.cat(anchors), torch.cat(strides)

    def decode(self, pred_maps: Sequence[Tensor]) -> Tuple[Tensor, Tensor]:
        """Return raw flattened predictions and decoded xyxy boxes, in fp32.

        Maps computed in reduced precision (``torch.autocast`` to fp16 /
        bf16) are cast to fp32 first: the decoding (``exp`` of the sizes,
        offsets of up to the input size), the losses, the score threshold
        and NMS would otherwise run on an 8-bit (bf16) or 11-bit (fp16)
        mantissa, e.g. box corners of a 224 input in steps of 1 px (bf16),
        and the scores handed to the user would be bf16.
        """
        preds = self.flatten_preds([m.float() for m in pred_maps])
        sizes = [(x.shape[-2], x.shape[-1]) for x in pred_maps]
        grid, anchors, strides = self.grid_priors(sizes, preds.device)
        boxes = yolo_decode(preds[..., :4], grid, anchors, strides)
        return preds, boxes

    # ------------------------------------------------------------------ #
    # training
    # ------------------------------------------------------------------ #
    def loss(self, feats: Sequence[Tensor],
             batch_data_samples: list) -> Dict[str, Tensor]:
        """Compute the losses of a batch from the neck's features."""
        gt_instances = [s.gt_instances for s in batch_data_samples]
        return self.loss_by_feat(self(feats), gt_instances)

    def get_targets(self, pred_boxes: Tensor, gt: InstanceData,
                    featmap_sizes: Sequence[Tuple[int, int]]
                    ) -> Tuple[Tensor, Tensor, Tensor]:
        """Targets of one image.

        Returns:
            tuple: ``assigned`` (num_priors,) 0 = negative, i + 1 = gt i;
            ``conf_weight`` (num_priors,) 0 for ignored negatives;
            ``gt_bboxes`` (num_gts, 4).
        """
        gt_bboxes = gt.bboxes.to(pred_boxes)
        assigned = self.assigner.assign(gt_bboxes, list(self.base_anchors),
                                        list(self.strides),
                                        list(featmap_sizes))
        conf_weight = torch.ones_like(assigned, dtype=pred_boxes.dtype)
        if self.ignore_iou_thr is not None and len(gt_bboxes):
            max_iou = box_iou(pred_boxes.detach(), gt_bboxes).amax(dim=1)
            conf_weight[(max_iou > self.ignore_iou_thr) & (assigned == 0)] = 0
        return assigned, conf_weight, gt_bboxes

    @staticmethod
    def num_pos_avg_factor(num_pos: int, ref: Tensor) -> float:
        """Loss normaliser: the mean number of positives per rank, >= 1.

        DDP averages the gradients of the ranks, so with ``n_r`` positives
        and summed losses ``S_r`` on rank ``r`` of ``W`` ranks, dividing each
        ``S_r`` by ``mean_r(n_r)`` gives the gradient of
        ``sum_r(S_r) / sum_r(n_r)``: the whole global batch normalised by
        all of its positives, whatever the split of the images over the
        ranks (as mmdet's dense heads do with ``reduce_mean``). Dividing by
        each rank's own ``n_r`` would weight a positive on a rank with few
        positives more than one on a crowded rank. Without an initialised
        process group ``all_reduce`` does nothing and this is the batch's
        own count.

        Args:
            num_pos (int): Positives of this rank's batch.
            ref (Tensor): Any tensor on the device to reduce on.

        Returns:
            float: ``max(mean_r(n_r), 1)``.
        """
        count = ref.new_tensor(float(num_pos), dtype=torch.float32)
        all_reduce(count, op='mean')
        return max(count.item(), 1.0)

    def class_targets(self, labels: Tensor, gt_idx: Tensor,
                      ref: Tensor) -> Tensor:
        """Eq. 9 targets of the positives: one row of ``C`` per positive.

        ``labels`` are ``(num_gts,)`` 0-based indices (one-hot rows) or
        ``(num_gts, C)`` multi-hot rows, taken as they are: "a person often
        has multiple actions at the same time" (§3.3).

        Args:
            labels (Tensor): ``gt_instances.labels`` of one image.
            gt_idx (Tensor): Ground-truth index of each positive prior.
            ref (Tensor): Tensor giving the device and float dtype.

        Returns:
            Tensor: ``(len(gt_idx), C)`` targets in ``[0, 1]``.

        Raises:
            ValueError: Multi-hot rows whose width is not ``num_classes``,
                or labels of another rank.
        """
        labels = labels.to(ref.device)
        if labels.dim() == 2:
            if labels.shape[1] != self.num_classes:
                raise ValueError(
                    f'multi-hot gt labels have {labels.shape[1]} columns, '
                    f'the head predicts {self.num_classes} classes')
            return labels[gt_idx].to(ref.dtype)
        if labels.dim() != 1:
            raise ValueError('gt labels must be (num_gts,) class indices or '
                             '(num_gts, num_classes) multi-hot rows, got '
                             f'shape {tuple(labels.shape)}')
        return nn.functional.one_hot(labels[gt_idx].long(),
                                     self.num_classes).to(ref.dtype)

    def loss_by_feat(self, pred_maps: Sequence[Tensor],
                     gt_instances: Sequence[InstanceData]
                     ) -> Dict[str, Tensor]:
        """Eq. 5-10 over the batch."""
        preds, boxes = self.decode(pred_maps)
        featmap_sizes = [(x.shape[-2], x.shape[-1]) for x in pred_maps]
        conf_targets, conf_weights = [], []
        pos_boxes, pos_targets, pos_cls, cls_targets = [], [], [], []
        for b, gt in enumerate(gt_instances):
            assigned, conf_weight, gt_bboxes = self.get_targets(
                boxes[b], gt, featmap_sizes)
            pos = assigned > 0
            gt_idx = assigned[pos] - 1
            conf_targets.append(pos.to(preds.dtype))
            conf_weights.append(conf_weight)
            pos_boxes.append(boxes[b][pos])
            pos_targets.append(gt_bboxes[gt_idx])
            pos_cls.append(preds[b, pos, 5:])
            cls_targets.append(self.class_targets(gt.labels, gt_idx, preds))
        num_pos = self.num_pos_avg_factor(
            sum(len(t) for t in pos_targets), preds)
        loss_bbox = self.loss_bbox(
            torch.cat(pos_boxes), torch.cat(pos_targets), avg_factor=num_pos)
        loss_conf = self.loss_conf(
            preds[..., 4].reshape(-1),
            torch.cat(conf_targets),
            weight=torch.cat(conf_weights),
            avg_factor=num_pos)
        loss_cls = self.loss_cls(
            torch.cat(pos_cls), torch.cat(cls_targets), avg_factor=num_pos)
        return dict(
            loss_bbox=loss_bbox, loss_conf=loss_conf, loss_cls=loss_cls)

    # ------------------------------------------------------------------ #
    # inference
    # ------------------------------------------------------------------ #
    def predict(self,
                feats: Sequence[Tensor],
                batch_data_samples: list,
                rescale: bool = True) -> List[InstanceData]:
        """Detect on the key frames of a batch."""
        metainfos = [s.metainfo for s in batch_data_samples]
        return self.predict_by_feat(self(feats), metainfos, rescale=rescale)

    def predict_by_feat(self,
                        pred_maps: Sequence[Tensor],
                        batch_img_metas: Sequence[dict],
                        rescale: bool = True) -> List[InstanceData]:
        """Decode, threshold, NMS and (optionally) map back to the original
        frame.

        With ``rescale``, every meta needs ``scale_factor`` ``(w_scale,
        h_scale)`` (``input = original * scale_factor``, set by ``Resize``)
        and ``ori_shape``: boxes are divided by the factor and clipped to
        ``ori_shape``. Without it, boxes stay in input pixels, clipped to
        ``img_shape`` when given.

        Returns:
            list[InstanceData]: Per image ``bboxes`` (N, 4) xyxy, ``scores``
            (N, C) per-class ``sigmoid(conf) * sigmoid(cls)`` and ``labels``
            (N,) best class.

        Raises:
            KeyError: If ``rescale`` and a meta lacks ``scale_factor`` or
                ``ori_shape``: its boxes would silently stay in input pixels.
        """
        if rescale:
            for i, meta in enumerate(batch_img_metas):
                missing = [
                    key for key in ('scale_factor', 'ori_shape')
                    if key not in meta
                ]
                if missing:
                    raise KeyError(
                        f'image meta {i} lacks {missing}, needed to map '
                        'boxes back to the original frame (rescale=True): '
                        'Resize sets scale_factor, the dataset ori_shape, '
                        'and PackActionInputs(meta_keys=...) must include '
                        'both; or predict with rescale=False')
        preds, boxes = self.decode(pred_maps)
        scores = preds[..., 4:5].sigmoid() * preds[..., 5:].sigmoid()
        return [
            self.predict_single(boxes[b], scores[b], meta, rescale)
            for b, meta in enumerate(batch_img_metas)
        ]

    def predict_single(self, boxes: Tensor, scores: Tensor, meta: dict,
                       rescale: bool) -> InstanceData:
        """Threshold, NMS and rescale one image's decoded boxes."""
        cfg = self.test_cfg
        best, labels = scores.max(dim=1)
        keep = best >= cfg['score_thr']
        boxes, scores, best, labels = (boxes[keep], scores[keep], best[keep],
                                       labels[keep])
        if cfg['nms_pre'] and best.numel() > cfg['nms_pre']:
            top = best.topk(cfg['nms_pre']).indices
            boxes, scores, best, labels = (boxes[top], scores[top], best[top],
                                           labels[top])
        keep = nms(boxes.float(), best.float(), cfg['nms_iou_thr'])
        keep = keep[:cfg['max_per_img']]
        boxes, scores, labels = boxes[keep], scores[keep], labels[keep]
        if rescale:
            factor = boxes.new_tensor(meta['scale_factor'][:2]).repeat(2)
            boxes = boxes / factor
            h, w = meta['ori_shape'][:2]
        else:
            h, w = meta.get('img_shape', (math.inf, math.inf))[:2]
        boxes = torch.stack([
            boxes[:, 0].clamp(0, w), boxes[:, 1].clamp(0, h),
            boxes[:, 2].clamp(0, w), boxes[:, 3].clamp(0, h)
        ],
                            dim=1)
        return InstanceData(bboxes=boxes, scores=scores, labels=labels)
