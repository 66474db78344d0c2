# YOWO-Plus on J-HMDB-21 with 8-frame clips (paper Tab. 3: 77.4).
_base_ = ['./yowo_plus_jhmdb21.py']

clip_len = 8
train_pipeline = _base_.train_pipeline
train_pipeline[0]['clip_len'] = clip_len
test_pipeline = _base_.test_pipeline
test_pipeline[0]['clip_len'] = clip_len
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = dict(dataset=dict(pipeline=test_pipeline))
