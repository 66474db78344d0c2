"""YOWO-Plus detection head (paper §3.2-3.4.1): conv module + loss/predict."""
import math
from typing import Dict, List, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
from mmcv.cnn import ConvModule
from mmengine.dist import all_reduce
from mmengine.model import BaseModule
from mmengine.structures import InstanceData
from torch import Tensor
from torchvision.ops import box_iou, nms

from mmaction.registry import MODELS, TASK_UTILS
from ..layers import SELayer
from ..task_modules import make_grid_priors, yolo_decode

#: YOLOv3's COCO anchors (416 input) scaled to a 224 input, finest level first.
DEFAULT_ANCHORS = (((5, 7), (9, 16), (18, 12)),
                   ((16, 33), (33, 24), (32, 64)),
                   ((62, 48), (84, 107), (201, 176)))


@MODELS.register_module()
class YOWOHeadModule(BaseModule):
    """Convolutions of the YOWO-Plus head.

    Per level: a 3x3 ConvModule integrating the fused features, SE channel
    attention (§3.4.1) and a 1x1 conv to ``A * (5 + num_classes)`` channels,
    laid out per anchor as ``[tx, ty, tw, th, conf, cls_1 .. cls_C]`` (§3.2).
    The conf and class biases start at ``-log((1 - pi) / pi)`` with
    ``pi = prior_prob`` (§3.3, after eq. 10) so that every prior starts as a
    confident negative.

    Args:
        num_classes (int): Number of action classes.
        in_channels (sequence[int]): Input channels per level, finest first.
        feat_channels (sequence[int], optional): Channels of the 3x3 conv per
            level. Defaults to twice ``in_channels``.
        num_base_priors (int): Anchors per level. Defaults to 3.
        se_ratio (int, optional): SE reduction ratio; ``None`` disables SE.
        prior_prob (float): ``pi`` of the bias initialisation.
        norm_cfg (dict): Norm config. Defaults to BN.
        act_cfg (dict): Activation config. Defaults to LeakyReLU(0.1).
        init_cfg (dict, optional): Initialisation config.
    """

    def __init__(self,
                 num_classes: int,
                 in_channels: Sequence[int] = (128, 256, 512),
                 feat_channels: Optional[Sequence[int]] = None,
                 num_base_priors: int = 3,
                 se_ratio: Optional[int] = 16,
                 prior_prob: float = 0.01,
                 norm_cfg: dict = dict(type='BN', momentum=0.03, eps=0.001),
                 act_cfg: dict = dict(type='LeakyReLU', negative_slope=0.1),
                 init_cfg: Optional[Union[dict, list]] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        if not 0.0 < prior_prob < 1.0:
            raise ValueError(f'prior_prob must be in (0, 1), got {prior_prob}')
        self.num_classes = num_classes
        self.num_base_priors = num_base_priors
        self.prior_prob = prior_prob
        self.num_attrib = 5 + num_classes
        feat_channels = feat_channels or [2 * c for c in in_channels]
        self.convs = nn.ModuleList()
        self.attentions = nn.ModuleList()
        self.preds = nn.ModuleList()
        for c_in, c_feat in zip(in_channels, feat_channels):
            self.convs.append(ConvModule(c_in, c_feat, 3, padding=1,
                                         norm_cfg=norm_cfg, act_cfg=act_cfg))
            self.attentions.append(
                SELayer(c_feat, se_ratio) if se_ratio else nn.Identity())
            self.preds.append(
                nn.Conv2d(c_feat, num_base_priors * self.num_attrib, 1))

    def init_weights(self) -> None:
        """Initialise, then set the conf/class biases of §3.3."""
        super().init_weights()
        bias_value = -math.log((1 - self.prior_prob) / self.prior_prob)
        for pred in self.preds:
            bias = pred.bias.data.view(self.num_base_priors, self.num_attrib)
            bias[:, :4].zero_()
            bias[:, 4:].fill_(bias_value)

    def forward(self, feats: Sequence[Tensor]) -> List[Tensor]:
        """Return one ``[B, A * (5 + C), H, W]`` map per level."""
        return [
            pred(att(conv(x))) for x, conv, att, pred in zip(
                feats, self.convs, self.attentions, self.preds)
        ]


@MODELS.register_module()
class YOWOHead(BaseModule):
    """Loss and prediction logic of the YOWO-Plus head.

    Boxes use YOLOv3 coding on 9 anchors, 3 per level; confidence and class
    scores are independent sigmoids (multi-label, §3.3). Training: the
    ``MultiLevelTopKAssigner`` (§3.3) picks positive priors; CIoU loss
    (eq. 5-6) on decoded positive boxes, binary focal loss on confidence over
    all priors (eq. 10; negatives whose predicted box overlaps a ground truth
    by more than ``ignore_iou_thr`` are ignored, as in YOLOv3) and on the
    classes of the positives (eq. 9). All three are averaged over the number
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
    """

    def __init__(self,
                 head_module: dict,
                 base_anchors: Sequence = DEFAULT_ANCHORS,
                 strides: Sequence[int] = (8, 16, 32),
                 loss_bbox: dict = dict(type='CIoULoss', loss_weight=1.0),
                 loss_conf: dict = dict(
                     type='BinaryFocalLoss', alpha=0.5, gamma=2.0,
                     loss_weight=1.0),
                 loss_cls: dict = dict(
                     type='BinaryFocalLoss', alpha=0.25, gamma=2.0,
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
            raise ValueError(
                f'base_anchors must have shape (num_levels, '
                f'{self.head_module.num_base_priors}, 2), got '
                f'{tuple(anchors.shape)}')
        self.register_buffer('base_anchors', anchors, persistent=False)
        self.loss_bbox = MODELS.build(loss_bbox)
        self.loss_conf = MODELS.build(loss_conf)
        self.loss_cls = MODELS.build(loss_cls)
        self.train_cfg = dict(train_cfg or {})
        self.test_cfg = dict(
            dict(score_thr=0.005, nms_iou_thr=0.4, nms_pre=1000,
                 max_per_img=100), **(test_cfg or {}))
        self.assigner = TASK_UTILS.build(self.train_cfg.get(
            'assigner', dict(type='MultiLevelTopKAssigner')))
        self.ignore_iou_thr = self.train_cfg.get('ignore_iou_thr', 0.5)

    def forward(self, feats: Sequence[Tensor]) -> List[Tensor]:
        return self.head_module(feats)

    # ------------------------------------------------------------------ #
    # shared decoding
    # ------------------------------------------------------------------ #
    def flatten_preds(self, cls_maps: Sequence[Tensor]) -> Tensor:
        """Concatenate the level maps into ``[B, num_priors, 5 + C]``
        ordered ``(level, y, x, anchor)`` (docs/architecture.md)."""
        flat = []
        for x in cls_maps:
            b, _, h, w = x.shape
            x = x.view(b, -1, self.head_module.num_attrib, h, w)
            flat.append(x.permute(0, 3, 4, 1, 2).reshape(
                b, -1, self.head_module.num_attrib))
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

    def decode(self, cls_maps: Sequence[Tensor]) -> Tuple[Tensor, Tensor]:
        """Return raw flattened predictions and decoded xyxy boxes."""
        preds = self.flatten_preds(cls_maps)
        sizes = [tuple(x.shape[-2:]) for x in cls_maps]
        grid, anchors, strides = self.grid_priors(sizes, preds.device)
        boxes = yolo_decode(preds[..., :4], grid, anchors, strides)
        return preds, boxes

    # ------------------------------------------------------------------ #
    # training
    # ------------------------------------------------------------------ #
    def loss(self, feats: Sequence[Tensor], batch_data_samples: list
             ) -> Dict[str, Tensor]:
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
        assigned = self.assigner.assign(
            gt_bboxes, list(self.base_anchors), list(self.strides),
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

    def loss_by_feat(self, cls_maps: Sequence[Tensor],
                     gt_instances: Sequence[InstanceData]
                     ) -> Dict[str, Tensor]:
        """Eq. 5-10 over the batch."""
        preds, boxes = self.decode(cls_maps)
        featmap_sizes = [tuple(x.shape[-2:]) for x in cls_maps]
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
            labels = gt.labels.to(preds.device)[gt_idx].long()
            cls_targets.append(nn.functional.one_hot(
                labels, self.num_classes).to(preds.dtype))
        num_pos = self.num_pos_avg_factor(
            sum(len(t) for t in pos_targets), preds)
        loss_bbox = self.loss_bbox(
            torch.cat(pos_boxes), torch.cat(pos_targets), avg_factor=num_pos)
        loss_conf = self.loss_conf(
            preds[..., 4].reshape(-1), torch.cat(conf_targets),
            weight=torch.cat(conf_weights), avg_factor=num_pos)
        loss_cls = self.loss_cls(
            torch.cat(pos_cls), torch.cat(cls_targets), avg_factor=num_pos)
        return dict(loss_bbox=loss_bbox, loss_conf=loss_conf,
                    loss_cls=loss_cls)

    # ------------------------------------------------------------------ #
    # inference
    # ------------------------------------------------------------------ #
    def predict(self, feats: Sequence[Tensor], batch_data_samples: list,
                rescale: bool = True) -> List[InstanceData]:
        """Detect on the key frames of a batch."""
        metainfos = [s.metainfo for s in batch_data_samples]
        return self.predict_by_feat(self(feats), metainfos, rescale=rescale)

    def predict_by_feat(self, cls_maps: Sequence[Tensor],
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
                missing = [key for key in ('scale_factor', 'ori_shape')
                           if key not in meta]
                if missing:
                    raise KeyError(
                        f'image meta {i} lacks {missing}, needed to map '
                        'boxes back to the original frame (rescale=True): '
                        'Resize sets scale_factor, the dataset ori_shape, '
                        'and PackActionInputs(meta_keys=...) must include '
                        'both; or predict with rescale=False')
        preds, boxes = self.decode(cls_maps)
        scores = preds[..., 4:5].sigmoid() * preds[..., 5:].sigmoid()
        return [
            self.predict_single(boxes[b], scores[b], meta, rescale)
            for b, meta in enumerate(batch_img_metas)
        ]

    def predict_single(self, boxes: Tensor, scores: Tensor, meta: dict,
                       rescale: bool) -> InstanceData:
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
        ], dim=1)
        return InstanceData(bboxes=boxes, scores=scores, labels=labels)
