# YOWO-Plus on your own data (docs/custom_dataset.md). Copy this file and
# edit the data section only: the model (CSPDarknet53 from ImageNet + I3D-R50
# from Kinetics-400, §3.2), the 16-frame 224x224 pipelines with the
# augmentation of §4.1 and the SGD schedule with staged unfreezing (§4.1)
# are inherited from the UCF101-24 recipe.
_base_ = [
    '_base_/models/yowo_plus_pretrained.py', '_base_/datasets/ucf24.py',
    '_base_/schedules/sgd_staged_unfreeze.py', '_base_/default_runtime.py'
]

# ---- your data ------------------------------------------------------------
data_root = 'data/my_actions'
# Written by tools/data/convert_csv.py from your CSV.
ann_file = f'{data_root}/annotations/my_actions_gt.pkl'
# Written by tools/data/videos_to_rawframes.py from your videos.
frames_root = f'{data_root}/rawframes'
# The lines of the --classes file given to convert_csv.py, in its order:
# the dataset refuses an annotation file whose labels differ.
classes = ('jump', 'run', 'wave')
# ---------------------------------------------------------------------------

num_classes = len(classes)
model = dict(bbox_head=dict(head_module=dict(num_classes=num_classes)))
data = dict(
    type='SpatioTemporalActionDataset',
    ann_file=ann_file,
    data_prefix=dict(img=frames_root),
    metainfo=dict(classes=classes))
train_dataloader = dict(dataset=data)
val_dataloader = dict(dataset=data)
test_dataloader = dict(dataset=data)
val_evaluator = dict(ann_file=ann_file)
test_evaluator = dict(ann_file=ann_file)
