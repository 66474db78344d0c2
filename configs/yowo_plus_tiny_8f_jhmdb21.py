# YOWO-Plus tiny on J-HMDB-21 with 8-frame clips.
# Only the clip length differs from yowo_plus_tiny_jhmdb21.py. mmengine does
# not re-evaluate a base file with a child's variables, so the
# pipelines are rebuilt here from the dataset config's clip samplers
# and transforms.
_base_ = ['./yowo_plus_tiny_jhmdb21.py']

clip_len = 8
train_clip_sampler = dict(_base_.train_clip_sampler, clip_len=clip_len)
test_clip_sampler = dict(_base_.test_clip_sampler, clip_len=clip_len)
train_pipeline = [train_clip_sampler, *_base_.train_transforms]
test_pipeline = [test_clip_sampler, *_base_.test_transforms]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = dict(dataset=dict(pipeline=test_pipeline))
