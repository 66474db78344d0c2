"""tools/data/convert_csv.py: a plain CSV of person boxes to canonical GT.

The media are real rawframe folders (or a video) written here, so frame counts
and sizes come from disk as in a user's run; the expected tubes are written out
by hand from the CSV rows.
"""
import cv2
import numpy as np
import pytest

from mmyowo.datasets.annotations import load_annotations
from ._csv_media import (CLASSES, HEADER, MEDIA, assert_tubes, convert_csv,
                         problems, run, tube)


def test_multi_label_rows_become_identical_boxes(csv_root, capsys):
    """'run;jump' in one row and the same box given in two rows both give one
    tube per label with the identical box on each frame."""
    gt = run(csv_root, [
        'cam1/a,1,2,3,20,30,run;jump', 'cam1/a,2,4,3,22,30,run',
        'cam1/a,2,4,3,22,30,jump', 'b,3,10,5,40,25,wave'
    ])
    box1, box2 = [1, 2, 3, 20, 30], [2, 4, 3, 22, 30]
    assert_tubes(gt['gttubes']['cam1/a'], {
        0: [tube(box1, box2)],
        1: [tube(box1, box2)]
    })
    assert_tubes(gt['gttubes']['b'], {2: [tube([3, 10, 5, 40, 25])]})
    assert gt['labels'] == CLASSES
    assert gt['nframes'] == {'cam1/a': 5, 'b': 4}
    assert gt['resolution'] == {'cam1/a': (40, 60), 'b': (30, 50)}
    assert gt['train_videos'] == [['cam1/a']]
    assert gt['test_videos'] == [['b']]
    report = capsys.readouterr().out
    for line in ('rows: 4', 'boxes: 3', 'multi-label boxes: 2', 'tubes: 3',
                 'videos: 2'):
        assert f'  {line}\n' in report


@pytest.mark.parametrize('coords,frame_base,label_flags', [
    ('pixel', '1', ()),
    ('normalized', '1', ()),
    ('pixel', '0', ()),
    ('pixel', '1', ('--label-by', 'index', '--index-base', '0')),
    ('normalized', '0', ('--label-by', 'index', '--index-base', '1')),
])
def test_declared_conventions_give_the_same_gt(csv_root, coords, frame_base,
                                               label_flags):
    """The same boxes written with every declared convention."""
    rows = [('cam1/a', 2, (6, 8, 30, 36), 'jump'),
            ('cam1/a', 5, (0, 0, 60, 40), 'wave'),
            ('b', 1, (5, 3, 25, 27), 'run')]
    lines = []
    for video, frame, box, label in rows:
        h, w = MEDIA[video][1:]
        if coords == 'normalized':
            box = (box[0] / w, box[1] / h, box[2] / w, box[3] / h)
        if label_flags:
            label = CLASSES.index(label) + int(label_flags[-1])
        frame = frame - 1 + int(frame_base)
        lines.append(f'{video},{frame},{",".join(map(repr, box))},{label}')
    gt = run(
        csv_root, lines, *label_flags, coords=coords, frame_base=frame_base)
    assert_tubes(gt['gttubes']['cam1/a'], {
        1: [tube([2, 6, 8, 30, 36])],
        2: [tube([5, 0, 0, 60, 40])]
    })
    # Normalised coordinates are multiplied out in float64: equal to the
    # pixel values within float32 rounding.
    assert_tubes(gt['gttubes']['b'], {0: [tube([1, 5, 3, 25, 27])]})


def test_tubes_by_track_and_gap(csv_root):
    """Tracks: one tube per (track, label); a gap over --max-gap splits."""
    lines = [
        'cam1/a,1,0,0,10,10,run,p1', 'cam1/a,1,20,0,30,10,run,p2',
        'cam1/a,2,1,0,11,10,run,p1', 'cam1/a,2,21,0,31,10,run,p2',
        'cam1/a,4,2,0,12,10,run,p1', 'cam1/a,4,22,0,32,10,run;wave,p2'
    ]
    header = HEADER + ',track_id'
    gt = run(csv_root, lines, header=header)
    p1 = [[1, 0, 0, 10, 10], [2, 1, 0, 11, 10], [4, 2, 0, 12, 10]]
    p2 = [[1, 20, 0, 30, 10], [2, 21, 0, 31, 10], [4, 22, 0, 32, 10]]
    assert_tubes(
        gt['gttubes']['cam1/a'], {
            0: [tube(*p1[:2]),
                tube(p1[2]),
                tube(*p2[:2]),
                tube(p2[2])],
            2: [tube(p2[2])]
        })
    gt = run(csv_root, lines, '--max-gap', '1', header=header)
    assert_tubes(gt['gttubes']['cam1/a'], {
        0: [tube(*p1), tube(*p2)],
        2: [tube(p2[2])]
    })
    # A listed video without rows is a video without action.
    assert gt['gttubes']['b'] == {}


def test_split_column(csv_root):
    gt = run(
        csv_root, ['cam1/a,1,0,0,10,10,run,train', 'b,1,0,0,10,10,run,test'],
        header=HEADER + ',split',
        splits=('--split-column', 'split'))
    assert gt['train_videos'] == [['cam1/a']]
    assert gt['test_videos'] == [['b']]
    found = problems(
        csv_root, ['b,1,0,0,10,10,run,test', 'b,2,0,0,10,10,run,train'],
        header=HEADER + ',split',
        splits=('--split-column', 'split'))
    assert found == [
        "row 3: split 'train' for video 'b', which row 2 puts "
        "in 'test' (all rows of a video belong to one split)"
    ]


def test_videos_and_splits(csv_root):
    assert problems(csv_root, ['c,1,0,0,10,10,run', 'c,2,0,0,10,10,run']) == [
        "row 2: video 'c' is in no split list (every video of the CSV must "
        'be in one)'
    ]
    (csv_root / 'test.txt').write_text('b\nmissing\n')
    with pytest.raises(
            FileNotFoundError,
            match=r"1 video\(s\) of the splits not found as "
            r"rawframe folders below .*frames, e\.g\. "
            r"\['missing'\]"):
        run(csv_root, ['b,1,0,0,10,10,run'])
    with pytest.raises(SystemExit):
        convert_csv.parse_args([
            'x.csv', '--out', 'o.pkl', '--classes', 'c', '--frame-base', '1',
            '--coords', 'pixel', '--frames-root', 'f', '--split-column', 's',
            '--label-by', 'index'
        ])


def test_videos_root(csv_root):
    """Frame counts and sizes decoded from a video file."""
    writer = cv2.VideoWriter(
        str(csv_root / 'b.avi'), cv2.VideoWriter_fourcc(*'MJPG'), 5, (48, 32))
    for i in range(6):
        writer.write(np.full((32, 48, 3), 30 * i, np.uint8))
    writer.release()
    (csv_root / 'all.txt').write_text('b\n')
    (csv_root / 'none.txt').write_text('')  # a video is in one split only
    csv = csv_root / 'ann.csv'
    csv.write_text(f'{HEADER}\nb,5,0,0,48,32,wave\n')
    convert_csv.main([
        str(csv), '--out',
        str(csv_root / 'v.json'), '--classes',
        str(csv_root / 'classes.txt'), '--frame-base', '0', '--coords',
        'pixel', '--videos-root',
        str(csv_root), '--video-ext', '.avi', '--train-list',
        str(csv_root / 'all.txt'), '--test-list',
        str(csv_root / 'none.txt')
    ])
    gt = load_annotations(str(csv_root / 'v.json'))
    assert gt['nframes'] == {'b': 6} and gt['resolution'] == {'b': (32, 48)}
    assert_tubes(gt['gttubes']['b'], {2: [tube([6, 0, 0, 48, 32])]})
