# YOWO-Plus on AVA v2.2, 16-frame clips at 224x224: 80 actions trained as
# multi-hot targets (binary focal loss over all classes, eq. 9), 60
# evaluated (frame-mAP@0.5). The paper reports no AVA number; published
# for context (README, "AVA v2.2"): YOWO 17.9, YOWO-Plus 20.6, YOWOv2-L
# 21.7. CSPDarknet53 (ImageNet) + I3D-R50 (Kinetics-400) as on UCF101-24;
# the staged SGD schedule with AVA's epochs
# (_base_/schedules/sgd_staged_unfreeze_ava.py) is our choice, not tuned.
_base_ = [
    '_base_/models/yowo_plus_pretrained.py', '_base_/datasets/ava_v2.2.py',
    '_base_/schedules/sgd_staged_unfreeze_ava.py', '_base_/default_runtime.py'
]

model = dict(
    bbox_head=dict(
        head_module=dict(num_classes=80),
        # Up to 30 persons a key frame; every kept box writes one result
        # row per action scoring above the metric's action_thr.
        test_cfg=dict(score_thr=0.05, max_per_img=30)))
default_hooks = dict(checkpoint=dict(save_best='mAP/overall', rule='greater'))
