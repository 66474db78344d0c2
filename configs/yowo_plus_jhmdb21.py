# YOWO-Plus on J-HMDB-21 (split 1), 16-frame clips at 224x224 (paper Tab. 3:
# 81.6 frame-mAP@0.5). CSPDarknet53 (ImageNet, converted from timm) +
# I3D-R50 (Kinetics-400), SGD with staged unfreezing (§4.1).
_base_ = [
    '_base_/models/yowo_plus_pretrained.py', '_base_/datasets/jhmdb21.py',
    '_base_/schedules/sgd_40e_jhmdb21.py', '_base_/default_runtime.py'
]

model = dict(bbox_head=dict(head_module=dict(num_classes=21)))
