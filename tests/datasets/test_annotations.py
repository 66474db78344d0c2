"""Tests for the canonical ground truth: load / save / validate, helpers."""
import argparse
import json
import os
import pickle

import numpy as np
import pytest

from mmyowo.datasets.annotations import (_to_builtin, group_boxes_by_frame,
                                         load_annotations, save_annotations,
                                         validate_annotations)

VIDEO_A = 'Walk/v_Walk_g01_c01'
VIDEO_B = 'Run/v_Run_g02_c03'


def make_gt():
    """A tiny canonical GT: two videos, two classes, three tubes."""
    return {
        'labels': ['Run', 'Walk'],
        'gttubes': {
            VIDEO_A: {
                1: [
                    np.array([[2, 10, 20, 30, 40], [3, 11, 21, 31, 41],
                              [4, 12, 22, 32, 42]], np.float32),
                    np.array([[3, 0, 0, 8, 8]], np.float32),
                ]
            },
            VIDEO_B: {
                0:
                [np.array([[1, 1, 2, 3, 4], [5, 5, 5, 40, 30]], np.float32)]
            },
        },
        'nframes': {
            VIDEO_A: 6,
            VIDEO_B: 5
        },
        'resolution': {
            VIDEO_A: (48, 64),
            VIDEO_B: (32, 40)
        },
        'train_videos': [[VIDEO_A]],
        'test_videos': [[VIDEO_B]],
    }


def _assert_gt_equal(a, b):
    assert a['labels'] == b['labels']
    assert a['nframes'] == b['nframes']
    assert a['resolution'] == b['resolution']
    assert a['train_videos'] == b['train_videos']
    assert a['test_videos'] == b['test_videos']
    assert a['gttubes'].keys() == b['gttubes'].keys()
    for video in a['gttubes']:
        assert a['gttubes'][video].keys() == b['gttubes'][video].keys()
        for label, tubes in a['gttubes'][video].items():
            other = b['gttubes'][video][label]
            assert len(tubes) == len(other)
            for t1, t2 in zip(tubes, other):
                assert t2.dtype == np.float32
                np.testing.assert_array_equal(t1, t2)


@pytest.mark.parametrize('suffix', ['.pkl', '.json'])
def test_save_load_roundtrip(tmp_path, suffix):
    gt = make_gt()
    path = str(tmp_path / f'gt{suffix}')
    save_annotations(gt, path)
    loaded = load_annotations(path)
    _assert_gt_equal(gt, loaded)
    # Canonical types whatever the format: int label keys, tuple sizes.
    assert all(isinstance(k, int) for k in loaded['gttubes'][VIDEO_A])
    assert loaded['resolution'][VIDEO_A] == (48, 64)
    if suffix == '.json':
        with open(path) as f:
            raw = json.load(f)
        assert raw['gttubes'][VIDEO_A]['1'][0][0] == [2, 10, 20, 30, 40]


def test_pickle_with_numpy_and_old_protocol_is_admitted(tmp_path):
    gt = make_gt()
    # numpy scalars and protocol 2 put numpy / builtins globals in the file.
    gt['nframes'][VIDEO_A] = np.int64(6)
    path = tmp_path / 'gt.pkl'
    with open(path, 'wb') as f:
        pickle.dump(gt, f, protocol=2)
    loaded = load_annotations(str(path))
    assert loaded['nframes'][VIDEO_A] == 6
    _assert_gt_equal(make_gt(), loaded)


class _Malicious:
    """Unpickling this runs a shell command."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f'echo pwned > {self.marker}', ))


def test_malicious_pickle_is_refused(tmp_path):
    marker = tmp_path / 'pwned.txt'
    gt = make_gt()
    gt['labels'] = _Malicious(marker)
    path = tmp_path / 'evil.pkl'
    with open(path, 'wb') as f:
        pickle.dump(gt, f)
    with pytest.raises(ValueError, match='refusing to read the pickle') as err:
        load_annotations(str(path))
    assert str(path) in str(err.value)
    assert 'system' in str(err.value)
    assert not marker.exists()


def test_pickle_of_arbitrary_class_is_refused(tmp_path):
    path = tmp_path / 'namespace.pkl'
    with open(path, 'wb') as f:
        pickle.dump({'labels': argparse.Namespace(a=1)}, f)
    with pytest.raises(
            ValueError, match=f'^{path}: .*it names argparse.Namespace'):
        load_annotations(str(path))


def _save_raw(gt, path):
    with open(path, 'wb') as f:
        pickle.dump(gt, f)
    return str(path)


def test_missing_key(tmp_path):
    gt = make_gt()
    del gt['nframes']
    path = _save_raw(gt, tmp_path / 'gt.pkl')
    with pytest.raises(ValueError, match="missing key 'nframes'") as err:
        load_annotations(path)
    assert path in str(err.value)


@pytest.mark.parametrize('row, message', [
    ([5, 30, 20, 10, 40], r'negative area \(x2 <= x1\)'),
    ([5, 10, 40, 30, 20], r'negative area \(y2 <= y1\)'),
    ([7, 10, 20, 30, 40], r'frame 7 outside \[1, nframes=6\]'),
    ([0, 10, 20, 30, 40], r'frame 0 outside'),
    ([5, 10, 20, 70, 40], 'outside the 64x48 frame'),
    ([5, -5, 20, 30, 40], 'outside the 64x48 frame'),
    ([3.5, 10, 20, 30, 40], 'integers'),
    ([2, 10, 20, 30, 40], 'appears twice'),
    ([5, np.nan, 20, 30, 40], 'NaN'),
])
def test_malformed_box_names_file_and_video(tmp_path, row, message):
    gt = make_gt()
    tube = gt['gttubes'][VIDEO_A][1][0]
    gt['gttubes'][VIDEO_A][1][0] = np.concatenate(
        [tube, np.array([row], np.float32)])
    path = _save_raw(gt, tmp_path / 'gt.pkl')
    with pytest.raises(ValueError, match=message) as err:
        load_annotations(path)
    assert path in str(err.value) and VIDEO_A in str(err.value)


def test_box_tolerance(tmp_path):
    gt = make_gt()
    gt['gttubes'][VIDEO_A][1][1] = np.array([[3, -0.5, 0, 64.5, 48.5]],
                                            np.float32)
    path = _save_raw(gt, tmp_path / 'gt.pkl')
    load_annotations(path)  # within the default 1 px tolerance
    with pytest.raises(ValueError, match='outside'):
        load_annotations(path, box_tolerance=0.0)


def test_unknown_video_in_split(tmp_path):
    gt = make_gt()
    gt['test_videos'][0].append('Jump/v_Jump_g01_c01')
    path = _save_raw(gt, tmp_path / 'gt.pkl')
    with pytest.raises(ValueError, match='unknown to nframes') as err:
        load_annotations(path)
    assert path in str(err.value)
    assert "'Jump/v_Jump_g01_c01' in test_videos[0]" in str(err.value)


def test_other_structure_errors():
    gt = make_gt()
    gt['gttubes'][VIDEO_B][0][0] = np.zeros((5, 4), np.float32)
    with pytest.raises(ValueError, match=r'shape \(5, 4\), expected'):
        save_annotations(gt, 'x.pkl')
    gt = make_gt()
    gt['gttubes'][VIDEO_A][2] = gt['gttubes'][VIDEO_A].pop(1)
    with pytest.raises(ValueError, match=r'label 2 outside \[0, 2\)'):
        validate_annotations(gt, 'x.pkl')
    gt = make_gt()
    gt['train_videos'].append([])
    with pytest.raises(ValueError, match='2 splits'):
        validate_annotations(gt, 'x.pkl')
    gt = make_gt()
    del gt['resolution'][VIDEO_B]
    with pytest.raises(ValueError, match='no resolution'):
        validate_annotations(gt, 'x.pkl')
    gt = make_gt()
    gt['gttubes']['Other/v'] = {}
    with pytest.raises(ValueError, match="'Other/v' has gttubes but no"):
        validate_annotations(gt, 'x.pkl')


def test_file_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match='nothere.pkl'):
        load_annotations(str(tmp_path / 'nothere.pkl'))
    bad = tmp_path / 'gt.yaml'
    bad.write_text('labels: []')
    with pytest.raises(ValueError, match='unknown annotation format'):
        load_annotations(str(bad))
    with pytest.raises(ValueError, match='unknown annotation format'):
        save_annotations(make_gt(), str(tmp_path / 'gt.txt'))
    broken = tmp_path / 'broken.json'
    broken.write_text('{"labels": [')
    with pytest.raises(ValueError, match='broken.json: invalid JSON'):
        load_annotations(str(broken))
    truncated = tmp_path / 'truncated.pkl'
    truncated.write_bytes(pickle.dumps(make_gt())[:50])
    message = 'truncated.pkl: refusing to read the pickle: not a valid pickle'
    with pytest.raises(ValueError, match=message):
        load_annotations(str(truncated))
    not_dict = tmp_path / 'list.json'
    not_dict.write_text('[1, 2]')
    with pytest.raises(ValueError, match='must hold a dict'):
        load_annotations(str(not_dict))


def test_deeply_nested_json_names_the_file(tmp_path):
    # json's parser recurses per level: RecursionError, unless caught.
    deep = tmp_path / 'deep.json'
    deep.write_text('{"labels": ' + '[' * 100000)
    with pytest.raises(ValueError, match='deep.json: invalid JSON'):
        load_annotations(str(deep))


def test_huge_integer_frame_count_names_the_file(tmp_path):
    # float() of a 400-digit integer raises OverflowError.
    gt = json.loads(json.dumps(_to_builtin(make_gt())))
    gt['nframes'][VIDEO_A] = 10**400
    path = tmp_path / 'huge.json'
    path.write_text(json.dumps(gt))
    with pytest.raises(ValueError, match=r'huge.json: .*nframes') as err:
        load_annotations(str(path))
    assert 'out of range' in str(err.value)


def test_save_refuses_invalid_gt(tmp_path):
    gt = make_gt()
    gt['nframes'][VIDEO_A] = 2  # tube reaches frame 4
    path = tmp_path / 'gt.pkl'
    with pytest.raises(ValueError, match='frame 3 outside'):
        save_annotations(gt, str(path))
    assert not path.exists()


def test_save_does_not_modify_input(tmp_path):
    gt = make_gt()
    gt['gttubes'][VIDEO_A][1][0] = gt['gttubes'][VIDEO_A][1][0].tolist()
    gt['resolution'][VIDEO_A] = [48, 64]
    save_annotations(gt, str(tmp_path / 'gt.pkl'))
    assert isinstance(gt['gttubes'][VIDEO_A][1][0], list)
    assert gt['resolution'][VIDEO_A] == [48, 64]
    loaded = load_annotations(str(tmp_path / 'gt.pkl'))
    _assert_gt_equal(make_gt(), loaded)


def test_group_boxes_by_frame():
    grouped = group_boxes_by_frame(make_gt()['gttubes'][VIDEO_A])
    assert sorted(grouped) == [2, 3, 4]
    boxes, labels = grouped[3]
    np.testing.assert_array_equal(boxes, [[11, 21, 31, 41], [0, 0, 8, 8]])
    assert boxes.dtype == np.float32 and labels.dtype == np.int64
    assert labels.tolist() == [1, 1]
    assert group_boxes_by_frame({}) == {}


@pytest.mark.parametrize('row, message', [
    ([5, 10, 20, 10, 40], r'x2 <= x1'),
    ([5, 10, 20, 30, 20], r'y2 <= y1'),
    ([5, 10, 20, 10, 20], r'x2 <= x1'),
])
def test_zero_area_box_is_refused(tmp_path, row, message):
    """A box with x2 == x1 or y2 == y1 has no area: it matches no prior and
    would train its key frame as background, so loading refuses it, naming the
    file, video, label, tube and frame."""
    gt = make_gt()
    tube = gt['gttubes'][VIDEO_A][1][1]  # label 1, tube 1: frame 3
    gt['gttubes'][VIDEO_A][1][1] = np.concatenate(
        [tube, np.array([row], np.float32)])
    for suffix in ('.pkl', '.json'):
        path = str(tmp_path / f'gt{suffix}')
        if suffix == '.pkl':
            _save_raw(gt, path)
        else:
            with open(path, 'w') as f:
                json.dump(_to_builtin(gt), f)
        with pytest.raises(ValueError, match=message) as err:
            load_annotations(path)
        text = str(err.value)
        assert text.startswith(f'{path}: video {VIDEO_A!r}: label 1 tube 1: '
                               'frame 5: box ')
        assert 'zero or negative area' in text
    with pytest.raises(ValueError, match=message):
        save_annotations(gt, str(tmp_path / 'out.pkl'))
    assert not (tmp_path / 'out.pkl').exists()


def test_smallest_positive_box_is_accepted(tmp_path):
    gt = make_gt()
    gt['gttubes'][VIDEO_A][1][1] = np.array([[3, 10, 20, 10.25, 20.25]],
                                            np.float32)
    path = _save_raw(gt, tmp_path / 'gt.pkl')
    loaded = load_annotations(path)
    np.testing.assert_array_equal(loaded['gttubes'][VIDEO_A][1][1],
                                  [[3, 10, 20, 10.25, 20.25]])


def test_split_video_without_gttubes_entry_is_refused(tmp_path):
    """A listed video whose key is absent from gttubes is a gap in the file,
    not a video without action: the error names the file, the count and the
    first videos with their split."""
    gt = make_gt()
    del gt['gttubes'][VIDEO_B]
    path = _save_raw(gt, tmp_path / 'gt.pkl')
    with pytest.raises(ValueError) as err:
        load_annotations(path)
    assert str(err.value).startswith(
        f"{path}: 1 split video(s) have no gttubes entry, e.g. "
        f"'{VIDEO_B}' (test_videos[0])")
    assert 'an empty dict {} for a video without action' in str(err.value)

    # Many missing videos: all are counted, the first three named.
    gt = make_gt()
    extra = [f'Run/v_Run_g0{i}_c01' for i in range(5)]
    for video in extra:
        gt['nframes'][video] = 4
        gt['resolution'][video] = (32, 40)
    gt['train_videos'][0].extend(extra)
    gt['test_videos'][0].append(extra[0])  # counted once
    with pytest.raises(ValueError, match=r'x\.pkl: 5 split video\(s\)') as err:
        validate_annotations(gt, 'x.pkl')
    for video in extra[:3]:
        assert f"'{video}' (train_videos[0])" in str(err.value)
    assert extra[3] not in str(err.value)


def test_split_video_with_empty_gttubes_entry_is_accepted(tmp_path):
    """An explicit ``{}`` says the video has no action: allowed."""
    gt = make_gt()
    gt['gttubes'][VIDEO_B] = {}
    for suffix in ('.pkl', '.json'):
        path = str(tmp_path / f'gt{suffix}')
        save_annotations(gt, path)
        loaded = load_annotations(path)
        assert loaded['gttubes'][VIDEO_B] == {}
        assert loaded['test_videos'] == [[VIDEO_B]]
