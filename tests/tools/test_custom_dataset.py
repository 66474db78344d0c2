"""docs/custom_dataset.md as a user runs it: every ``shell`` block of the page,
in order, from a folder that has the repository's ``configs/`` and ``tools/``
(videos and CSV -> rawframes -> ground truth -> config -> ``mim train`` ->
``mim test`` -> demo)."""
import csv
import os
import os.path as osp
import re
import sys

import cv2
import numpy as np
from mmaction.registry import DATASETS
from mmengine.config import Config
from mmengine.registry import init_default_scope

from mmyowo.datasets.annotations import load_annotations
from .._e2e import REPO, run_command

DOC = osp.join(REPO, 'docs', 'custom_dataset.md')
DATA = osp.join('data', 'my_actions')
WORK = osp.join('work_dirs', 'yowo_plus_my_actions_cpu')


def shell_blocks():
    with open(DOC, encoding='utf-8') as f:
        return re.findall(r'^```shell\n(.*?)^```$', f.read(), re.S | re.M)


def expected_tubes(csv_file):
    """``{video: {label: [tube, ...]}}`` straight from the CSV: one tube per
    (track, label), 0-based frames made 1-based (the doc's CSV has no gaps and
    boxes inside the frames)."""
    with open(csv_file) as f:
        rows = list(csv.DictReader(f))
    with open(osp.join(osp.dirname(csv_file), 'classes.txt')) as f:
        classes = f.read().split()
    tubes = {}
    for row in rows:
        box = [float(row[k]) for k in ('x1', 'y1', 'x2', 'y2')]
        for name in row['label'].split(';'):
            key = (row['video'], classes.index(name), row['track_id'])
            tubes.setdefault(key, []).append([int(row['frame']) + 1, *box])
    out = {}
    for (video, label, _), rows in tubes.items():
        out.setdefault(video,
                       {}).setdefault(label,
                                      []).append(np.array(rows, np.float32))
    return classes, out


def test_walkthrough(tmp_path, monkeypatch):
    blocks = shell_blocks()
    assert len(blocks) == 4
    for name in ('configs', 'tools'):
        os.symlink(osp.join(REPO, name), tmp_path / name)
    # ``python`` and ``mim`` of the doc are the environment's.
    monkeypatch.setenv(
        'PATH',
        osp.dirname(sys.executable) + os.pathsep + os.environ['PATH'])
    out = run_command(['bash', '-euo', 'pipefail', '-c', '\n'.join(blocks)],
                      cwd=tmp_path)

    # The ground truth holds the CSV's tubes; the runner who waves has the
    # identical box in its 'run' and 'wave' tubes.
    gt = load_annotations(
        str(tmp_path / DATA / 'annotations' / 'my_actions_gt.pkl'))
    classes, tubes = expected_tubes(str(tmp_path / DATA / 'annotations.csv'))
    assert gt['labels'] == classes == ['jump', 'run', 'wave']
    assert gt['train_videos'] == [['clip01', 'clip02', 'clip03']]
    assert gt['test_videos'] == [['clip04']]
    assert set(gt['gttubes']) == set(tubes)
    for video, per_label in tubes.items():
        assert gt['nframes'][video] == 24
        assert gt['resolution'][video] == (120, 160)
        assert sorted(gt['gttubes'][video]) == sorted(per_label)
        for label, expected in per_label.items():
            actual = gt['gttubes'][video][label]
            assert len(actual) == len(expected)
            for a, e in zip(actual, expected):
                np.testing.assert_array_equal(a, e)
    run_tube, = gt['gttubes']['clip02'][classes.index('run')]
    wave_tube, = gt['gttubes']['clip02'][classes.index('wave')]
    np.testing.assert_array_equal(run_tube, wave_tube)
    # The report is the one the doc quotes.
    for line in ('boxes: 144', 'multi-label boxes: 24', 'rows: 144',
                 'tubes: 7', 'videos: 4'):
        assert f'  {line}\n' in out
        assert f'`{line}`' in open(DOC, encoding='utf-8').read()

    # The training set of the doc's config merges the runner's identical
    # 'run' and 'wave' boxes into one box with both labels.
    monkeypatch.chdir(tmp_path)
    cfg = Config.fromfile(osp.join(DATA, 'yowo_plus_my_actions_cpu.py'))
    init_default_scope('mmaction')
    dataset = DATASETS.build(
        dict(cfg.train_dataloader.dataset, pipeline=[], key_frame_stride=1))
    (info, ) = [
        dataset.get_data_info(i) for i in range(len(dataset))
        if dataset.get_data_info(i)['video_id'] == 'clip02'
        and dataset.get_data_info(i)['frame_id'] == 1
    ]
    runner = run_tube[0, 1:]
    jumper = gt['gttubes']['clip02'][classes.index('jump')][0][0, 1:]
    assert info['gt_bboxes'].shape == (2, 4)
    multi_hot = {
        tuple(box): tuple(row)
        for box, row in zip(info['gt_bboxes'].tolist(),
                            info['gt_labels'].tolist())
    }
    assert multi_hot == {
        tuple(jumper.tolist()): (1, 0, 0),
        tuple(runner.tolist()): (0, 1, 1)
    }

    # Trained, tested with the video metrics, and the demo wrote every frame.
    assert (tmp_path / WORK / 'epoch_1.pth').is_file()
    assert re.search(
        r'Epoch\(test\).*mAP/frame@0\.5: [0-9.]+.*'
        r'mAP/video@0\.2: [0-9.]+', out)
    capture = cv2.VideoCapture(str(tmp_path / WORK / 'clip04.mp4'))
    frames = 0
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        assert frame.shape == (120, 160, 3)
        frames += 1
    capture.release()
    assert frames == 24
