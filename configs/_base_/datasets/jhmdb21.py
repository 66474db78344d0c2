# J-HMDB-21 (split 1 of 3: split=0), rawframes, 224x224; the UCF101-24
# settings with J-HMDB's files. Every frame of J-HMDB-21 is annotated.
_base_ = ['./ucf24.py']

dataset_type = 'JHMDB21Dataset'
ann_file = 'data/jhmdb/annotations/jhmdb21_gt.pkl'
data = dict(
    type=dataset_type,
    ann_file=ann_file,
    split=0,
    data_prefix=dict(img='data/jhmdb/rgb-images'),
    filename_tmpl='{:05d}.png')

train_dataloader = dict(dataset=data)
val_dataloader = dict(dataset=dict(data, key_frame_stride=1))
test_dataloader = dict(dataset=data)
val_evaluator = dict(ann_file=ann_file, split=0)
test_evaluator = dict(ann_file=ann_file, split=0)
