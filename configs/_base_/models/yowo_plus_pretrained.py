# YOWO-Plus with pretrained branches, for the real-data configs.
#
# YOWO takes each branch's ``init_cfg=dict(type='Pretrained', ...)`` out of
# the branch config and loads it itself in ``init_weights()``, after every
# component's random init (mmyowo.models.utils.load_pretrained): the log
# says "loaded A/B tensors of backbone_3d from FILE (missing M, unexpected
# U, shape-mismatched S; ...)", and a checkpoint fitting less than
# ``min_fraction`` (default 0.5) of the branch's parameter tensors is an
# error naming the file. Optional keys besides ``checkpoint``: ``prefix``
# (the branch's key prefix inside the file), ``map_location`` and
# ``min_fraction``.
_base_ = ['./yowo_plus.py']

# mmaction's Kinetics-400 I3D-R50 recognizer (model zoo, 72.7% top-1); its
# backbone is under ``backbone.`` (318 tensors, 159 of them parameters).
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
        init_cfg=dict(
            type='Pretrained', checkpoint=cspdarknet53_imagenet_ckpt)),
    backbone_3d=dict(
        init_cfg=dict(
            type='Pretrained',
            checkpoint=i3d_kinetics_ckpt,
            prefix='backbone.')))
