# YOWO-Plus tiny: the YOWO-Plus design (STM fusion + FPN neck, SE head, 9
# anchors, multi-level top-k assigner; yowo_plus.py) on two light branches
# that have model-zoo weights (yowo_plus_tiny_pretrained.py loads them). Both
# are plain PyTorch modules: the model builds, trains and predicts where only
# mmcv-lite installs (no mmcv compiled ops, no mmdet.models).
# * 2D: torchvision's MobileNetV3-Large (``TorchvisionBackbone``), its
#   feature layers under torchvision's own names up to its last block,
#   40/112/160 channels at strides 8/16/32.
# * 3D: mmaction's X3D-S (gamma_w 1, gamma_b 2.25, gamma_d 2.2, as in
#   mmaction's x3d_s_13x6x1_facebook-kinetics400-rgb.py): 432 channels at
#   spatial stride 32, no temporal stride; I3DNeck averages over time.
# The branches were trained on different inputs: X3D on RGB normalised with
# mean 114.75 / std 57.38 (mmaction's X3D data preprocessor), MobileNetV3 on
# RGB normalised with ImageNet's mean / std (torchvision's convention,
# 0.485/0.456/0.406 and 0.229/0.224/0.225 of 255). The clip is normalised
# for X3D; ``input_2d`` renormalises the key frame for MobileNetV3 (one
# multiply-add per pixel).
_base_ = ['./yowo_plus.py']

model = dict(
    data_preprocessor=dict(
        mean=[114.75, 114.75, 114.75], std=[57.38, 57.38, 57.38]),
    input_2d=dict(
        mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375],
        flip_channels=False),
    frames_3d=4,
    backbone_2d=dict(
        _delete_=True, type='TorchvisionBackbone', arch='mobilenet_v3_large'),
    backbone_3d=dict(
        _delete_=True, type='X3D', gamma_w=1, gamma_b=2.25, gamma_d=2.2),
    neck_3d=dict(in_channels=432),
    neck=dict(
        in_channels_2d=(40, 112, 160),
        in_channels_3d=432,
        out_channels=(48, 96, 192)),
    bbox_head=dict(head_module=dict(in_channels=(48, 96, 192), se_ratio=8)))
