"""Shared by the convert_csv tests: real rawframe folders of two videos, a
class list and split lists, and a runner of the tool."""
import os.path as osp

import cv2
import numpy as np
import pytest

from mmyowo.datasets.annotations import load_annotations
from mmyowo.preparation.csv_annotations import CSVAnnotationError
from .test_data_converters import load_tool

convert_csv = load_tool('convert_csv')

CLASSES = ['run', 'jump', 'wave']
# (frames, height, width) of the two videos on disk.
MEDIA = {'cam1/a': (5, 40, 60), 'b': (4, 30, 50)}
HEADER = 'video,frame,x1,y1,x2,y2,label'


def make_csv_media(root):
    """Write rawframes of the two videos of :data:`MEDIA`, the class list and
    the split lists below ``root``; return ``root``."""
    for video, (num, h, w) in MEDIA.items():
        folder = root / 'frames' / video
        folder.mkdir(parents=True)
        for i in range(1, num + 1):
            cv2.imwrite(
                str(folder / f'{i:05d}.jpg'),
                np.full((h, w, 3), 50 * i, np.uint8))
    (root / 'classes.txt').write_text('\n'.join(CLASSES) + '\n')
    (root / 'train.txt').write_text('cam1/a\n')
    (root / 'test.txt').write_text('b\n')
    return root


def run(root,
        lines,
        *flags,
        frame_base='1',
        coords='pixel',
        header=HEADER,
        splits=('--train-list', 'train.txt', '--test-list', 'test.txt')):
    """Write the CSV and convert it with the given flags; return the GT loaded
    back from the written file."""
    csv = root / 'ann.csv'
    csv.write_text('\n'.join([header] + list(lines)) + '\n')
    out = root / 'gt.pkl'
    if out.exists():
        out.unlink()
    argv = [
        str(csv), '--out',
        str(out), '--classes',
        str(root / 'classes.txt'), '--frame-base', frame_base, '--coords',
        coords, '--frames-root',
        str(root / 'frames')
    ]
    argv += [str(root / s) if s.endswith('.txt') else s for s in splits]
    convert_csv.main(argv + list(flags))
    return load_annotations(str(out))


def problems(root, lines, *flags, **kwargs):
    """The problems the conversion reports (nothing may be written).

    Problems of the values themselves are reported together, before the media
    are read; those that need the media (frame counts and sizes, repeated
    boxes) together after.
    """
    with pytest.raises(CSVAnnotationError) as info:
        run(root, lines, *flags, **kwargs)
    assert not osp.exists(root / 'gt.pkl')
    return info.value.problems


def tube(*rows):
    return np.array(rows, dtype=np.float32)


def assert_tubes(actual, expected):
    assert sorted(actual) == sorted(expected)
    for label in expected:
        assert len(actual[label]) == len(expected[label]), label
        for a, e in zip(actual[label], expected[label]):
            np.testing.assert_array_equal(a, e)
