# YOWO-Plus on J-HMDB-21 (split 1), 16-frame clips at 224x224 (paper Tab. 3:
# 81.6 frame-mAP@0.5). CSPDarknet53 (ImageNet, converted from timm) +
# I3D-R50 (Kinetics-400), SGD with staged unfreezing (§4.1).
_base_ = [
    '_base_/models/yowo_plus_pretrained.py', '_base_/datasets/jhmdb21.py',
    '_base_/schedules/sgd_staged_unfreeze.py', '_base_/default_runtime.py'
]

model = dict(bbox_head=dict(head_module=dict(num_classes=21)))

# The J-HMDB-21 schedule of §4.1: 40 epochs, lr halved at epochs 10, 18, 25
# and 35 (mmengine counts from 0), the 3D branch trains from epoch 10, the
# 2D branch from epoch 25.
train_cfg = dict(max_epochs=40)
lr_halving = dict(milestones=[9, 17, 24, 34])
branch_unfreeze = dict(unfreeze_epochs=dict(backbone_3d=10, backbone_2d=25))
param_scheduler = [dict(_base_.lr_halving, **lr_halving)]
custom_hooks = [dict(_base_.branch_unfreeze, **branch_unfreeze)]
