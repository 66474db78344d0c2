"""Tests of tools/analysis/kmeans_anchors.py (IoU k-means anchors)."""
import importlib.util
import os.path as osp
import re
import runpy
import sys

import numpy as np
import pytest
import torch
from mmengine.config import Config
from scipy.io import loadmat

from mmyowo.datasets.annotations import save_annotations
from mmyowo.models.task_modules import MultiLevelTopKAssigner
from .._paths import UCF24_MINI

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
TOOL = osp.join(ROOT, 'tools', 'analysis', 'kmeans_anchors.py')
spec = importlib.util.spec_from_file_location('tool_kmeans_anchors', TOOL)
kmeans = importlib.util.module_from_spec(spec)
spec.loader.exec_module(kmeans)

# Nine well separated (w, h) sizes, listed by increasing area.
PLANTED = np.array([(6, 10), (14, 9), (12, 22), (30, 18), (24, 44), (60, 34),
                    (50, 90), (120, 70), (100, 180)], float)


def brute_force_iou(w1, h1, w2, h2):
    """IoU of two boxes centred at the origin, from their corners."""
    a = (-w1 / 2, -h1 / 2, w1 / 2, h1 / 2)
    b = (-w2 / 2, -h2 / 2, w2 / 2, h2 / 2)
    iw = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    ih = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = iw * ih
    return inter / (w1 * h1 + w2 * h2 - inter)


def test_wh_iou_matches_brute_force():
    rng = np.random.default_rng(0)
    wh = rng.uniform(1, 100, size=(20, 2))
    anchors = rng.uniform(1, 100, size=(7, 2))
    ious = kmeans.wh_iou(wh, anchors)
    expected = [[brute_force_iou(*box, *anchor) for anchor in anchors]
                for box in wh]
    np.testing.assert_allclose(ious, expected, rtol=1e-12)
    assert kmeans.wh_iou([[10, 20]], [[10, 20]])[0, 0] == 1.0


def planted_boxes(seed=0, per_cluster=300, noise=0.05):
    rng = np.random.default_rng(seed)
    jitter = rng.uniform(
        1 - noise, 1 + noise, size=(len(PLANTED), per_cluster, 2))
    return (PLANTED[:, None] * jitter).reshape(-1, 2)


@pytest.mark.parametrize('update', ['median', 'mean'])
def test_kmeans_recovers_planted_clusters(update):
    anchors = kmeans.kmeans_anchors(
        planted_boxes(), k=9, seed=0, update=update)
    # Sorted by area, each fitted anchor lies within the noise of its
    # planted size.
    assert (np.diff(anchors.prod(1)) > 0).all()
    np.testing.assert_allclose(anchors, PLANTED, rtol=0.03)
    # Deterministic for a seed.
    np.testing.assert_array_equal(
        anchors,
        kmeans.kmeans_anchors(planted_boxes(), k=9, seed=0, update=update))


def test_kmeans_duplicates_weigh_like_repeated_boxes():
    # Merging identical sizes keeps their weight: a median of 5 boxes of
    # one size and 1 of another is the frequent size.
    wh = np.array([(10, 10)] * 5 + [(12, 12)] + [(100, 100)] * 2)
    anchors = kmeans.kmeans_anchors(wh, k=2, seed=0)
    np.testing.assert_array_equal(anchors, [(10, 10), (100, 100)])
    assert kmeans.mean_best_iou(wh, anchors) == pytest.approx(
        (5 + 100 / 144 + 2) / 8)


def test_kmeans_rejects_bad_input():
    with pytest.raises(ValueError, match='distinct box sizes'):
        kmeans.kmeans_anchors(np.array([(5, 5)] * 20), k=9)
    with pytest.raises(ValueError, match='positive'):
        kmeans.kmeans_anchors(np.array([(5, 0), (5, 5)]), k=1)
    with pytest.raises(ValueError, match='update'):
        kmeans.kmeans_anchors(planted_boxes(), update='mode')


def test_split_into_levels_sorts_by_area():
    shuffled = PLANTED[[4, 8, 0, 6, 2, 1, 7, 3, 5]] + 0.3
    levels = kmeans.split_into_levels(shuffled, 3)
    assert levels == [[(6, 10), (14, 9), (12, 22)],
                      [(30, 18), (24, 44), (60, 34)],
                      [(50, 90), (120, 70), (100, 180)]]
    with pytest.raises(ValueError, match='equal levels'):
        kmeans.split_into_levels(PLANTED[:8], 3)


def test_positives_histogram_equals_direct_assigner_calls():
    anchors = [[(10, 13), (16, 30), (33, 23)], [(30, 61), (62, 45), (59, 119)],
               [(116, 90), (156, 198), (373, 326)]]
    strides = (8, 16, 32)
    featmaps = kmeans.featmap_sizes_of((224, 224), strides)
    assert featmaps == [(28, 28), (14, 14), (7, 7)]
    rng = np.random.default_rng(1)
    frames = []
    for n in (1, 2, 3, 1, 4):
        xy = rng.uniform(0, 150, size=(n, 2))
        frames.append(
            np.concatenate([xy, xy + rng.uniform(8, 70, size=(n, 2))], 1))
    # Two boxes of one size in one cell: they compete for the same priors.
    frames.append(np.array([[40, 40, 60, 80], [41, 41, 61, 81]], float))
    assigner = MultiLevelTopKAssigner((3, 2, 1))
    counts = kmeans.positives_per_box(frames, assigner, anchors, strides,
                                      featmaps)
    expected = []
    for boxes in frames:
        assigned = assigner.assign(
            torch.tensor(boxes, dtype=torch.float32), anchors, strides,
            featmaps)
        expected += [int((assigned == i + 1).sum()) for i in range(len(boxes))]
    assert counts.tolist() == expected
    # The later of the two identical claims loses every prior.
    assert counts[-2:].tolist() == [expected[-2], 0] and expected[-2] > 0


def test_positives_of_a_box_follow_the_topk_rule():
    # A 20x20 box: the three best anchors by shape IoU are the finest
    # level's (3 positives); a 100x100 box's best anchor is the coarsest
    # level's, its 2nd and 3rd best lie in the middle level, of which only
    # the 2nd counts (top-2): 2 positives.
    anchors = [[(20, 20), (18, 22), (22, 18)], [(70, 70), (60, 60), (40, 40)],
               [(100, 100), (200, 200), (300, 300)]]
    frames = [
        np.array([[0, 0, 20, 20]], float),
        np.array([[0, 0, 100, 100]], float)
    ]
    counts = kmeans.positives_per_box(frames, MultiLevelTopKAssigner(
        (3, 2, 1)), anchors, (8, 16, 32), [(28, 28), (14, 14), (7, 7)])
    assert counts.tolist() == [3, 2]


def tiny_gt():
    """Two training videos at different resolutions and a test video."""
    rng = np.random.default_rng(2)

    def tube(size, n=40):
        h, w = size
        wh = rng.uniform([0.05 * w, 0.05 * h], [0.6 * w, 0.8 * h], size=(n, 2))
        xy = rng.uniform(0, 1, size=(n, 2)) * ([w, h] - wh)
        frames = np.arange(1, n + 1)[:, None]
        return np.concatenate([frames, xy, xy + wh], 1).astype(np.float32)

    return {
        'labels': ['a', 'b'],
        'gttubes': {
            'a/v1': {
                0: [tube((240, 320))]
            },
            'b/v2': {
                1: [tube((112, 112)), tube((112, 112))]
            },
            'a/v3': {
                0: [np.array([[1, 0, 0, 300, 200]], np.float32)]
            }
        },
        'nframes': {
            'a/v1': 40,
            'b/v2': 40,
            'a/v3': 40
        },
        'resolution': {
            'a/v1': (240, 320),
            'b/v2': (112, 112),
            'a/v3': (240, 320)
        },
        'train_videos': [['a/v1', 'b/v2']],
        'test_videos': [['a/v3']],
    }


def test_training_frames_rescale_to_the_input():
    gt = tiny_gt()
    frames = kmeans.training_frames(gt, (224, 160))
    # 40 frames of v1 with one box, 40 of v2 with two; v3 (test) left out.
    assert [len(f) for f in frames] == [1] * 40 + [2] * 40
    np.testing.assert_allclose(
        frames[0][0],
        gt['gttubes']['a/v1'][0][0][0, 1:] *
        [224 / 320, 160 / 240, 224 / 320, 160 / 240],
        rtol=1e-6)
    v2 = gt['gttubes']['b/v2'][1]
    np.testing.assert_allclose(
        frames[40],
        np.stack([v2[0][0, 1:], v2[1][0, 1:]]) * [2, 160 / 112, 2, 160 / 112],
        rtol=1e-6)
    with pytest.raises(ValueError, match='gt.pkl: split 1 does not exist'):
        kmeans.training_frames(gt, (224, 224), split=1, source='gt.pkl')
    gt['train_videos'] = [['c/empty']]
    gt['gttubes']['c/empty'] = {}
    gt['resolution']['c/empty'] = (10, 10)
    with pytest.raises(ValueError, match='have no boxes'):
        kmeans.training_frames(gt, (224, 224))


def test_sample_frames_reaches_the_box_count():
    frames = [np.zeros((n, 4)) for n in (1, 2, 3, 1, 2)]
    taken = kmeans.sample_frames(frames, 4, seed=0)
    total = sum(len(f) for f in taken)
    assert total >= 4 and total - len(taken[-1]) < 4
    assert len(kmeans.sample_frames(frames, 100)) == 5


def test_cli_on_a_tiny_gt_file(tmp_path, capsys, monkeypatch):
    path = str(tmp_path / 'gt.json')
    save_annotations(tiny_gt(), path)
    result = kmeans.main([path, '--num-boxes', '30', '--num-init', '2'])
    levels = result['anchors']
    assert [len(level) for level in levels] == [3, 3, 3]
    areas = [w * h for level in levels for w, h in level]
    assert areas == sorted(areas)
    # The fitted anchors describe these boxes better than COCO's.
    frames = kmeans.training_frames(tiny_gt(), (224, 224))
    wh = np.concatenate(frames)[:, 2:] - np.concatenate(frames)[:, :2]
    best = kmeans.wh_iou(wh, np.concatenate(levels)).max(1).mean()
    assert result['iou_after'] == pytest.approx(best)
    assert result['iou_after'] > result['iou_before']
    # Whole frames: 30 boxes reached with frames of 1 or 2 boxes.
    assert len(result['positives_before']) in (30, 31)
    out = capsys.readouterr().out
    assert 'base_anchors=[[' in out
    assert f'after {result["iou_after"]:.4f}' in out

    # The script runs as a command.
    monkeypatch.setattr(
        sys, 'argv',
        [TOOL, path, '--num-boxes', '10', '--input-size', '128', '128'])
    runpy.run_path(TOOL, run_name='__main__')
    out = capsys.readouterr().out
    assert '128x128 input' in out
    assert 'positives |' in out


def ucf24_split1_training_sizes():
    """``(w, h)`` at 224x224 of every box of the split-1 training videos
    (groups g08-g25), read directly from the fixture's finalAnnots.mat, which
    keeps every entry of these videos (tests/data/make_ucf24_mini.py)."""
    sizes = []
    for entry in loadmat(osp.join(UCF24_MINI, 'finalAnnots.mat'))['annot'][0]:
        group = int(
            re.search(r'_g(\d\d)_c\d\d$', str(entry['name'][0])).group(1))
        if group <= 7 or not entry['tubes'].dtype.names:
            continue
        for tube in entry['tubes'][0]:
            sizes.append(tube['boxes'].astype(np.float64)[:, 2:])
    # Boxes are in 320x240; the input is 224x224 without keeping the ratio.
    return np.concatenate(sizes) * [224 / 320, 224 / 240]


def test_ucf24_config_anchors_fit_the_split1_training_boxes():
    wh = ucf24_split1_training_sizes()
    assert len(wh) == 403282  # the count quoted in the config and README
    configs = osp.join(ROOT, 'configs')
    ucf = Config.fromfile(osp.join(configs, 'yowo_plus_ucf24.py'))
    ucf_8f = Config.fromfile(osp.join(configs, 'yowo_plus_8f_ucf24.py'))
    coco = Config.fromfile(
        osp.join(configs, '_base_', 'models', 'yowo_plus.py'))
    anchors = ucf.model.bbox_head.base_anchors
    assert ucf_8f.model.bbox_head.base_anchors == anchors
    areas = [w * h for level in anchors for w, h in level]
    assert areas == sorted(areas) and len(areas) == 9

    def mean_best(levels):
        flat = np.array([a for level in levels for a in level], float)
        return kmeans.wh_iou(wh, flat).max(1).mean()

    # The numbers of the config comment and the README table.
    assert mean_best(anchors) == pytest.approx(0.805, abs=1e-3)
    assert mean_best(coco.model.bbox_head.base_anchors) == pytest.approx(
        0.600, abs=1e-3)
