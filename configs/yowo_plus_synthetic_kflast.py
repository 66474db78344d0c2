# Ablation of key-frame random sampling (KFRS, paper §3.1): the synthetic
# recipe with YOWO's sampling, the key frame always the last clip frame.
# Everything else, the test pipeline included, is yowo_plus_synthetic.py's,
# so the two models differ only in where training put the key frame; README,
# "Accuracy by key-frame position", compares them per key-frame position.
_base_ = ['./yowo_plus_synthetic.py']

train_dataloader = dict(
    dataset=dict(pipeline=[
        dict(_base_.train_clip_sampler, key_frame_position='last'),
        *_base_.train_transforms
    ]))
