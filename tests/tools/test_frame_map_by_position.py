"""``tools/analysis/frame_map_by_position.py``: frame-mAP per key-frame
position of the streaming windows, from ``mim test`` results files."""
import json
import os.path as osp
import subprocess
import sys

import numpy as np
import pytest

from mmyowo.datasets.annotations import save_annotations
from mmyowo.evaluation.functional import (frame_map_by_position,
                                          save_detection_results)

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
TOOL = osp.join(ROOT, 'tools', 'analysis', 'frame_map_by_position.py')
BOX = [10, 10, 40, 40]


def make_gt(num_frames=10):
    """One test video, one actor of class 0 on every frame."""
    tube = np.array([[f, *BOX] for f in range(1, num_frames + 1)], float)
    return dict(
        labels=['a', 'b'],
        nframes={
            'v': num_frames,
            'w': 4
        },
        resolution={
            'v': (64, 64),
            'w': (64, 64)
        },
        gttubes={
            'v': {
                0: [tube]
            },
            'w': {}
        },
        train_videos=[['w']],
        test_videos=[['v']])


def detections_on(frames):
    return np.array([[0, f, 0, 0.9, *BOX] for f in frames], float)


def test_positions_score_their_own_frames():
    gt = make_gt()
    # L=4, p=1: positions of frames 1..10 are 0 1 2 3 0 1 2 3 0 1; detect
    # only the frames at positions 0 and 2.
    frames = [1, 3, 5, 7, 9]
    result = frame_map_by_position(detections_on(frames), gt, ['v'], 4)
    assert [p['mAP'] for p in result['positions']] == [1.0, 0.0, 1.0, 0.0]
    assert [p['num_frames'] for p in result['positions']] == [3, 3, 2, 2]
    assert result['all']['mAP'] == pytest.approx(0.5, abs=0.02)
    # p=2: chunks of 4 frames, windows (1, 3), (2, 4), ...; frames 1, 3 sit
    # at positions 0 and 1 of their window.
    result = frame_map_by_position(
        detections_on([1, 2, 5, 6, 9, 10]), gt, ['v'], 2, frame_interval=2)
    assert [p['mAP'] for p in result['positions']] == [1.0, 0.0]
    with pytest.raises(ValueError, match=r'\(n, 8\)'):
        frame_map_by_position(np.zeros((2, 5)), gt, ['v'], 4)


def test_tool_table_from_results_files(tmp_path):
    gt = make_gt()
    ann = str(tmp_path / 'gt.pkl')
    save_annotations(gt, ann)
    paths = {}
    for name, frames in (('streaming', [1, 2, 5, 6, 9,
                                        10]), ('per-frame', range(1, 11))):
        paths[name] = str(tmp_path / f'{name}.npz')
        save_detection_results(paths[name], detections_on(frames), ['v'],
                               gt['labels'], ann, 0)
    out_json = str(tmp_path / 'table.json')
    proc = subprocess.run([
        sys.executable, TOOL, f'per-frame={paths["per-frame"]}',
        paths['streaming'], '--clip-len', '4', '--out', out_json
    ],
                          capture_output=True,
                          text=True,
                          cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert '| key-frame position | evaluated frames | per-frame | ' \
        'streaming |' in lines
    assert '| 0 | 3 | 100.0 | 100.0 |' in lines
    assert '| 2 | 2 | 100.0 | 0.0 |' in lines
    with open(out_json) as f:
        table = json.load(f)
    assert table['clip_len'] == 4 and table['frame_interval'] == 1
    assert table['columns']['streaming']['positions'] == [1.0, 1.0, 0.0, 0.0]
    assert table['columns']['per-frame']['all'] == 1.0


def test_tool_reads_window_settings_from_config(tmp_path):
    gt = make_gt(16)
    ann = str(tmp_path / 'gt.pkl')
    save_annotations(gt, ann)
    path = str(tmp_path / 'r.npz')
    save_detection_results(path, detections_on(range(1, 9)), ['v'],
                           gt['labels'], ann, 0)
    proc = subprocess.run([
        sys.executable, TOOL, path, '--config',
        osp.join(ROOT, 'configs', 'yowo_plus_synthetic.py')
    ],
                          capture_output=True,
                          text=True,
                          cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    assert 'L=8, p=1' in proc.stdout
    assert '| 7 | 2 | 50.0 |' in proc.stdout.splitlines()
