# YOWO-Plus tiny: the YOWO-Plus design (STM fusion + FPN neck, SE head, 9
# anchors, multi-level top-k assigner; yowo_plus.py) on two light branches
# that have model-zoo weights (yowo_plus_tiny_pretrained.py loads them):
# * 2D: mmdet's YOLOX-tiny backbone, CSPDarknet at 1/3 depth and 3/8 width
#   (96/192/384 channels at strides 8/16/32), as in mmdet's
#   yolox_tiny_8xb8-300e_coco.py. Built as ``mmdet.CSPDarknet``: mmengine
#   imports ``mmdet.models`` when the model is built, which needs the full
#   mmcv (with its compiled ops), not mmcv-lite.
# * 3D: mmaction's X3D-S (gamma_w 1, gamma_b 2.25, gamma_d 2.2, as in
#   mmaction's x3d_s_13x6x1_facebook-kinetics400-rgb.py): 432 channels at
#   spatial stride 32, no temporal stride; I3DNeck averages over time.
# The branches were trained on different inputs: X3D on RGB normalised with
# mean 114.75 / std 57.38 (mmaction's X3D data preprocessor), YOLOX on raw
# BGR pixels 0-255 (mmdet's YOLOX DetDataPreprocessor has no mean/std and
# mmcv decodes BGR). The clip is normalised for X3D; ``input_2d`` maps the
# key frame back to raw BGR for YOLOX (one multiply-add per pixel).
_base_ = ['./yowo_plus.py']

model = dict(
    data_preprocessor=dict(
        mean=[114.75, 114.75, 114.75], std=[57.38, 57.38, 57.38]),
    input_2d=dict(mean=[0., 0., 0.], std=[1., 1., 1.], flip_channels=True),
    frames_3d=4,
    backbone_2d=dict(
        _delete_=True,
        type='mmdet.CSPDarknet',
        deepen_factor=0.33,
        widen_factor=0.375,
        out_indices=(2, 3, 4),
        use_depthwise=False,
        spp_kernal_sizes=(5, 9, 13),
        norm_cfg=dict(type='BN', momentum=0.03, eps=0.001),
        act_cfg=dict(type='Swish')),
    backbone_3d=dict(
        _delete_=True, type='X3D', gamma_w=1, gamma_b=2.25, gamma_d=2.2),
    neck_3d=dict(in_channels=432),
    neck=dict(
        in_channels_2d=(96, 192, 384),
        in_channels_3d=432,
        out_channels=(48, 96, 192)),
    bbox_head=dict(head_module=dict(in_channels=(48, 96, 192), se_ratio=8)))
