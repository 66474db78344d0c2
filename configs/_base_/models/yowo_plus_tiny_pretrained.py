# YOWO-Plus tiny with pretrained branches, for the real-data configs. YOWO
# loads each branch's Pretrained init_cfg itself, logging the counts and
# refusing a checkpoint that fits less than ``min_fraction`` (default 0.5)
# of the branch (see yowo_plus_pretrained.py). Both files are whole
# detector / recognizer checkpoints of the model zoos, with the branch
# under ``backbone.``.
_base_ = ['./yowo_plus_tiny.py']

# mmdet's COCO YOLOX-tiny (32.0 box AP; mmdet's yolox/metafile.yml); its
# CSPDarknet is under ``backbone.`` (neck and head keys are ignored).
yolox_tiny_coco_ckpt = (
    'https://download.openmmlab.com/mmdetection/v2.0/yolox/'
    'yolox_tiny_8x8_300e_coco/'
    'yolox_tiny_8x8_300e_coco_20211124_171234-b4047906.pth')
# mmaction's Kinetics-400 X3D-S, converted by mmaction from the SlowFast
# model zoo (73.3% top-1; mmaction's x3d/metafile.yml).
x3d_s_kinetics_ckpt = (
    'https://download.openmmlab.com/mmaction/v1.0/recognition/x3d/'
    'facebook/x3d_s_13x6x1_facebook-kinetics400-rgb_20201027-623825a0.pth')

model = dict(
    backbone_2d=dict(
        init_cfg=dict(
            type='Pretrained',
            checkpoint=yolox_tiny_coco_ckpt,
            prefix='backbone.')),
    backbone_3d=dict(
        init_cfg=dict(
            type='Pretrained',
            checkpoint=x3d_s_kinetics_ckpt,
            prefix='backbone.')))
