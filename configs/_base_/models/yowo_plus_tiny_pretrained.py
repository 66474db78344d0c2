# YOWO-Plus tiny with pretrained branches, for the real-data configs. YOWO
# loads each branch's Pretrained init_cfg itself, logging the counts and
# refusing a checkpoint that fits less than ``min_fraction`` (default 0.5)
# of the branch (see yowo_plus_pretrained.py).
_base_ = ['./yowo_plus_tiny.py']

# torchvision's ImageNet MobileNetV3-Large (IMAGENET1K_V1, 74.04% top-1;
# torchvision's MobileNet_V3_Large_Weights). mmengine maps the name to
# https://download.pytorch.org/models/mobilenet_v3_large-8738ca79.pth and
# mmyowo reads it through its safe reader. The file is a plain state dict
# under torchvision's names, which TorchvisionBackbone keeps: no prefix; the
# classifier's 4 tensors are counted as unexpected and ignored.
mobilenet_v3_large_imagenet_ckpt = 'torchvision://mobilenet_v3_large'
# mmaction's Kinetics-400 X3D-S, converted by mmaction from the SlowFast
# model zoo (73.3% top-1; mmaction's x3d/metafile.yml), a whole recognizer
# checkpoint with the branch under ``backbone.``.
x3d_s_kinetics_ckpt = (
    'https://download.openmmlab.com/mmaction/v1.0/recognition/x3d/'
    'facebook/x3d_s_13x6x1_facebook-kinetics400-rgb_20201027-623825a0.pth')

model = dict(
    backbone_2d=dict(
        init_cfg=dict(
            type='Pretrained', checkpoint=mobilenet_v3_large_imagenet_ckpt)),
    backbone_3d=dict(
        init_cfg=dict(
            type='Pretrained',
            checkpoint=x3d_s_kinetics_ckpt,
            prefix='backbone.')))
