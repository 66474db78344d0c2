"""Identical boxes of one frame are one multi-label box, in every dataset built
on the canonical ground truth (docs/architecture.md)."""
import numpy as np
import pytest
import torch
from mmaction.registry import DATASETS, TRANSFORMS
from mmengine.registry import init_default_scope

from mmyowo.datasets import save_annotations
from mmyowo.datasets.annotations import group_boxes_by_frame
from mmyowo.datasets.multilabel import (find_multilabel_box,
                                        merge_identical_boxes, to_multi_hot)

CLASSES = ['sit', 'talk', 'wave']
V1, V2 = 'set/v1', 'set/v2'


def tube(frames, box):
    return np.array([[f, *box] for f in frames], np.float32)


# V1: a person sits on frames 1-4 and talks on frames 3-5 (identical box on
# 3 and 4); another person waves on frames 2-3 elsewhere.
SIT = tube(range(1, 5), (2, 2, 10, 20))
TALK = np.concatenate(
    [tube(range(3, 5), (2, 2, 10, 20)),
     tube([5], (3, 2, 11, 20))])
WAVE = tube([2, 3], (12, 1, 20, 9))


def gt_dict(multilabel=True, duplicate=False):
    tubes = {0: [SIT], 2: [WAVE]}
    if multilabel:
        tubes[1] = [TALK]
    if duplicate:
        tubes[2] = [WAVE, WAVE.copy()]  # the same tube written twice
    return {
        'labels': CLASSES,
        'gttubes': {
            V1: tubes,
            V2: {
                0: [tube([1, 2], (1, 1, 5, 5))]
            }
        },
        'nframes': {
            V1: 6,
            V2: 3
        },
        'resolution': {
            V1: (24, 32),
            V2: (24, 32)
        },
        'train_videos': [[V1]],
        'test_videos': [[V2]],
    }


def build(tmp_path, gt, **kwargs):
    save_annotations(gt, str(tmp_path / 'gt.pkl'))
    init_default_scope('mmaction')
    return DATASETS.build(
        dict(
            type='SpatioTemporalActionDataset',
            ann_file=str(tmp_path / 'gt.pkl'),
            data_prefix=dict(img=str(tmp_path)),
            pipeline=[],
            **kwargs))


def by_frame(dataset):
    return {
        dataset.get_data_info(i)['frame_id']: dataset.get_data_info(i)
        for i in range(len(dataset))
    }


def test_identical_boxes_become_one_multi_hot_box(tmp_path):
    frames = by_frame(build(tmp_path, gt_dict()))
    assert sorted(frames) == [1, 2, 3, 4, 5]
    info = frames[3]
    # Sit + talk share one box, wave is another box.
    np.testing.assert_array_equal(info['gt_bboxes'],
                                  [[2, 2, 10, 20], [12, 1, 20, 9]])
    assert info['gt_labels'].dtype == np.float32
    np.testing.assert_array_equal(info['gt_labels'], [[1, 1, 0], [0, 0, 1]])
    # Single-action frames of a multi-label dataset: one-hot rows.
    np.testing.assert_array_equal(frames[1]['gt_labels'], [[1, 0, 0]])
    np.testing.assert_array_equal(frames[5]['gt_bboxes'], [[3, 2, 11, 20]])
    np.testing.assert_array_equal(frames[5]['gt_labels'], [[0, 1, 0]])


def test_multilabel_is_decided_by_the_whole_file(tmp_path):
    # The test split (V2) has no shared box, the file has: multi-hot too,
    # so that train and test samples of one file look alike.
    test = build(tmp_path, gt_dict(), test_mode=True, key_frames='all')
    assert test.multilabel
    info = test.get_data_info(0)
    assert info['gt_labels'].shape == (1, 3)
    assert test.get_data_info(2)['gt_labels'].shape == (0, 3)


def test_single_label_files_keep_integer_labels(tmp_path):
    gt = gt_dict(multilabel=False)
    dataset = build(tmp_path, gt)
    assert not dataset.multilabel
    expected = group_boxes_by_frame(gt['gttubes'][V1])
    for frame, info in by_frame(dataset).items():
        boxes, labels = expected[frame]
        # The very arrays of the per-frame grouping, as before merging.
        assert info['gt_labels'].dtype == np.int64
        np.testing.assert_array_equal(info['gt_bboxes'], boxes)
        np.testing.assert_array_equal(info['gt_labels'], labels)


def test_duplicate_boxes_of_one_label_merge(tmp_path):
    frames = by_frame(
        build(tmp_path, gt_dict(multilabel=False, duplicate=True)))
    np.testing.assert_array_equal(frames[2]['gt_bboxes'],
                                  [[2, 2, 10, 20], [12, 1, 20, 9]])
    assert frames[2]['gt_labels'].tolist() == [0, 2]


def test_multilabel_option(tmp_path):
    with pytest.raises(ValueError, match=r"set/v1 frame 3 .*\[0, 1\]"):
        build(tmp_path, gt_dict(), multilabel=False)
    forced = by_frame(
        build(tmp_path, gt_dict(multilabel=False), multilabel=True))
    np.testing.assert_array_equal(forced[2]['gt_labels'],
                                  [[1, 0, 0], [0, 0, 1]])


def test_packed_multi_hot_labels(tmp_path):
    dataset = build(tmp_path, gt_dict())
    pack = TRANSFORMS.build(dict(type='PackActionInputs'))
    info = by_frame(dataset)[4]
    info['imgs'] = [np.zeros((24, 32, 3), np.uint8)]
    sample = pack(info)['data_samples']
    assert sample.gt_instances.labels.dtype == torch.float32
    assert sample.gt_instances.labels.tolist() == [[1., 1., 0.]]


def test_helpers():
    boxes = np.array([[1, 1, 2, 2], [3, 3, 4, 4], [1, 1, 2, 2], [1, 1, 2, 2]],
                     np.float32)
    merged, sets = merge_identical_boxes(boxes, np.array([2, 0, 1, 2]))
    np.testing.assert_array_equal(merged, [[1, 1, 2, 2], [3, 3, 4, 4]])
    assert sets == [(2, 1), (0, )]
    np.testing.assert_array_equal(
        to_multi_hot(sets, 3), [[0, 1, 1], [1, 0, 0]])
    assert find_multilabel_box({0: [SIT], 1: [TALK]}) == (3, (0, 1))
    assert find_multilabel_box({0: [SIT, SIT]}) is None
    assert find_multilabel_box({}) is None
