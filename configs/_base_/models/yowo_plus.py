# YOWO-Plus (paper §3.2, Fig. 3): CSPDarknet53 2D branch + I3D-R50 3D branch,
# STM fusion + FPN neck, SE head with 9 anchors, multi-level top-k assigner.
#
# Pretrained initialisation (used by the real-data configs, see README):
# * 3D branch: mmaction's Kinetics-400 I3D-R50 recognizer checkpoint, whose
#   keys start with ``backbone.``:
#   backbone_3d.init_cfg = dict(type='Pretrained', prefix='backbone.',
#                               checkpoint=I3D_KINETICS_CKPT)
# * 2D branch: an ImageNet CSPDarknet53 converted from timm with
#   tools/model_converters/timm_cspdarknet53_to_mmyowo.py:
#   backbone_2d.init_cfg = dict(type='Pretrained', checkpoint=PATH)
num_classes = 24
model = dict(
    type='YOWO',
    data_preprocessor=dict(
        type='ActionDataPreprocessor',
        mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375],
        format_shape='NCTHW'),
    backbone_2d=dict(
        type='CSPDarknet53',
        deepen_factor=1.0,
        widen_factor=1.0,
        out_indices=(2, 3, 4),
        act_cfg=dict(type='Mish'),
        norm_cfg=dict(type='BN', momentum=0.03, eps=0.001)),
    backbone_3d=dict(
        type='ResNet3d',
        depth=50,
        pretrained=None,
        pretrained2d=False,
        conv1_kernel=(5, 7, 7),
        conv1_stride_t=2,
        pool1_stride_t=2,
        conv_cfg=dict(type='Conv3d'),
        norm_eval=False,
        inflate=((1, 1, 1), (1, 0, 1, 0), (1, 0, 1, 0, 1, 0), (0, 1, 0)),
        zero_init_residual=False),
    neck_3d=dict(type='I3DNeck', in_channels=2048, temporal_pool='avg'),
    neck=dict(
        type='STMFusionFPN',
        in_channels_2d=(256, 512, 1024),
        in_channels_3d=2048,
        out_channels=(128, 256, 512),
        strides=(8, 16, 32),
        drop_block_cfg=dict(drop_prob=0.1, block_size=3)),
    bbox_head=dict(
        type='YOWOHead',
        head_module=dict(
            type='YOWOHeadModule',
            num_classes=num_classes,
            in_channels=(128, 256, 512),
            se_ratio=16,
            prior_prob=0.01),
        # YOLOv3's COCO anchors scaled from 416 to the 224 input.
        base_anchors=[[(5, 7), (9, 16), (18, 12)],
                      [(16, 33), (33, 24), (32, 64)],
                      [(62, 48), (84, 107), (201, 176)]],
        strides=(8, 16, 32),
        loss_bbox=dict(type='CIoULoss', loss_weight=1.0),
        loss_conf=dict(
            type='BinaryFocalLoss', alpha=0.5, gamma=2.0, loss_weight=1.0),
        loss_cls=dict(
            type='BinaryFocalLoss', alpha=0.25, gamma=2.0, loss_weight=1.0)),
    train_cfg=dict(
        assigner=dict(type='MultiLevelTopKAssigner', topk_per_level=(3, 2, 1)),
        ignore_iou_thr=0.5),
    test_cfg=dict(
        score_thr=0.005, nms_iou_thr=0.4, nms_pre=1000, max_per_img=100))
