"""Confusion matrix counts on a hand-made case, and the plots tool writing
valid PNG files from a results file."""
import json
import os.path as osp
import runpy
import sys

import numpy as np
import pytest

from mmyowo.evaluation.functional import (detection_confusion_matrix,
                                          save_detection_results)
from mmyowo.visualization.result_plots import (normalize_confusion_matrix,
                                               plot_class_ap,
                                               plot_confusion_matrix)
from ._synthetic import empty_gt, moving_tube

PNG_HEADER = b'\x89PNG\r\n\x1a\n'
TOOL = osp.join(
    osp.dirname(__file__), '..', '..', 'tools', 'analysis', 'plot_results.py')
A, B = [10., 10., 60., 90.], [200., 100., 260., 180.]


def hand_gt():
    """v0: class 0 at A and class 1 at B on frame 1, class 0 at A on frame
    2; class 1 at B on frame 3."""
    gt = empty_gt(['a/v0'], num_classes=3, nframes=4)
    gt['gttubes']['a/v0'] = {
        0: [np.array([[1, *A], [2, *A]])],
        1: [np.array([[1, *B]]), np.array([[3, *B]])],
    }
    return gt


def test_confusion_matrix_hand_case():
    gt = hand_gt()
    shifted_a = [10., 10., 60., 50.]  # IoU 0.5 with A
    off_b = [230., 100., 290., 180.]  # IoU 1/3 with B
    dets = np.array([
        # Frame 1, A: the class-1 box outranks the class-0 one -> 1.
        [0, 1, 1, 0.9, *A],
        [0, 1, 0, 0.6, *A],
        # Frame 1, B: only a low-score detection -> missed.
        [0, 1, 1, 0.4, *B],
        # Frame 2, A: overlapped 0.5 >= 0.4 by a class-0 box -> 0; a
        # higher-score box on another frame does not count.
        [0, 2, 0, 0.7, *shifted_a],
        [0, 4, 2, 0.99, *A],
        # Frame 3, B: overlap 1/3 < 0.4 -> missed.
        [0, 3, 1, 0.8, *off_b],
    ])
    matrix = detection_confusion_matrix(dets, gt, ['a/v0'])
    np.testing.assert_array_equal(matrix,
                                  [[1, 1, 0, 0], [0, 0, 0, 2], [0, 0, 0, 0]])
    # Lower thresholds recover the missed boxes.
    loose = detection_confusion_matrix(
        dets, gt, ['a/v0'], score_thr=0.3, iou_thr=0.3)
    np.testing.assert_array_equal(loose[1], [0, 2, 0, 0])
    rates = normalize_confusion_matrix(matrix)
    np.testing.assert_allclose(rates[0], [.5, .5, 0, 0])
    np.testing.assert_allclose(rates[2], [0, 0, 0, 0])


def assert_png(path):
    assert osp.getsize(path) > 1000
    with open(path, 'rb') as f:
        assert f.read(8) == PNG_HEADER


def test_plot_results_tool(tmp_path, monkeypatch):
    rng = np.random.default_rng(0)
    gt = empty_gt(['a/v0', 'a/v1'], num_classes=3, nframes=10)
    gt['gttubes']['a/v0'][0] = [moving_tube(np.arange(1, 11), 10, 20)]
    gt['gttubes']['a/v1'][1] = [moving_tube(np.arange(2, 9), 100, 50)]
    rows = []
    for index, video in enumerate(['a/v0', 'a/v1']):
        for label, tubes in gt['gttubes'][video].items():
            for row in tubes[0]:
                rows += [[
                    index, row[0], c,
                    rng.uniform(0.3, 1) if c == label else rng.uniform(0, 0.6),
                    *row[1:]
                ] for c in range(3)]
    as_json = dict(gt)
    as_json['gttubes'] = {
        v: {
            str(k): [t.tolist() for t in ts]
            for k, ts in d.items()
        }
        for v, d in gt['gttubes'].items()
    }
    ann_file = tmp_path / 'gt.json'
    ann_file.write_text(json.dumps(as_json))
    results = str(tmp_path / 'results.npz')
    save_detection_results(results, np.array(rows), ['a/v0', 'a/v1'],
                           gt['labels'], str(ann_file), 0)
    out_dir = tmp_path / 'plots'
    monkeypatch.setattr(
        sys, 'argv', ['plot_results.py', results, '--out-dir',
                      str(out_dir)])
    runpy.run_path(TOOL, run_name='__main__')
    for name in ('class_ap.png', 'pr_curves.png', 'confusion_matrix.png'):
        assert_png(out_dir / name)


def test_plot_functions_check_shapes(tmp_path):
    with pytest.raises(ValueError, match='2 APs for 3 classes'):
        plot_class_ap(np.ones(2), ['a', 'b', 'c'], str(tmp_path / 'x.png'))
    with pytest.raises(ValueError, match=r'must be \(2, 3\)'):
        plot_confusion_matrix(
            np.ones((2, 2)), ['a', 'b'], str(tmp_path / 'y.png'))
    plot_class_ap(
        np.array([0.5, np.nan]), ['a', 'b'], str(tmp_path / 'nan.png'))
    assert_png(tmp_path / 'nan.png')


def test_plot_results_tool_defaults_to_the_metric_protocol(tmp_path, capsys):
    """The tool's frame-mAP uses FrameMAPMetric's defaults (YOWO family: +1
    pixels, rounded corners); a box with IoU 0.44 continuous, 0.5 theirs, shows
    the difference."""
    gt = empty_gt(['a/v0'], num_classes=1, nframes=1)
    as_json = dict(gt, gttubes={'a/v0': {'0': [[[1, 0., 0., 9., 9.]]]}})
    ann_file = tmp_path / 'gt.json'
    ann_file.write_text(json.dumps(as_json))
    results = str(tmp_path / 'results.npz')
    save_detection_results(results, np.array([[0, 1, 0, .9, .4, 0, 9, 3.6]]),
                           ['a/v0'], gt['labels'], str(ann_file), 0)
    tool = runpy.run_path(TOOL)
    tool['main']([results, '--out-dir', str(tmp_path / 'yowo')])
    assert 'frame-mAP@0.5 (annotated): 100.00%' in capsys.readouterr().out
    tool['main']([
        results, '--out-dir',
        str(tmp_path / 'continuous'), '--no-pixel-plus-one', '--no-round-boxes'
    ])
    assert 'frame-mAP@0.5 (annotated): 0.00%' in capsys.readouterr().out
