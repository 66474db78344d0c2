"""Our components inside other OpenMMLab detectors, and theirs inside YOWO."""
import torch
from mmaction.registry import MODELS as MMACTION_MODELS
from mmengine.config import ConfigDict
from mmengine.registry import init_default_scope
from mmengine.structures import InstanceData

from .test_yowo import make_batch


def test_mmdet_yolov3_with_our_cspdarknet53():
    from mmdet.registry import MODELS as MMDET_MODELS
    from mmdet.structures import DetDataSample
    init_default_scope('mmdet')
    cfg = dict(
        type='YOLOV3',
        data_preprocessor=dict(
            type='DetDataPreprocessor',
            mean=[0, 0, 0],
            std=[255., 255., 255.],
            bgr_to_rgb=True,
            pad_size_divisor=32),
        backbone=dict(
            type='mmaction.CSPDarknet53',
            deepen_factor=0.33,
            widen_factor=0.125,
            out_indices=(2, 3, 4)),
        neck=dict(
            type='YOLOV3Neck',
            num_scales=3,
            in_channels=[128, 64, 32],
            out_channels=[64, 32, 16]),
        bbox_head=dict(
            type='YOLOV3Head',
            num_classes=3,
            in_channels=[64, 32, 16],
            out_channels=[128, 64, 32],
            anchor_generator=dict(
                type='YOLOAnchorGenerator',
                base_sizes=[[(116, 90), (156, 198), (373, 326)],
                            [(30, 61), (62, 45), (59, 119)],
                            [(10, 13), (16, 30), (33, 23)]],
                strides=[32, 16, 8]),
            bbox_coder=dict(type='YOLOBBoxCoder'),
            featmap_strides=[32, 16, 8]),
        train_cfg=dict(
            assigner=dict(
                type='GridAssigner',
                pos_iou_thr=0.5,
                neg_iou_thr=0.5,
                min_pos_iou=0)),
        test_cfg=dict(
            nms_pre=100,
            min_bbox_size=0,
            score_thr=0.05,
            conf_thr=0.005,
            nms=dict(type='nms', iou_threshold=0.45),
            max_per_img=10))
    model = MMDET_MODELS.build(ConfigDict(cfg))  # mmdet reads cfg.attr
    assert type(model.backbone).__module__.startswith('mmyowo')
    model.init_weights()
    samples = []
    for _ in range(2):
        s = DetDataSample(
            metainfo=dict(
                img_shape=(64, 64),
                ori_shape=(64, 64),
                scale_factor=(1., 1.),
                pad_shape=(64, 64),
                batch_input_shape=(64, 64)))
        s.gt_instances = InstanceData(
            bboxes=torch.tensor([[4., 6., 40., 50.]]),
            labels=torch.tensor([1]))
        samples.append(s)
    data = model.data_preprocessor(
        dict(
            inputs=[torch.randint(0, 255, (3, 64, 64), dtype=torch.uint8)] * 2,
            data_samples=samples),
        training=True)
    losses = model(**data, mode='loss')
    assert all(
        torch.isfinite(sum(v) if isinstance(v, list) else v)
        for v in losses.values())
    model.eval()
    with torch.no_grad():
        preds = model(**data, mode='predict')
    assert preds[0].pred_instances.bboxes.shape[1] == 4


def test_yowo_with_mmdet_cspdarknet_and_mmaction_x3d():
    init_default_scope('mmaction')
    cfg = dict(
        type='YOWO',
        backbone_2d=dict(
            type='mmdet.CSPDarknet',
            deepen_factor=0.33,
            widen_factor=0.125,
            out_indices=(2, 3, 4)),
        backbone_3d=dict(type='X3D', gamma_w=1, gamma_b=1, gamma_d=1),
        neck_3d=dict(type='I3DNeck', in_channels=192, out_channels=64),
        neck=dict(
            type='STMFusionFPN',
            in_channels_2d=(32, 64, 128),
            in_channels_3d=64,
            out_channels=(16, 32, 64)),
        bbox_head=dict(
            type='YOWOHead',
            head_module=dict(
                type='YOWOHeadModule', num_classes=3,
                in_channels=(16, 32, 64))))
    model = MMACTION_MODELS.build(cfg)
    model.init_weights()
    assert type(model.backbone_2d).__module__.startswith('mmdet')
    inputs, samples = make_batch()
    data = model.data_preprocessor(
        dict(inputs=list(inputs), data_samples=samples), training=True)
    losses = model(**data, mode='loss')
    assert all(torch.isfinite(v) for v in losses.values())
    model.eval()
    with torch.no_grad():
        preds = model(**data, mode='predict')
    assert preds[0].pred_instances.scores.shape[1] == 3
