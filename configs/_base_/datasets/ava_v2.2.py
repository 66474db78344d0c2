# AVA v2.2 as MMAction2 prepares it (tools/data/ava; README, "AVA v2.2"):
# rawframes img_00001.jpg.. at 30 fps of the videos cut to 900-1800 s, the
# v2.2 CSVs, exclusion lists and label maps. One sample per annotated key
# frame (1 per second); KFRS samples the clip around it. Boxes are
# normalised in the CSV: AVARawFrameDecode turns them into pixels, then the
# augmentation of §4.1 runs as on UCF101-24. Multi-label: one box per
# person, a multi-hot row of the 80 actions (trained); the metric scores
# the 60 actions of the ActivityNet label map (frame-AP@0.5).
dataset_type = 'YOWOAVADataset'
data_root = 'data/ava'
anno_root = f'{data_root}/annotations'
ann_file_train = f'{anno_root}/ava_train_v2.2.csv'
ann_file_val = f'{anno_root}/ava_val_v2.2.csv'
exclude_file_train = f'{anno_root}/ava_train_excluded_timestamps_v2.2.csv'
exclude_file_val = f'{anno_root}/ava_val_excluded_timestamps_v2.2.csv'
# The 80 trained actions (class names) and the 60 evaluated ones.
label_file = f'{anno_root}/ava_action_list_v2.2.pbtxt'
eval_label_file = (
    f'{anno_root}/ava_action_list_v2.2_for_activitynet_2019.pbtxt')
frames_prefix = dict(img=f'{data_root}/rawframes')
# mmaction's convention: actions + 1 (a background column the dataset
# drops; the head predicts num_classes - 1 = 80 scores per box).
ava_num_classes = 81
timestamp_start = 900
timestamp_end = 1800
clip_len = 16
frame_interval = 1
img_scale = (224, 224)
meta_keys = ('video_id', 'timestamp', 'frame_id', 'key_frame_index',
             'img_shape', 'ori_shape', 'scale_factor', 'clip_len')

# A pipeline is a KFRS clip sampler followed by per-clip transforms, as in
# ucf24.py (the 8-frame config rebuilds the pipelines from these parts).
train_clip_sampler = dict(
    type='KFRSampleFrames', clip_len=clip_len, frame_interval=frame_interval)
test_clip_sampler = dict(train_clip_sampler, test_mode=True)
train_transforms = [
    dict(type='AVARawFrameDecode'),
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
    dict(type='AVARawFrameDecode'),
    dict(type='Resize', scale=img_scale, keep_ratio=False),
    dict(type='FormatShape', input_format='NCTHW', collapse=True),
    dict(type='PackActionInputs', meta_keys=meta_keys),
]
train_pipeline = [train_clip_sampler, *train_transforms]
test_pipeline = [test_clip_sampler, *test_transforms]

loader = dict(num_workers=8, persistent_workers=True, batch_size=8)
data = dict(
    type=dataset_type,
    label_file=label_file,
    num_classes=ava_num_classes,
    timestamp_start=timestamp_start,
    timestamp_end=timestamp_end,
    data_prefix=frames_prefix)

train_dataloader = dict(
    **loader,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(
        **data,
        ann_file=ann_file_train,
        exclude_file=exclude_file_train,
        pipeline=train_pipeline))
val_dataloader = dict(
    **loader,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        **data,
        ann_file=ann_file_val,
        exclude_file=exclude_file_val,
        test_mode=True,
        pipeline=test_pipeline))
test_dataloader = val_dataloader

# mmaction's AVAMetric (frame-AP@0.5, the ActivityNet protocol) fed with
# normalised boxes and per-class scores.
val_evaluator = dict(
    type='YOWOAVAMetric',
    ann_file=ann_file_val,
    exclude_file=exclude_file_val,
    label_file=eval_label_file,
    num_classes=ava_num_classes,
    num_workers=8)
test_evaluator = val_evaluator
