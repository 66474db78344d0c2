# The embedded synthetic set (tools/data/generate_synthetic.py): 4 actions
# that differ only in motion (move_left / move_right / grow / shrink), idle
# actors and static distractors. 112x112 frames resized to 128x128 (input
# sides must be multiples of 32), 8-frame clips. No flip: it would swap
# move_left and move_right.
_base_ = ['./ucf24.py']

dataset_type = 'SpatioTemporalActionDataset'
ann_file = 'data/synthetic/annotations/synthetic_gt.pkl'
clip_len = 8
img_scale = (128, 128)
meta_keys = _base_.meta_keys

train_clip_sampler = dict(
    type='KFRSampleFrames', clip_len=clip_len, frame_interval=1)
test_clip_sampler = dict(train_clip_sampler, test_mode=True)
train_transforms = [
    dict(type='RawFrameDecodeKeepBoxes'),
    dict(type='RandomZoomJitter', zoom_range=(0.8, 1.2), jitter=0.1),
    dict(type='Resize', scale=img_scale, keep_ratio=False),
    dict(
        type='ColorJitter',
        brightness=0.3,
        contrast=0.3,
        saturation=0.3,
        hue=0),
    dict(type='FormatShape', input_format='NCTHW', collapse=True),
    dict(type='PackActionInputs', meta_keys=meta_keys),
]
test_transforms = [
    dict(type='RawFrameDecodeKeepBoxes'),
    dict(type='Resize', scale=img_scale, keep_ratio=False),
    dict(type='FormatShape', input_format='NCTHW', collapse=True),
    dict(type='PackActionInputs', meta_keys=meta_keys),
]
train_pipeline = [train_clip_sampler, *train_transforms]
test_pipeline = [test_clip_sampler, *test_transforms]

data = dict(
    type=dataset_type,
    ann_file=ann_file,
    data_prefix=dict(img='data/synthetic/rawframes'))
loader = dict(num_workers=1, persistent_workers=True)

train_dataloader = dict(**loader, dataset=dict(data, pipeline=train_pipeline))
val_dataloader = dict(
    **loader,
    batch_size=16,
    dataset=dict(data, key_frame_stride=1, pipeline=test_pipeline))
test_dataloader = dict(
    **loader, batch_size=16, dataset=dict(data, pipeline=test_pipeline))
val_evaluator = dict(ann_file=ann_file)
test_evaluator = dict(ann_file=ann_file)
