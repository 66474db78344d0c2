# YOWO-Plus tiny on AVA v2.2, 16-frame clips at 224x224: torchvision's
# MobileNetV3-Large (ImageNet) + X3D-S (Kinetics-400)
# (_base_/models/yowo_plus_tiny.py), the AVA settings and schedule of
# yowo_plus_ava_v2.2.py. mmcv-lite suffices.
_base_ = [
    '_base_/models/yowo_plus_tiny_pretrained.py',
    '_base_/datasets/ava_v2.2.py', '_base_/schedules/sgd_staged_unfreeze.py',
    '_base_/default_runtime.py'
]

model = dict(
    bbox_head=dict(
        head_module=dict(num_classes=80),
        test_cfg=dict(score_thr=0.05, max_per_img=30)))

train_cfg = dict(max_epochs=6, val_interval=2)
lr_halving = dict(milestones=[2, 3, 4])
branch_unfreeze = dict(unfreeze_epochs=dict(backbone_3d=2, backbone_2d=4))
param_scheduler = [dict(_base_.lr_halving, **lr_halving)]
custom_hooks = [dict(_base_.branch_unfreeze, **branch_unfreeze)]
default_hooks = dict(checkpoint=dict(save_best='mAP/overall', rule='greater'))
