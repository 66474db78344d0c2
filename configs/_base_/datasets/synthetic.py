# The embedded synthetic set (tools/data/generate_synthetic.py): 4 actions
# that differ only in motion (move_left / move_right / grow / shrink), idle
# actors and static distractors, 112x112 frames resized to 128x128 (the
# input must be a multiple of 32).
dataset_type = 'SpatioTemporalActionDataset'
data_root = 'data/synthetic'
ann_file = 'data/synthetic/annotations/synthetic_gt.pkl'
frames_prefix = dict(img='data/synthetic/rawframes')
clip_len = 8
frame_interval = 1
img_scale = (128, 128)
meta_keys = ('video_id', 'frame_id', 'key_frame_index', 'img_shape',
             'ori_shape', 'scale_factor', 'clip_len')

train_pipeline = [
    dict(type='KFRSampleFrames', clip_len=clip_len,
         frame_interval=frame_interval),
    dict(type='RawFrameDecodeKeepBoxes'),
    dict(type='RandomZoomJitter', zoom_range=(0.8, 1.2), jitter=0.1),
    dict(type='Resize', scale=img_scale, keep_ratio=False),
    dict(type='ColorJitter', brightness=0.3, contrast=0.3, saturation=0.3,
         hue=0),
    dict(type='FormatShape', input_format='NCTHW', collapse=True),
    dict(type='PackActionInputs', meta_keys=meta_keys),
]
test_pipeline = [
    dict(type='KFRSampleFrames', clip_len=clip_len,
         frame_interval=frame_interval, test_mode=True),
    dict(type='RawFrameDecodeKeepBoxes'),
    dict(type='Resize', scale=img_scale, keep_ratio=False),
    dict(type='FormatShape', input_format='NCTHW', collapse=True),
    dict(type='PackActionInputs', meta_keys=meta_keys),
]

train_dataloader = dict(
    batch_size=8,
    num_workers=1,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(
        type=dataset_type,
        ann_file=ann_file,
        data_prefix=frames_prefix,
        key_frames='annotated',
        pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=16,
    num_workers=1,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=dataset_type,
        ann_file=ann_file,
        data_prefix=frames_prefix,
        key_frames='annotated',
        test_mode=True,
        pipeline=test_pipeline))
test_dataloader = dict(
    batch_size=16,
    num_workers=1,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=dataset_type,
        ann_file=ann_file,
        data_prefix=frames_prefix,
        key_frames='all',
        test_mode=True,
        pipeline=test_pipeline))

val_evaluator = dict(type='FrameMAPMetric', ann_file=ann_file,
                     protocol='annotated', video_iou_thrs=None)
test_evaluator = dict(type='FrameMAPMetric', ann_file=ann_file,
                      protocol='annotated', video_iou_thrs=(0.2, 0.5, 0.75))
