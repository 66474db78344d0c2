# JHMDB-21 schedule of §4.1: SGD (momentum 0.937), lr 1e-4 halved at epochs
# 10, 18, 25 and 35, 40 epochs; both backbones frozen first, the 3D branch
# trains from epoch 10, the 2D branch from epoch 25.
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=40, val_begin=1,
                 val_interval=5)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')

optim_wrapper = dict(
    optimizer=dict(type='SGD', lr=1e-4, momentum=0.937, weight_decay=5e-4),
    clip_grad=dict(max_norm=10, norm_type=2))
# mmengine counts epochs from 0: milestone 9 = the start of the 10th epoch.
param_scheduler = [
    dict(type='MultiStepLR', by_epoch=True, milestones=[9, 17, 24, 34],
         gamma=0.5)
]
custom_hooks = [
    dict(type='BranchUnfreezeHook',
         unfreeze_epochs=dict(backbone_3d=10, backbone_2d=25))
]
auto_scale_lr = dict(enable=False, base_batch_size=8)
