"""AVA in MMAction2's layout: the synthetic AVA set, YOWOAVADataset,
AVARawFrameDecode and the checked AVA file readers."""
import csv
import os.path as osp
from collections import defaultdict

import cv2
import numpy as np
import pytest
from mmaction.evaluation import read_labelmap
from mmaction.registry import DATASETS, TRANSFORMS
from mmengine.registry import init_default_scope

from mmyowo.datasets.ava_files import (AVAFileError, read_ava_boxes,
                                       read_ava_exclusions)
from mmyowo.preparation.synthetic_ava import (AVA_SYNTHETIC_ACTIONS,
                                              generate_synthetic_ava)

SECONDS, FPS, START = 4, 30, 900
NUM_CLASSES = len(AVA_SYNTHETIC_ACTIONS) + 1


@pytest.fixture(scope='module')
def ava(tmp_path_factory):
    root = tmp_path_factory.mktemp('ava')
    return generate_synthetic_ava(
        str(root),
        num_train_videos=3,
        num_val_videos=1,
        seconds=SECONDS,
        seed=3)


def read_rows(path):
    """The CSV as plain tuples: an independent reading of the file."""
    with open(path) as handle:
        return [tuple(row) for row in csv.reader(handle)]


def expected_key_frames(path):
    """(video, ts) -> {box corners (str tuple): set of action ids}."""
    frames = defaultdict(lambda: defaultdict(set))
    for video, ts, *box, action, _ in read_rows(path):
        frames[(video, int(ts))][tuple(box)].add(int(action))
    return frames


def build(ava, split='train', pipeline=(), **kwargs):
    init_default_scope('mmaction')
    cfg = dict(
        type='YOWOAVADataset',
        ann_file=ava[f'{split}_csv'],
        exclude_file=ava[f'{split}_exclude'],
        label_file=ava['label_file'],
        num_classes=NUM_CLASSES,
        timestamp_start=START,
        timestamp_end=START + SECONDS,
        data_prefix=dict(img=ava['rawframes']),
        pipeline=list(pipeline))
    cfg.update(kwargs)
    return DATASETS.build(cfg)


def test_generator_writes_the_ava_layout(ava):
    rows = read_rows(ava['train_csv'])
    assert all(len(r) == 8 for r in rows)
    frames = expected_key_frames(ava['train_csv'])
    # Whole seconds strictly inside each video, every video annotated.
    assert {ts for _, ts in frames} == set(range(START + 1, START + SECONDS))
    # Persons doing two actions at once exist.
    assert any(len(a) == 2 for f in frames.values() for a in f.values())
    (excluded, ) = read_ava_exclusions(ava['train_exclude'])
    assert excluded in frames
    with open(ava['label_file']) as f:
        full = {c['id'] for c in read_labelmap(f)[0]}
    with open(ava['eval_label_file']) as f:
        evaluated = {c['name'] for c in read_labelmap(f)[0]}
    assert full == set(AVA_SYNTHETIC_ACTIONS)
    assert evaluated == set(AVA_SYNTHETIC_ACTIONS.values()) - {'shrink'}
    video = rows[0][0]
    assert osp.isfile(
        osp.join(ava['rawframes'], video, f'img_{SECONDS * FPS:05d}.jpg'))
    assert not osp.exists(
        osp.join(ava['rawframes'], video, f'img_{SECONDS * FPS + 1:05d}.jpg'))
    with pytest.raises(FileExistsError):
        generate_synthetic_ava(osp.dirname(ava['rawframes']))


def test_one_sample_per_key_frame_with_multi_hot_labels(ava):
    dataset = build(ava)
    expected = expected_key_frames(ava['train_csv'])
    excluded = read_ava_exclusions(ava['train_exclude'])
    assert len(dataset) == len(expected) - len(excluded)
    assert dataset.metainfo['classes'] == tuple(AVA_SYNTHETIC_ACTIONS.values())
    for i in range(len(dataset)):
        info = dataset.get_data_info(i)
        key = (info['video_id'], info['timestamp'])
        assert key not in excluded
        assert info['frame_id'] == (info['timestamp'] - START) * FPS + 1
        assert info['total_frames'] == SECONDS * FPS
        persons = expected[key]
        assert info['gt_bboxes'].shape == (len(persons), 4)
        assert info['gt_labels'].shape == (len(persons), NUM_CLASSES - 1)
        for box, row in zip(info['gt_bboxes'], info['gt_labels']):
            actions = persons[tuple(f'{v:.3f}' for v in box)]
            assert set(np.flatnonzero(row) + 1) == actions


def test_decoded_boxes_are_csv_corners_times_the_frame_size(ava):
    pipeline = [
        dict(type='KFRSampleFrames', clip_len=8, test_mode=True),
        dict(type='AVARawFrameDecode')
    ]
    dataset = build(ava, 'val', pipeline, test_mode=True)
    for i in range(len(dataset)):
        info = dataset.get_data_info(i)
        out = dataset[i]
        key_frame = out['frame_inds'][out['key_frame_index']]
        assert key_frame == info['frame_id']
        image = cv2.imread(
            osp.join(info['frame_dir'], f'img_{key_frame:05d}.jpg'))
        h, w = image.shape[:2]
        assert out['ori_shape'] == (h, w)
        np.testing.assert_allclose(
            out['gt_bboxes'], info['gt_bboxes'] * [w, h, w, h], rtol=1e-6)


def test_training_pipeline_keeps_label_rows_with_their_boxes(ava):
    pipeline = [
        dict(type='KFRSampleFrames', clip_len=8),
        dict(type='AVARawFrameDecode'),
        dict(type='RandomZoomJitter', zoom_range=(1.4, 1.5), jitter=0.2),
        dict(type='Resize', scale=(64, 64), keep_ratio=False),
        dict(type='Flip', flip_ratio=0.5),
        dict(type='FormatShape', input_format='NCTHW', collapse=True),
        dict(type='PackActionInputs', meta_keys=('timestamp', 'video_id')),
    ]
    dataset = build(ava, pipeline=pipeline)
    np.random.seed(0)
    for i in range(len(dataset)):
        gt = dataset[i]['data_samples'].gt_instances
        assert gt.labels.shape == (len(gt.bboxes), NUM_CLASSES - 1)
        assert len(gt.bboxes) >= 1
        assert (gt.labels.sum(dim=1) >= 1).all()


def write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text)
    return str(path)


@pytest.mark.parametrize('line, problem', [
    ('v,0902,0.1,0.1,0.5,0.5,1', r'line 2: expected 8 columns'),
    ('v,09x2,0.1,0.1,0.5,0.5,1,0', r"line 2: timestamp '09x2'"),
    ('v,0902,10,12,50,60,1,0', r'line 2: box .* not normalised'),
    ('v,0950,0.1,0.1,0.5,0.5,1,0', r'line 2: timestamp 950 is outside'),
    ('v,0902,0.1,0.1,0.5,0.5,7,0', r'line 2: action id 7 is outside'),
])
def test_malformed_csv_lines_are_named(ava, tmp_path, line, problem):
    good = 'v,0902,0.1,0.1,0.5,0.5,1,0\n'
    path = write(tmp_path, 'bad.csv', good + line + '\n')
    with pytest.raises(AVAFileError, match='bad.csv, ' + problem):
        build(ava, ann_file=path, exclude_file=None)


def test_zero_area_rows_are_counted_and_skipped(ava, tmp_path):
    path = write(
        tmp_path, 'flat.csv', 'v,0902,0.1,0.1,0.5,0.5,1,0\n\n'
        'v,0902,0.3,0.1,0.3,0.5,2,1\n')
    dataset = build(ava, ann_file=path, exclude_file=None)
    assert dataset.num_skipped_boxes == 1
    assert dataset.get_data_info(0)['gt_labels'].tolist() == [[
        1, 0, 0, 0, 0, 0
    ]]


def test_bad_exclusions_and_empty_splits(ava, tmp_path):
    path = write(tmp_path, 'ex.csv', 'synth_train_000\n')
    with pytest.raises(AVAFileError, match='ex.csv, line 1: expected 2'):
        build(ava, exclude_file=path)
    one = write(tmp_path, 'one.csv', 'v,0902,0.1,0.1,0.5,0.5,1,0\n')
    every = write(tmp_path, 'every.csv', 'v,0902\n')
    with pytest.raises(ValueError, match='no train key frame left'):
        build(ava, ann_file=one, exclude_file=every)
    with pytest.raises(ValueError, match='rawframes only'):
        build(ava, use_frames=False)


@pytest.mark.parametrize('reader', [
    lambda path: read_ava_boxes(path, None, None),
    read_ava_exclusions,
])
def test_csv_that_is_not_utf8_text_is_named(tmp_path, reader):
    """Used to raise a bare UnicodeDecodeError (locale encoding), without the
    file or the line."""
    path = tmp_path / 'latin1.csv'
    path.write_bytes(b'v,0902,0.1,0.1,0.5,0.5,1,0\n\n' +
                     'caf\xe9,0903,0.1,0.1,0.5,0.5,1,0\n'.encode('latin1'))
    with pytest.raises(AVAFileError) as info:
        reader(str(path))
    assert str(info.value) == (
        f"{path}, line 3: byte b'\\xe9' is not UTF-8 text: save the file as "
        'UTF-8')


def test_csv_field_over_the_csv_limit_is_named(tmp_path):
    """A field longer than the csv module's limit used to raise a bare
    csv.Error."""
    path = tmp_path / 'long.csv'
    path.write_text('v,0902,0.1,0.1,0.5,0.5,1,0\n'
                    f'v,0902,0.1,0.1,0.5,0.5,1,{"7" * 140000}\n')
    with pytest.raises(AVAFileError) as info:
        read_ava_boxes(str(path), None, None)
    assert str(info.value) == (
        f'{path}, line 2: not CSV text: field larger than field limit '
        '(131072)')


def test_csv_with_byte_order_mark(tmp_path):
    """A UTF-8 byte-order mark is not part of the first video id."""
    path = tmp_path / 'bom.csv'
    path.write_bytes(b'\xef\xbb\xbfv,0902,0.1,0.1,0.5,0.5,1,0\n')
    records, _ = read_ava_boxes(str(path), None, None)
    assert list(records) == [('v', 902)]


def test_decoder_refuses_pixel_boxes(ava):
    decode = TRANSFORMS.build(dict(type='AVARawFrameDecode'))
    info = build(ava).get_data_info(0)
    results = dict(info, frame_inds=np.array([info['frame_id']]))
    with pytest.raises(ValueError, match='not normalised'):
        decode(dict(results, gt_bboxes=info['gt_bboxes'] * 100))
    with pytest.raises(ValueError, match='RawFrameDecodeKeepBoxes'):
        decode(dict(results, ori_shape=(90, 160)))
