# UCF101-24 (corrected annotations of the YOWO family), rawframes, 224x224.
# Prepare with tools/data/README.md. Augmentation of §4.1: flip, zoom
# 0.5-1.5 with spatial jitter, colour jitter 0.7-1.3, one draw per clip.
dataset_type = 'UCF24Dataset'
data_root = 'data/ucf24'
ann_file = f'{data_root}/annotations/ucf24_gt.pkl'
frames_prefix = dict(img=f'{data_root}/rawframes')
clip_len = 16
frame_interval = 1
img_scale = (224, 224)
meta_keys = ('video_id', 'frame_id', 'key_frame_index', 'img_shape',
             'ori_shape', 'scale_factor', 'clip_len')

# A pipeline is a KFRS clip sampler followed by per-clip transforms; the
# 8-frame configs rebuild the pipelines from these parts with their
# ``clip_len`` (mmengine does not re-evaluate a base file with a child's
# variables).
train_clip_sampler = dict(
    type='KFRSampleFrames', clip_len=clip_len, frame_interval=frame_interval)
test_clip_sampler = dict(train_clip_sampler, test_mode=True)
train_transforms = [
    dict(type='RawFrameDecodeKeepBoxes'),
    dict(type='RandomZoomJitter', zoom_range=(0.5, 1.5), jitter=0.2),
    dict(type='Resize', scale=img_scale, keep_ratio=False),
    dict(type='Flip', flip_ratio=0.5),
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

loader = dict(num_workers=8, persistent_workers=True, batch_size=8)
data = dict(type=dataset_type, ann_file=ann_file, data_prefix=frames_prefix)

train_dataloader = dict(
    **loader,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(**data, key_frames='annotated', pipeline=train_pipeline))
# Validation: annotated test frames (the YOWO-family frame-mAP protocol),
# every 4th one to keep it quick; the test run covers every frame.
val_dataloader = dict(
    **loader,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        **data,
        key_frames='annotated',
        key_frame_stride=4,
        test_mode=True,
        pipeline=test_pipeline))
test_dataloader = dict(
    **loader,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        **data, key_frames='all', test_mode=True, pipeline=test_pipeline))

# Frame-mAP with the YOWO family's protocol (the paper's numbers): annotated
# frames, +1-pixel boxes, rounded detection corners; validation scores the
# frames it predicts. Video-mAP: the YOWO family's protocol
# (mAP/video@...) and our spatio-temporal one (mAP/video_st@...).
val_evaluator = dict(
    type='FrameMAPMetric',
    ann_file=ann_file,
    protocol='annotated',
    pixel_plus_one=True,
    round_boxes=True,
    video_iou_thrs=None)
test_evaluator = dict(
    type='FrameMAPMetric',
    ann_file=ann_file,
    protocol='annotated',
    pixel_plus_one=True,
    round_boxes=True,
    video_iou_thrs=(0.2, 0.5, 0.75),
    video_protocols=('yowo', 'st'))
