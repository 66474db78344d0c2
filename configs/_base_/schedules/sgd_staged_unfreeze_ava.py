# The staged schedule of sgd_staged_unfreeze.py with AVA's epochs (our
# choice, not tuned; the paper trains no AVA model). AVA has 211k training
# key frames (13x UCF101-24's): 6 epochs, lr halved at epochs 3, 4 and 5,
# the 3D branch trains from epoch 2, the 2D branch from epoch 4; validate
# (57k key frames) every 2 epochs. (The leaf configs keep the best frame-mAP
# checkpoint: ``default_hooks`` belongs to default_runtime.py, another base.)
_base_ = ['./sgd_staged_unfreeze.py']

train_cfg = dict(max_epochs=6, val_interval=2)
lr_halving = dict(milestones=[2, 3, 4])
branch_unfreeze = dict(unfreeze_epochs=dict(backbone_3d=2, backbone_2d=4))
param_scheduler = [dict(_base_.lr_halving, **lr_halving)]
custom_hooks = [dict(_base_.branch_unfreeze, **branch_unfreeze)]
