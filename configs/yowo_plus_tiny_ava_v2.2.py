# YOWO-Plus tiny on AVA v2.2, 16-frame clips at 224x224: torchvision's
# MobileNetV3-Large (ImageNet) + X3D-S (Kinetics-400)
# (_base_/models/yowo_plus_tiny.py), the AVA settings and schedule of
# yowo_plus_ava_v2.2.py. mmcv-lite suffices.
_base_ = [
    '_base_/models/yowo_plus_tiny_pretrained.py',
    '_base_/datasets/ava_v2.2.py',
    '_base_/schedules/sgd_staged_unfreeze_ava.py', '_base_/default_runtime.py'
]

model = dict(
    bbox_head=dict(
        head_module=dict(num_classes=80),
        test_cfg=dict(score_thr=0.05, max_per_img=30)))
default_hooks = dict(checkpoint=dict(save_best='mAP/overall', rule='greater'))
