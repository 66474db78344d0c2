"""mmyowo.evaluation.functional.results_io: the results file of ``mim test``
(``FrameMAPMetric(results_file=...)``) is untrusted input of tools/analysis; a
damaged or foreign archive is refused with a ValueError naming the file and the
problem, never a crash inside zipfile / zlib / numpy or a silently wrong
result."""
import io
import re
import zipfile

import numpy as np
import pytest

from mmyowo.evaluation.functional import (load_detection_results, results_io,
                                          save_detection_results)
from mmyowo.evaluation.functional.results_io import ResultsFileError

ROWS = np.array([[0, 1, 0, .9, 10, 20, 30, 40], [1, 2, 1, .5, 1, 2, 3, 4]],
                dtype=np.float64)


def members(**changes):
    """The members the metric writes, with ``changes`` (``None`` drops one)."""
    contents = dict(
        detections=ROWS,
        videos=np.array(['v0', 'v1'], dtype=str),
        class_names=np.array(['a', 'b'], dtype=str),
        ann_file=np.array('gt.pkl', dtype=str),
        split=np.array(0, dtype=np.int64))
    contents.update(changes)
    return {k: v for k, v in contents.items() if v is not None}


def write(tmp_path, allow_pickle=False, **changes):
    path = str(tmp_path / 'results.npz')
    with open(path, 'wb') as f:
        if allow_pickle:
            np.savez(f, **members(**changes))
        else:
            np.savez_compressed(f, **members(**changes))
    return path


def refused(path, match):
    with pytest.raises(ResultsFileError) as info:
        load_detection_results(path)
    message = str(info.value)
    assert message.startswith(f'{path}: ') and message.count(path) == 1
    assert re.search(match, message), message
    return message


def test_round_trip(tmp_path):
    path = str(tmp_path / 'sub' / 'results.npz')
    save_detection_results(path, ROWS, ('v0', 'v1'), ['a', 'b'], 'gt.pkl', 3)
    loaded = load_detection_results(path)
    assert loaded['videos'] == ['v0', 'v1']
    assert loaded['class_names'] == ['a', 'b']
    assert loaded['ann_file'] == 'gt.pkl' and loaded['split'] == 3
    assert type(loaded['split']) is int
    assert loaded['detections'].dtype == np.float64
    np.testing.assert_array_equal(loaded['detections'], ROWS)


def test_round_trip_without_detections(tmp_path):
    path = str(tmp_path / 'results.npz')
    save_detection_results(path, np.zeros((0, 8)), [], ['a'], 'gt.pkl', 0)
    loaded = load_detection_results(path)
    assert loaded['detections'].shape == (0, 8) and loaded['videos'] == []


def deflate_garbage(tmp_path):
    """A zip whose ``detections.npy`` record is not a deflate stream."""
    path = write(tmp_path)
    with zipfile.ZipFile(path) as archive:
        info = archive.getinfo('detections.npy')
    with open(path, 'r+b') as f:
        f.seek(info.header_offset + 26)
        name_len, extra_len = np.frombuffer(f.read(4), '<u2')
        f.seek(info.header_offset + 30 + int(name_len) + int(extra_len))
        # BFINAL=1, BTYPE=11: a reserved block type.
        f.write(b'\xff' * 8)
    return path


def truncated(tmp_path):
    path = write(tmp_path)
    with open(path, 'rb') as f:
        data = f.read()
    with open(path, 'wb') as f:
        f.write(data[:len(data) // 2])
    return path


def bad_crc(tmp_path):
    path = str(tmp_path / 'results.npz')
    buf = io.BytesIO()
    np.savez(buf, **members())  # stored: flip one data byte
    data = bytearray(buf.getvalue())
    data[data.index(b'\x93NUMPY') + 200] ^= 0xFF
    with open(path, 'wb') as f:
        f.write(bytes(data))
    return path


def plain_npy(tmp_path):
    path = str(tmp_path / 'results.npz')
    with open(path, 'wb') as f:
        np.save(f, ROWS)
    return path


def text_file(tmp_path):
    path = tmp_path / 'results.npz'
    path.write_text('not an archive')
    return str(path)


def empty_file(tmp_path):
    path = tmp_path / 'results.npz'
    path.write_bytes(b'')
    return str(path)


def encrypted_flag(tmp_path):
    """A member flagged as encrypted (zipfile raises RuntimeError)."""
    path = str(tmp_path / 'results.npz')
    buf = io.BytesIO()
    np.savez(buf, **members())
    data = bytearray(buf.getvalue())
    # General-purpose flag bit 0 of every local and central header.
    for sig, offset in ((b'PK\x03\x04', 6), (b'PK\x01\x02', 8)):
        start = 0
        while (start := data.find(sig, start)) >= 0:
            data[start + offset] |= 1
            start += 4
    with open(path, 'wb') as f:
        f.write(bytes(data))
    return path


@pytest.mark.parametrize('make, match', [(truncated, 'cannot read'),
                                         (deflate_garbage, 'cannot read'),
                                         (bad_crc, 'cannot read'),
                                         (plain_npy, 'cannot read'),
                                         (text_file, 'cannot read'),
                                         (empty_file, 'cannot read'),
                                         (encrypted_flag, 'encrypted')])
def test_damaged_archives(tmp_path, make, match):
    refused(make(tmp_path), match)


@pytest.mark.parametrize('changes, match', [
    (dict(split=np.array([0, 1])), 'split.*shape'),
    (dict(split=np.array(0.5)), 'split.*dtype'),
    (dict(split=np.array(-1)), 'split.*>= 0'),
    (dict(split=np.array('0')), 'split.*dtype'),
    (dict(ann_file=np.array(['a', 'b'])), 'ann_file.*shape'),
    (dict(ann_file=np.array(1)), 'ann_file.*dtype'),
    (dict(detections=np.zeros((3, 5))), r'detections.*shape \(3, 5\)'),
    (dict(detections=np.zeros(8)), 'detections.*shape'),
    (dict(detections=ROWS.astype(str)), 'detections.*dtype'),
    (dict(detections=ROWS.astype(bool)), 'detections.*dtype'),
    (dict(detections=ROWS.astype(complex)), 'detections.*dtype'),
    (dict(videos=np.array([['v0', 'v1']])), 'videos.*shape'),
    (dict(videos=np.array([0, 1])), 'videos.*dtype'),
    (dict(videos=np.array('v0')), 'videos.*shape'),
    (dict(class_names=np.array([1.0, 2.0])), 'class_names.*dtype'),
    (dict(class_names=None), r"missing \['class_names'\]"),
    (dict(split=None, ann_file=None), 'missing'),
])
def test_wrong_members(tmp_path, changes, match):
    refused(write(tmp_path, **changes), match)


def test_pickled_member(tmp_path):
    videos = np.array(['v0', None], dtype=object)
    refused(write(tmp_path, allow_pickle=True, videos=videos), 'videos.*dtype')


@pytest.mark.parametrize('row, match', [
    ([-1, 1, 0, .9, 0, 0, 1, 1], r'video index outside \[0, 2\)'),
    ([2, 1, 0, .9, 0, 0, 1, 1], r'video index outside \[0, 2\)'),
    ([0, 1, -1, .9, 0, 0, 1, 1], r'label outside \[0, 2\)'),
    ([0, 1, 2, .9, 0, 0, 1, 1], r'label outside \[0, 2\)'),
    ([0, 1, 0, np.nan, 0, 0, 1, 1], 'non-finite'),
    ([0, 1, 0, .9, 0, 0, np.inf, 1], 'non-finite'),
    ([0.5, 1, 0, .9, 0, 0, 1, 1], 'integers'),
    ([0, 0, 0, .9, 0, 0, 1, 1], 'frame numbers start at 1'),
])
def test_bad_rows(tmp_path, row, match):
    detections = np.vstack([ROWS, row])
    message = refused(write(tmp_path, detections=detections), match)
    assert 'row 2' in message


def test_integer_detections_are_read_as_float(tmp_path):
    loaded = load_detection_results(
        write(tmp_path, detections=ROWS.astype(np.int32)))
    assert loaded['detections'].dtype == np.float64


def test_header_larger_than_its_record(tmp_path):
    """A record whose header claims 640 MB is refused before allocating."""
    path = str(tmp_path / 'results.npz')
    with zipfile.ZipFile(path, 'w') as archive:
        for key, value in members().items():
            buf = io.BytesIO()
            if key == 'detections':
                np.lib.format.write_array_header_1_0(
                    buf,
                    dict(descr='<f8', fortran_order=False, shape=(10**7, 8)))
                buf.write(b'\0' * 64)
            else:
                np.save(buf, value)
            archive.writestr(f'{key}.npy', buf.getvalue())
    refused(path, 'detections.*declares 640000000 bytes')


def test_zip_bomb(tmp_path, monkeypatch):
    """Records may declare a bounded multiple of the file size."""
    monkeypatch.setattr(results_io, 'MIN_BUDGET', 1 << 20)
    path = write(tmp_path, detections=np.zeros((1 << 15, 8)))
    refused(path, 'zip bomb')


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match='missing.npz'):
        load_detection_results(str(tmp_path / 'missing.npz'))
