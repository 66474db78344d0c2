# YOWO-Plus tiny on J-HMDB-21 (split 1), 16-frame clips at 224x224:
# torchvision's MobileNetV3-Large (ImageNet) + X3D-S (Kinetics-400)
# (_base_/models/yowo_plus_tiny.py), the J-HMDB-21 schedule of
# yowo_plus_jhmdb21.py (§4.1). mmcv-lite suffices.
_base_ = [
    '_base_/models/yowo_plus_tiny_pretrained.py', '_base_/datasets/jhmdb21.py',
    '_base_/schedules/sgd_staged_unfreeze.py', '_base_/default_runtime.py'
]

model = dict(bbox_head=dict(head_module=dict(num_classes=21)))

train_cfg = dict(max_epochs=40)
lr_halving = dict(milestones=[9, 17, 24, 34])
branch_unfreeze = dict(unfreeze_epochs=dict(backbone_3d=10, backbone_2d=25))
param_scheduler = [dict(_base_.lr_halving, **lr_halving)]
custom_hooks = [dict(_base_.branch_unfreeze, **branch_unfreeze)]
