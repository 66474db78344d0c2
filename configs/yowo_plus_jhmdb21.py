# YOWO-Plus on J-HMDB-21 (split 1), 16-frame clips at 224x224 (paper Tab. 3: 81.6
# frame-mAP@0.5). CSPDarknet53 (ImageNet, converted from timm) + I3D-R50
# (Kinetics-400), SGD 40 epochs with staged unfreezing (§4.1).
_base_ = [
    '_base_/models/yowo_plus.py', '_base_/datasets/jhmdb21.py',
    '_base_/schedules/sgd_40e_jhmdb21.py', '_base_/default_runtime.py'
]

# mmaction's Kinetics-400 I3D-R50 recognizer (model zoo, 72.7% top-1).
i3d_kinetics_ckpt = (
    'https://download.openmmlab.com/mmaction/v1.0/recognition/i3d/'
    'i3d_imagenet-pretrained-r50_8xb8-32x2x1-100e_kinetics400-rgb/'
    'i3d_imagenet-pretrained-r50_8xb8-32x2x1-100e_kinetics400-rgb_'
    '20220812-e213c223.pth')
# timm's ImageNet cspdarknet53 converted with
# tools/model_converters/timm_cspdarknet53_to_mmyowo.py (see README). Those
# weights were trained with LeakyReLU(0.01) and BN eps 1e-5, so the 2D branch
# uses them instead of YOLOv4's Mish.
cspdarknet53_imagenet_ckpt = 'checkpoints/cspdarknet53_timm_imagenet.pth'

model = dict(
    backbone_2d=dict(
        act_cfg=dict(type='LeakyReLU', negative_slope=0.01),
        norm_cfg=dict(type='BN', momentum=0.03, eps=1e-5),
        init_cfg=dict(type='Pretrained',
                      checkpoint=cspdarknet53_imagenet_ckpt)),
    backbone_3d=dict(
        init_cfg=dict(type='Pretrained', checkpoint=i3d_kinetics_ckpt,
                      prefix='backbone.')),
    bbox_head=dict(head_module=dict(num_classes=21)))
