# The fast variant (configs/_base_/models/yowo_plus_tiny.py, random init) on
# the GPU check's synthetic set.
_base_ = ['../_base_/models/yowo_plus_tiny.py', './_base_synthetic_224.py']

model = dict(bbox_head=dict(head_module=dict(num_classes=4)))
