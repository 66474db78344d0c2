"""Tests for the converter helpers: box clipping, tube sanitising, split
lists and the converters' ground-truth skeleton and report."""
from collections import Counter

import numpy as np
import pytest

from mmyowo.datasets.annotations import load_annotations
from mmyowo.preparation.conversion import (clip_boxes, new_ground_truth,
                                           read_split_list, sanitize_tube,
                                           save_converted, split_videos)
from mmyowo.preparation.csv_tubes import read_class_list, read_video_list
from .test_annotations import VIDEO_A, _assert_gt_equal, make_gt


def test_clip_boxes():
    boxes = np.array([[-5, 2, 10, 60], [30, 10, 50, 20], [38, 0, 45, 5],
                      [10, 10, 10.5, 20]])
    clipped, keep = clip_boxes(boxes, (40, 40), min_size=1.0)
    np.testing.assert_allclose(clipped, [[0, 2, 10, 40], [30, 10, 40, 20],
                                         [38, 0, 40, 5], [10, 10, 10.5, 20]])
    assert keep.tolist() == [True, True, True, False]


def test_sanitize_tube_counts_every_change():
    report = Counter()
    frames = np.array([1, 2, 3, 4])
    boxes = np.array([[-2, 0, 10, 10], [0, 0, 10, 10], [50, 0, 60, 10],
                      [0, 0, 10, 10]])
    tube = sanitize_tube(frames, boxes, (20, 30), nframes=3, report=report)
    np.testing.assert_array_equal(tube, [[1, 0, 0, 10, 10], [2, 0, 0, 10, 10]])
    assert tube.dtype == np.float32
    assert report == Counter({
        'boxes': 4,
        'boxes clipped into the frame': 1,
        'degenerate boxes dropped': 1,  # x1 = x2 = 30 after clipping
        'boxes past the last frame dropped': 1,
        'tubes': 1
    })
    assert sanitize_tube(frames[3:], boxes[3:], (20, 30), 3, report=report) \
        is None
    assert report['tubes dropped (no box left)'] == 1


def test_read_split_list(tmp_path):
    path = tmp_path / 'list.txt'
    path.write_text('# a comment\n'
                    'Basketball/v_Basketball_g01_c01\n'
                    '\n'
                    'labels/Biking/v_Biking_g01_c01/00009.txt\n'
                    'Biking/v_Biking_g01_c01/00010.txt\n'
                    'Diving/v_Diving_g01_c01.avi 6\n')
    assert read_split_list(str(path)) == [
        'Basketball/v_Basketball_g01_c01', 'Biking/v_Biking_g01_c01',
        'Diving/v_Diving_g01_c01'
    ]
    path.write_text('Basketball/v_Basketball_g01_c01\nv_Biking_g01_c01\n')
    with pytest.raises(ValueError, match=r'list.txt:2: expected a video id'):
        read_split_list(str(path))
    with pytest.raises(FileNotFoundError, match='nothere.txt'):
        read_split_list(str(tmp_path / 'nothere.txt'))


def test_split_videos_and_new_ground_truth():
    train = [['a', 'b'], ['b', 'c']]
    test = [['c', 'd'], ['a']]
    assert split_videos(train, test) == ['a', 'b', 'c', 'd']
    gt, videos = new_ground_truth(['x', 'y'], train, test)
    assert videos == ['a', 'b', 'c', 'd']
    assert gt == dict(
        labels=['x', 'y'],
        gttubes={},
        nframes={},
        resolution={},
        train_videos=train,
        test_videos=test)


def test_save_converted_writes_and_reports(tmp_path, capsys):
    path = str(tmp_path / 'gt.pkl')
    save_converted(make_gt(), Counter({'videos': 2, 'boxes clipped': 1}), path)
    _assert_gt_equal(load_annotations(path), make_gt())
    assert capsys.readouterr().out.splitlines() == [
        f'wrote {path}', '  boxes clipped: 1', '  videos: 2'
    ]
    bad = make_gt()
    bad['nframes'][VIDEO_A] = 2  # tube frames 3, 4 beyond the video
    with pytest.raises(ValueError):
        save_converted(bad, Counter(), str(tmp_path / 'bad.pkl'))


def test_clip_boxes_drops_zero_area_whatever_min_size():
    """Even with ``min_size=0`` a box of zero area (as given, or after clipping
    into the frame) is dropped: the loader would refuse it."""
    boxes = np.array([
        [5, 5, 5, 20],  # zero width as given
        [5, 5, 20, 5],  # zero height
        [45, 5, 60, 20],  # right of the 40 px frame
        [5, 5, 5.5, 6]
    ])  # tiny, positive
    _, keep = clip_boxes(boxes, (40, 40), min_size=0.0)
    assert keep.tolist() == [False, False, False, True]
    report = Counter()
    tube = sanitize_tube(
        np.arange(1, 5),
        boxes, (40, 40),
        nframes=4,
        min_size=0.0,
        report=report)
    np.testing.assert_array_equal(tube, [[4, 5, 5, 5.5, 6]])
    assert report['degenerate boxes dropped'] == 3


@pytest.mark.parametrize('reader',
                         [read_split_list, read_class_list, read_video_list])
def test_list_that_is_not_utf8_text_is_named(tmp_path, reader):
    """Used to raise a bare UnicodeDecodeError.

    The bad byte lies past the first chunk the text layer decodes, on line 3.
    """
    path = tmp_path / 'latin1.txt'
    path.write_bytes(b'Basketball/v_Basketball_g01_c01\n' +
                     b'Biking/v_Biking_g01_c01 # ' + b'x' * 10000 + b'\n' +
                     'Diving/v_Caf\xe9_g01_c01\n'.encode('latin1'))
    with pytest.raises(ValueError) as info:
        reader(str(path))
    assert str(info.value) == (
        f"{path}:3: byte b'\\xe9' is not UTF-8 text: save the file as UTF-8")


@pytest.mark.parametrize('reader',
                         [read_split_list, read_class_list, read_video_list])
def test_list_with_byte_order_mark(tmp_path, reader):
    path = tmp_path / 'bom.txt'
    path.write_bytes(b'\xef\xbb\xbfBiking/v_Biking_g01_c01\n')
    assert reader(str(path)) == ['Biking/v_Biking_g01_c01']
