# YOWO-Plus tiny on UCF101-24, 16-frame clips at 224x224: torchvision's
# MobileNetV3-Large (ImageNet) + X3D-S (Kinetics-400) with a narrower fusion
# neck and head (_base_/models/yowo_plus_tiny.py; about 1/9 of
# yowo_plus_ucf24.py's FLOPs per streamed frame, configs/README.md).
# Schedule and anchors as in yowo_plus_ucf24.py. mmcv-lite suffices.
_base_ = [
    '_base_/models/yowo_plus_tiny_pretrained.py', '_base_/datasets/ucf24.py',
    '_base_/schedules/sgd_staged_unfreeze.py', '_base_/default_runtime.py'
]

model = dict(
    bbox_head=dict(
        head_module=dict(num_classes=24),
        # The UCF101-24 anchors of yowo_plus_ucf24.py (same input size and
        # strides).
        base_anchors=[[(17, 26), (27, 48), (35, 76)],
                      [(41, 109), (56, 89), (54, 133)],
                      [(63, 175), (78, 145), (100, 199)]]))  # yapf: disable
