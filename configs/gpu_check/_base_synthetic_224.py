# The GPU check's data and recipe (tools/gpu_check.sh, README "GPU check"):
# the synthetic set generated at 224x224 into data/gpu_check_synthetic, read
# in 16-frame clips at the real configs' input size, 100 iterations of
# AdamW from scratch, no validation, every frame of the test videos tested.
# Only the model differs between the leaf configs.
_base_ = ['../_base_/datasets/synthetic.py', '../_base_/default_runtime.py']

data_root = 'data/gpu_check_synthetic'
ann_file = f'{data_root}/annotations/synthetic_gt.pkl'
clip_len = 16
img_scale = (224, 224)

clip_sampler = dict(type='KFRSampleFrames', clip_len=clip_len)
resize = dict(type='Resize', scale=img_scale, keep_ratio=False)
# The synthetic pipelines with the clip length and size changed.
train_pipeline = [
    clip_sampler,
    *[resize if t['type'] == 'Resize' else t for t in _base_.train_transforms]
]
test_pipeline = [
    dict(clip_sampler, test_mode=True),
    *[resize if t['type'] == 'Resize' else t for t in _base_.test_transforms]
]
data = dict(
    type='SpatioTemporalActionDataset',
    ann_file=ann_file,
    data_prefix=dict(img=f'{data_root}/rawframes'))
# A GPU machine has the cores for several decoding workers.
loader = dict(num_workers=6, persistent_workers=True)
train_dataloader = dict(
    **loader,
    batch_size=8,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(data, pipeline=train_pipeline))
test_dataloader = dict(
    **loader, batch_size=8, dataset=dict(data, pipeline=test_pipeline))
test_evaluator = dict(ann_file=ann_file)
val_dataloader = None
val_evaluator = None
val_cfg = None

train_cfg = dict(type='IterBasedTrainLoop', max_iters=100, val_interval=1000)
test_cfg = dict(type='TestLoop')
optim_wrapper = dict(
    optimizer=dict(type='AdamW', lr=1e-3, weight_decay=5e-4),
    clip_grad=dict(max_norm=10, norm_type=2))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0, end=20)
]
log_processor = dict(by_epoch=False)
default_hooks = dict(
    logger=dict(interval=10),
    checkpoint=dict(by_epoch=False, interval=100, max_keep_ckpts=1))
randomness = dict(seed=0)
