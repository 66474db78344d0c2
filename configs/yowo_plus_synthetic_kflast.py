# Ablation of key-frame random sampling (KFRS, paper §3.1): the synthetic
# recipe with YOWO's sampling, the key frame always the last clip frame (in
# training, and in per-frame testing, where the frames before the start of a
# video repeat the first one, as YOWO and per-frame inference do).
# Everything else is yowo_plus_synthetic.py's, so the two models differ only
# in where the key frame sits; README, "Accuracy by key-frame position",
# compares them per key-frame position.
_base_ = ['./yowo_plus_synthetic.py']

train_clip_sampler = dict(_base_.train_clip_sampler, key_frame_position='last')
test_clip_sampler = dict(train_clip_sampler, test_mode=True)
train_pipeline = [train_clip_sampler, *_base_.train_transforms]
test_pipeline = [test_clip_sampler, *_base_.test_transforms]

train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = dict(dataset=dict(pipeline=test_pipeline))
