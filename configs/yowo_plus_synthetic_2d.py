# Ablation: the synthetic recipe without the 3D branch (2D key frame only).
# The synthetic actions differ only in motion, so this model can localise
# actors but not tell move_left from move_right or grow from shrink: the
# frame-mAP gap to yowo_plus_synthetic.py is what the 3D branch adds.
_base_ = ['./yowo_plus_synthetic.py']

model = dict(backbone_3d=None, neck_3d=None, neck=dict(in_channels_3d=0))
