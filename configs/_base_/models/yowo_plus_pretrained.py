# YOWO-Plus with pretrained branches, for the real-data configs.
_base_ = ['./yowo_plus.py']

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
                      prefix='backbone.')))
