"""Tests for the key-frame datasets (rawframe and video backed)."""
import os
import os.path as osp

import numpy as np
import pytest
from mmaction.registry import DATASETS
from mmengine.registry import init_default_scope

from mmyowo.datasets import (JHMDB21Dataset, SpatioTemporalActionDataset,
                             UCF24Dataset, save_annotations)
from mmyowo.datasets.jhmdb21 import JHMDB21_CLASSES
from mmyowo.datasets.transforms.loading import VideoDecodeError
from mmyowo.datasets.ucf24 import UCF24_CLASSES
from .test_annotations import make_gt
from .test_loading import (MINI_VIDEOS, frame_image, read_all_opencv,
                           write_rawframes)

V1 = 'Basketball/v_Basketball_g01_c01'
V2 = 'Biking/v_Biking_g01_c01'
V3 = 'Diving/v_Diving_g01_c01'
MINI = 'CliffDiving/v_CliffDiving_g03_c01'

TUBE_A = np.array([[f, 2 + f, 3, 12 + f, 20] for f in range(2, 6)],
                  np.float32)  # frames 2..5
TUBE_B = np.array([[f, 0, 1, 9, 9] for f in range(4, 7)],
                  np.float32)  # frames 4..6
TUBE_C = np.array([[f, 5, 5, 20, 15] for f in range(1, 4)], np.float32)
TUBE_D = np.array([[3, 1, 1, 30, 20], [4, 2, 2, 31, 21]], np.float32)


def ucf_gt():
    """Three videos: V1 (train, 2 overlapping tubes), V2 (both), V3 (test).

    Annotated frames: V1 {2..6}, V2 {1, 2, 3}, V3 {3, 4}.
    """
    return {
        'labels': list(UCF24_CLASSES),
        'gttubes': {
            V1: {
                0: [TUBE_A, TUBE_B]
            },
            V2: {
                2: [TUBE_C]
            },
            V3: {
                5: [TUBE_D]
            },
        },
        'nframes': {
            V1: 8,
            V2: 6,
            V3: 5
        },
        'resolution': {
            V1: (24, 32),
            V2: (20, 28),
            V3: (24, 32)
        },
        'train_videos': [[V1, V2]],
        'test_videos': [[V3, V2]],
    }


@pytest.fixture
def ucf_root(tmp_path):
    """``gt.pkl`` plus PNG rawframes for every video of :func:`ucf_gt`."""
    gt = ucf_gt()
    save_annotations(gt, str(tmp_path / 'gt.pkl'))
    for video, n in gt['nframes'].items():
        h, w = gt['resolution'][video]
        write_rawframes(str(tmp_path / 'rawframes' / video), n, h=h, w=w)
    return tmp_path


def build(root, **kwargs):
    init_default_scope('mmaction')
    cfg = dict(
        type='UCF24Dataset',
        ann_file=str(root / 'gt.pkl'),
        data_prefix=dict(img=str(root / 'rawframes')),
        filename_tmpl='{:05d}.png',
        pipeline=[])
    cfg.update(kwargs)
    return DATASETS.build(cfg)


def keys_of(dataset):
    return [(d['video_id'], d['frame_id'])
            for d in (dataset.get_data_info(i) for i in range(len(dataset)))]


def test_sample_counts(ucf_root):
    train = build(ucf_root)
    assert isinstance(train, UCF24Dataset)
    assert keys_of(train) == [(V1, f) for f in range(2, 7)] + \
        [(V2, f) for f in (1, 2, 3)]
    test = build(ucf_root, test_mode=True)  # default: every frame
    assert keys_of(test) == [(V3, f) for f in range(1, 6)] + \
        [(V2, f) for f in range(1, 7)]
    test_annotated = build(ucf_root, test_mode=True, key_frames='annotated')
    assert keys_of(test_annotated) == [(V3, 3), (V3, 4), (V2, 1), (V2, 2),
                                       (V2, 3)]
    strided = build(ucf_root, key_frames='all', key_frame_stride=3)
    assert keys_of(strided) == [(V1, 1), (V1, 4), (V1, 7), (V2, 1), (V2, 4)]
    strided = build(ucf_root, key_frame_stride=2)
    assert keys_of(strided) == [(V1, 2), (V1, 4), (V1, 6), (V2, 1), (V2, 3)]


def test_training_samples_always_have_boxes(ucf_root):
    train = build(ucf_root)
    for i in range(len(train)):
        info = train.get_data_info(i)
        assert len(info['gt_bboxes']) == len(info['gt_labels']) > 0


def test_key_frame_margin_adds_the_frames_around_actions(ucf_root):
    """V1 is annotated on 2..6 of 8 frames, V2 on 1..3 of 6."""
    near = build(ucf_root, key_frame_margin=1)
    assert keys_of(near) == [(V1, f) for f in range(1, 8)] + \
        [(V2, f) for f in range(1, 5)]
    assert keys_of(build(ucf_root, key_frame_margin=5)) == keys_of(
        build(ucf_root, key_frames='all'))
    infos = {
        (d['video_id'], d['frame_id']): d
        for d in map(near.get_data_info, range(len(near)))
    }
    # The added frames are negatives: no box, and labels of the right type.
    for key in [(V1, 1), (V1, 7), (V2, 4)]:
        assert infos[key]['gt_bboxes'].shape == (0, 4)
        assert infos[key]['gt_labels'].shape == (0, )
        assert infos[key]['gt_labels'].dtype == np.int64
    # Annotated frames keep their boxes.
    np.testing.assert_array_equal(infos[(V1, 4)]['gt_bboxes'],
                                  [TUBE_A[2, 1:], TUBE_B[0, 1:]])
    # The stride applies to the widened list.
    assert keys_of(build(ucf_root, key_frame_margin=1,
                         key_frame_stride=3)) == [(V1, 1), (V1, 4), (V1, 7),
                                                  (V2, 1), (V2, 4)]


def test_margin_frame_through_the_training_pipeline(ucf_root):
    """A margin frame after an action is a clip of frames with a key frame and
    no box, as the synthetic training pipeline packs it."""
    pipeline = [
        dict(type='KFRSampleFrames', clip_len=4, key_frame_position='last'),
        dict(type='RawFrameDecodeKeepBoxes'),
        dict(type='Resize', scale=(32, 32), keep_ratio=False),
        dict(type='FormatShape', input_format='NCTHW', collapse=True),
        dict(type='PackActionInputs'),
    ]
    dataset = build(ucf_root, pipeline=pipeline, key_frame_margin=1)
    packed = dataset[6]  # V1, frame 7, one frame after TUBE_B
    assert tuple(packed['inputs'].shape) == (3, 4, 32, 32)
    instances = packed['data_samples'].gt_instances
    assert tuple(instances.bboxes.shape) == (0, 4)
    assert len(instances.labels) == 0


def test_data_info_contents(ucf_root):
    train = build(ucf_root)
    info = train.get_data_info(2)  # V1, frame 4: both tubes
    assert info['video_id'] == V1
    assert info['frame_id'] == 4
    assert info['total_frames'] == 8
    assert info['ori_shape'] == info['img_shape'] == (24, 32)
    assert info['gt_bboxes'].dtype == np.float32
    np.testing.assert_array_equal(info['gt_bboxes'],
                                  [[6, 3, 16, 20], [0, 1, 9, 9]])
    assert info['gt_labels'].dtype == np.int64
    assert info['gt_labels'].tolist() == [0, 0]
    assert info['start_index'] == 1
    assert info['modality'] == 'RGB'
    assert info['frame_dir'] == osp.join(str(ucf_root / 'rawframes'), V1)
    assert info['filename_tmpl'] == '{:05d}.png'
    assert 'filename' not in info
    assert train.metainfo['classes'] == UCF24_CLASSES

    test = build(ucf_root, test_mode=True)
    info = test.get_data_info(0)  # V3, frame 1: no box
    assert (info['video_id'], info['frame_id']) == (V3, 1)
    assert info['gt_bboxes'].shape == (0, 4)
    assert info['gt_bboxes'].dtype == np.float32
    assert info['gt_labels'].shape == (0, )
    assert info['gt_labels'].dtype == np.int64
    np.testing.assert_array_equal(
        test.get_data_info(7)['gt_bboxes'], TUBE_C[2:3, 1:])  # V2, frame 3


def test_data_root_joins_relative_paths(ucf_root):
    dataset = build(
        ucf_root,
        data_root=str(ucf_root),
        ann_file='gt.pkl',
        data_prefix=dict(img='rawframes'))
    assert len(dataset) == 8
    assert dataset.get_data_info(0)['frame_dir'] == osp.join(
        str(ucf_root), 'rawframes', V1)


def test_rawframe_pipeline(ucf_root):
    pipeline = [
        dict(type='KFRSampleFrames', clip_len=4, test_mode=True),
        dict(type='RawFrameDecodeKeepBoxes'),
    ]
    dataset = build(ucf_root, pipeline=pipeline)
    results = dataset[5]  # V2, frame 1: j_max = 1, clip = frames 1..4
    assert results['frame_inds'].tolist() == [1, 2, 3, 4]
    assert results['key_frame_index'] == 0
    for img, number in zip(results['imgs'], [1, 2, 3, 4]):
        np.testing.assert_array_equal(img, frame_image(number, 20, 28))
    results = dataset[3]  # V1 frame 5: j_max = 4, clip = frames 2..5
    assert results['frame_inds'].tolist() == [2, 3, 4, 5]
    for img, number in zip(results['imgs'], [2, 3, 4, 5]):
        np.testing.assert_array_equal(img, frame_image(number))
    key = results['imgs'][results['key_frame_index']]
    np.testing.assert_array_equal(key, frame_image(5))
    np.testing.assert_array_equal(results['gt_bboxes'],
                                  [TUBE_A[3, 1:], TUBE_B[1, 1:]])


def test_packed_test_sample(ucf_root):
    meta_keys = ('video_id', 'frame_id', 'key_frame_index', 'img_shape',
                 'ori_shape', 'scale_factor', 'clip_len')
    pipeline = [
        dict(type='KFRSampleFrames', clip_len=4, test_mode=True),
        dict(type='RawFrameDecodeKeepBoxes'),
        dict(type='Resize', scale=(224, 224), keep_ratio=False),
        dict(type='FormatShape', input_format='NCTHW', collapse=True),
        dict(type='PackActionInputs', meta_keys=meta_keys),
    ]
    dataset = build(ucf_root, pipeline=pipeline, test_mode=True)
    packed = dataset[3]  # V3, frame 4
    assert tuple(packed['inputs'].shape) == (3, 4, 224, 224)
    sample = packed['data_samples']
    assert sample.video_id == V3 and sample.frame_id == 4
    assert sample.key_frame_index == 3
    assert tuple(sample.ori_shape) == (24, 32)
    assert tuple(sample.img_shape) == (224, 224)
    np.testing.assert_allclose(sample.scale_factor, [224 / 32, 224 / 24])
    np.testing.assert_allclose(
        sample.gt_instances.bboxes.numpy(),
        TUBE_D[1:, 1:] * np.array([224 / 32, 224 / 24] * 2),
        rtol=1e-5)
    assert sample.gt_instances.labels.tolist() == [5]


def test_video_dataset_on_mini_video_uses_opencv_fallback(tmp_path):
    gt = dict(
        labels=list(UCF24_CLASSES),
        gttubes={
            MINI: {
                3: [
                    np.array([[24, 117, 106, 149, 159],
                              [25, 118, 106, 150, 159]], np.float32)
                ]
            }
        },
        nframes={MINI: 92},
        resolution={MINI: (256, 340)},
        train_videos=[[MINI]],
        test_videos=[[MINI]])
    save_annotations(gt, str(tmp_path / 'gt.json'))
    dataset = build(
        tmp_path,
        ann_file=str(tmp_path / 'gt.json'),
        data_prefix=dict(video=MINI_VIDEOS),
        video_ext='.mp4',
        flat_video_dir=True,
        pipeline=[
            dict(type='KFRSampleFrames', clip_len=4, test_mode=True),
            dict(type='VideoDecode'),
        ])
    assert len(dataset) == 2
    info = dataset.get_data_info(0)
    assert info['filename'] == osp.join(MINI_VIDEOS,
                                        'v_CliffDiving_g03_c01.mp4')
    assert info['start_index'] == 0 and 'frame_dir' not in info
    results = dataset[0]  # frame 24 at j_max = 4: positions 20..23
    assert results['frame_inds'].tolist() == [20, 21, 22, 23]
    reference = read_all_opencv(info['filename'])
    for img, position in zip(results['imgs'], range(20, 24)):
        np.testing.assert_array_equal(img, reference[position])
    assert results['img_shape'] == (256, 340)


def test_missing_frame_file_names_the_file(ucf_root):
    os.remove(str(ucf_root / 'rawframes' / V1 / '00003.png'))
    dataset = build(
        ucf_root,
        pipeline=[
            dict(type='KFRSampleFrames', clip_len=4, test_mode=True),
            dict(type='RawFrameDecodeKeepBoxes'),
        ])
    with pytest.raises(FileNotFoundError, match=f'{V1}/00003.png'):
        dataset[1]  # V1 frame 3: j_max = 3, clip = frames 1..4


@pytest.mark.parametrize('content', ['corrupt', 'empty'])
def test_bad_video_file_names_the_file(ucf_root, content):
    path = ucf_root / 'videos' / V1
    path.parent.mkdir(parents=True)
    video = path.with_suffix('.avi')
    video.write_bytes(
        np.random.default_rng(1).bytes(2048) if content == 'corrupt' else b'')
    dataset = build(
        ucf_root,
        data_prefix=dict(video=str(ucf_root / 'videos')),
        pipeline=[
            dict(type='KFRSampleFrames', clip_len=2, test_mode=True),
            dict(type='VideoDecode'),
        ])
    with pytest.raises(VideoDecodeError, match=str(video)):
        dataset[0]
    with pytest.raises(FileNotFoundError, match='v_Biking_g01_c01.avi'):
        dataset[5]  # V2 has no video file


def _break_missing_key(gt):
    del gt['resolution']
    return "missing key 'resolution'", None


def _break_x2_lt_x1(gt):
    gt['gttubes'][V2][2][0] = TUBE_C[:, [0, 3, 2, 1, 4]]
    return r'frame 1: box .* has zero or negative area \(x2 <= x1\)', V2


def _break_zero_width(gt):
    tube = TUBE_C.copy()
    tube[1, 3] = tube[1, 1]  # frame 2: x2 == x1
    gt['gttubes'][V2][2][0] = tube
    return r"label 2 tube 0: frame 2: box .* \(x2 <= x1\)", V2


def _break_missing_gttubes(gt):
    del gt['gttubes'][V3]
    return r"1 split video\(s\) have no gttubes entry", V3


def _break_frame_past_end(gt):
    gt['nframes'][V1] = 5  # TUBE_B reaches frame 6
    return r'frame 6 outside \[1, nframes=5\]', V1


def _break_unknown_split_video(gt):
    gt['train_videos'][0].append('Skiing/v_Skiing_g01_c01')
    return 'unknown to nframes', 'Skiing/v_Skiing_g01_c01'


@pytest.mark.parametrize('breaker', [
    _break_missing_key, _break_x2_lt_x1, _break_zero_width,
    _break_missing_gttubes, _break_frame_past_end, _break_unknown_split_video
])
@pytest.mark.parametrize('suffix', ['.pkl', '.json'])
def test_malformed_annotation_names_file_and_video(tmp_path, breaker, suffix):
    gt = ucf_gt()
    message, video = breaker(gt)
    path = tmp_path / f'gt{suffix}'
    if suffix == '.pkl':
        import pickle
        with open(path, 'wb') as f:
            pickle.dump(gt, f)
    else:
        import json

        from mmyowo.datasets.annotations import _to_builtin
        path.write_text(json.dumps(_to_builtin(gt)))
    with pytest.raises(ValueError, match=message) as err:
        build(tmp_path, ann_file=str(path))
    assert str(path) in str(err.value)
    if video is not None:
        assert video in str(err.value)


def test_classes_come_from_file_or_are_checked(tmp_path):
    save_annotations(make_gt(), str(tmp_path / 'gt.pkl'))
    init_default_scope('mmaction')
    dataset = DATASETS.build(
        dict(
            type='SpatioTemporalActionDataset',
            ann_file=str(tmp_path / 'gt.pkl'),
            pipeline=[]))
    assert isinstance(dataset, SpatioTemporalActionDataset)
    assert dataset.metainfo['classes'] == ('Run', 'Walk')
    with pytest.raises(
            ValueError, match='differ from the classes of '
            'UCF24Dataset'):
        build(tmp_path)
    with pytest.raises(
            ValueError, match='differ from the classes of '
            'JHMDB21Dataset'):
        build(tmp_path, type='JHMDB21Dataset')
    gt = make_gt()
    gt['labels'] = list(JHMDB21_CLASSES)
    save_annotations(gt, str(tmp_path / 'jhmdb.pkl'))
    dataset = build(
        tmp_path, type='JHMDB21Dataset', ann_file=str(tmp_path / 'jhmdb.pkl'))
    assert isinstance(dataset, JHMDB21Dataset)
    assert len(dataset) == 3  # Walk video: frames 2, 3, 4


def test_argument_errors(ucf_root):
    with pytest.raises(ValueError, match='exactly one of "img"'):
        build(ucf_root, data_prefix=dict(img='a', video='b'))
    with pytest.raises(ValueError, match='exactly one of "img"'):
        build(ucf_root, data_prefix=dict(prefix='a'))
    with pytest.raises(ValueError, match='key_frames'):
        build(ucf_root, key_frames='some')
    with pytest.raises(ValueError, match='key_frame_stride'):
        build(ucf_root, key_frame_stride=0)
    for margin in (-1, 1.5):
        with pytest.raises(ValueError, match='key_frame_margin must be'):
            build(ucf_root, key_frame_margin=margin)
    with pytest.raises(ValueError, match="with key_frames='all' it must be"):
        build(ucf_root, key_frames='all', key_frame_margin=2)
    with pytest.raises(ValueError, match='split 1 does not exist'):
        build(ucf_root, split=1)
