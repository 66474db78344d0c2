"""Datasets on questionable ground truth: empty splits, videos without any
action, and boxes after training-time augmentation."""
import os.path as osp

import numpy as np
import pytest
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmengine.runner import Runner

from mmyowo.datasets import save_annotations
from .test_annotations import make_gt
from .test_datasets import V1, V2, V3, build, ucf_gt
from .test_loading import write_rawframes

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def _save(tmp_path, gt, name='gt.pkl'):
    path = str(tmp_path / name)
    save_annotations(gt, path)
    return path


@pytest.mark.parametrize('test_mode, split_key, mode', [
    (False, 'train_videos', 'train'),
    (True, 'test_videos', 'test'),
])
def test_empty_split_names_file_split_and_mode(tmp_path, test_mode, split_key,
                                               mode):
    """A split listing no video used to crash inside mmengine's serialisation
    ("need at least one array to concatenate")."""
    gt = ucf_gt()
    gt[split_key] = [gt[split_key][0], []]  # split 1 is empty
    gt['train_videos' if test_mode else 'test_videos'].append([V1])
    path = _save(tmp_path, gt)
    with pytest.raises(ValueError) as err:
        build(tmp_path, ann_file=path, test_mode=test_mode, split=1)
    assert str(err.value) == (
        f'{path}: the {mode} split 1 is empty: {split_key}[1] lists no '
        'video; a UCF24Dataset needs at least one sample')
    # Split 0 of the same file is fine.
    assert len(build(tmp_path, ann_file=path, test_mode=test_mode)) > 0


def test_split_without_annotated_frame(tmp_path):
    """Videos explicitly without action ({}) are valid test videos for
    key_frames='all' but give no sample with key_frames='annotated'."""
    gt = ucf_gt()
    gt['gttubes'][V3] = {}
    gt['gttubes'][V2] = {}
    path = _save(tmp_path, gt)
    test = build(tmp_path, ann_file=path, test_mode=True)
    assert len(test) == gt['nframes'][V3] + gt['nframes'][V2]
    assert all(
        len(test.get_data_info(i)['gt_bboxes']) == 0 for i in range(len(test)))
    with pytest.raises(ValueError) as err:
        build(tmp_path, ann_file=path, test_mode=True, key_frames='annotated')
    assert str(err.value).startswith(
        f"{path}: the test split 0 is empty: none of its 2 video(s) has a "
        "key frame with key_frames='annotated'")
    # Training keeps the annotated frames of V1 only.
    train = build(tmp_path, ann_file=path)
    assert {train.get_data_info(i)['video_id']
            for i in range(len(train))} == {V1}


def test_mim_test_on_empty_split_fails_at_dataset(tmp_path):
    """``mim test`` builds its test dataloader with
    ``Runner.build_dataloader``: on the synthetic config with an empty test
    split it stops with the dataset's message.

    (The whole ``Runner`` is not
    built here: its config dump alone takes ~10 s on 2 cores.)
    """
    gt = make_gt()
    gt['test_videos'] = [[]]
    path = _save(tmp_path, gt)
    cfg = Config.fromfile(osp.join(REPO, 'configs', 'yowo_plus_synthetic.py'))
    loader = cfg.test_dataloader
    loader.num_workers = 0
    loader.persistent_workers = False
    loader.dataset.ann_file = path
    loader.dataset.data_prefix = dict(img=str(tmp_path))
    init_default_scope(cfg.default_scope)
    with pytest.raises(ValueError) as err:
        Runner.build_dataloader(loader.to_dict())
    assert str(err.value) == (
        f'{path}: the test split 0 is empty: test_videos[0] lists no video; '
        'a SpatioTemporalActionDataset needs at least one sample')


def test_training_augmentation_never_yields_degenerate_boxes(tmp_path):
    """Boxes at the frame border and tiny boxes, through the UCF training
    pipeline's box transforms (zoom / jitter, resize, flip): every box that
    reaches the loss has a positive width and height and lies in the input, and
    every annotated key frame keeps at least one box."""
    h, w = 24, 32
    tubes = {
        0: [
            np.array([[f, 0, 0, 3, 24] for f in range(1, 9)], np.float32),
            np.array([[f, 30, 20, 32, 24] for f in range(1, 9)], np.float32)
        ],
        1:
        [np.array([[f, 10, 10, 11, 11.5] for f in range(1, 9)], np.float32)],
    }
    gt = dict(
        labels=['a', 'b'],
        gttubes={V1: tubes},
        nframes={V1: 8},
        resolution={V1: (h, w)},
        train_videos=[[V1]],
        test_videos=[[V1]])
    path = _save(tmp_path, gt)
    write_rawframes(str(tmp_path / 'rawframes' / V1), 8, h=h, w=w)
    pipeline = [
        dict(type='KFRSampleFrames', clip_len=2, frame_interval=1),
        dict(type='RawFrameDecodeKeepBoxes'),
        dict(type='RandomZoomJitter', zoom_range=(0.5, 1.5), jitter=0.2),
        dict(type='Resize', scale=(64, 64), keep_ratio=False),
        dict(type='Flip', flip_ratio=0.5),
    ]
    dataset = build(
        tmp_path,
        type='SpatioTemporalActionDataset',
        ann_file=path,
        pipeline=pipeline)
    np.random.seed(0)
    seen = 0
    for _ in range(25):
        for index in range(len(dataset)):
            boxes = dataset[index]['gt_bboxes']
            assert len(boxes) > 0
            widths = boxes[:, 2] - boxes[:, 0]
            heights = boxes[:, 3] - boxes[:, 1]
            assert (widths > 0).all() and (heights > 0).all(), boxes
            assert (boxes >= 0).all() and (boxes <= 64).all(), boxes
            seen += len(boxes)
    assert seen >= 25 * len(dataset)
