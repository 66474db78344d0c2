"""tools/analysis/eval_tracking.py and mmyowo.tracking.evaluation: identity
metrics (py-motmetrics) and online vs offline video-mAP on saved detections."""
import importlib.util
import json
import os.path as osp

import numpy as np
import pytest

from mmyowo.datasets.annotations import load_annotations, save_annotations
from mmyowo.evaluation.functional import (load_detection_results,
                                          save_detection_results)
from mmyowo.tracking.evaluation import evaluate_tracking, group_detections

TOOL = osp.join(
    osp.dirname(__file__), '..', '..', 'tools', 'analysis', 'eval_tracking.py')


def load_tool():
    spec = importlib.util.spec_from_file_location('eval_tracking_tool', TOOL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


NAMES = ['move_left', 'move_right']
NFRAMES = 40


def crossing_gt():
    """Two actors crossing (boxes overlapping mid-way), both annotated on every
    frame."""
    f = np.arange(1, NFRAMES + 1, dtype=np.float32)[:, None]
    xa, xb = 10 + 5 * f, 210 - 5 * f
    a = np.hstack([f, xa, 50 + 0 * f, xa + 40, 150 + 0 * f])
    b = np.hstack([f, xb, 60 + 0 * f, xb + 40, 160 + 0 * f])
    return {
        'labels': NAMES,
        'gttubes': {
            'v': {
                0: [a],
                1: [b]
            }
        },
        'nframes': {
            'v': NFRAMES
        },
        'resolution': {
            'v': (240, 320)
        },
        'train_videos': [[]],
        'test_videos': [['v']]
    }


def detections(gt, swap_after=None):
    """Rows of a perfect detector; ``swap_after``: from that frame on, the two
    actors' class scores are swapped (a detector confusing them)."""
    rows = []
    for label, (tube, ) in gt['gttubes']['v'].items():
        for row in tube:
            frame = int(row[0])
            lab = 1 - label if swap_after and frame > swap_after else label
            rows.append([0, frame, lab, 0.9, *row[1:5]])
            rows.append([0, frame, 1 - lab, 0.05, *row[1:5]])
    return np.array(rows)


@pytest.fixture
def files(tmp_path):
    gt = crossing_gt()
    ann = str(tmp_path / 'gt.pkl')
    save_annotations(gt, ann)
    tracks = tmp_path / 'synthetic_tracks.json'
    tracks.write_text(json.dumps({'v': {'0': [3], '1': [7]}}))
    res = str(tmp_path / 'results.npz')
    save_detection_results(res, detections(gt), ['v'], NAMES, ann, 0)
    return tmp_path, ann, res


def test_group_detections():
    grouped = group_detections(detections(crossing_gt()), 1, 2)[0]
    boxes, scores = grouped[1]
    assert boxes.shape == (2, 4) and np.allclose(
        sorted(scores.max(axis=1)), [0.9, 0.9])


def test_perfect_tracking_of_crossing_actors(files, capsys):
    tmp_path, ann, res = files
    out = str(tmp_path / 'metrics.json')
    tool = load_tool()
    metrics = tool.main([res, '--out', out])
    assert metrics['IDF1'] == pytest.approx(1.0)
    assert metrics['ID switches'] == 0
    assert metrics['MOTA'] == pytest.approx(1.0)
    assert metrics['labelled recall'] == metrics['labelled precision'] == 1
    assert metrics['labelled recall, inside actions'] == 1
    for protocol in ('yowo', 'st'):
        assert metrics[f'online video-mAP@0.5 ({protocol})'] == pytest.approx(
            1.0)
        assert metrics[f'offline video-mAP@0.5 ({protocol})'] == (
            pytest.approx(1.0))
    assert 'synthetic_tracks.json' in metrics['identities']
    assert json.load(open(out))['IDF1'] == pytest.approx(1.0)
    assert 'IDF1' in capsys.readouterr().out


def test_label_swap_splits_the_online_tubes(files):
    """A detector that swaps the actors' actions after frame 12: the
    identities stay (tracking is class-agnostic), the online tubes end and
    restart, and none of them covers half of its ground-truth tube with the
    right class: the online video-AP drops to 0."""
    tmp_path, ann, _ = files
    gt = crossing_gt()
    res = str(tmp_path / 'swapped.npz')
    save_detection_results(res, detections(gt, swap_after=12), ['v'], NAMES,
                           ann, 0)
    tool = load_tool()
    metrics = tool.main([res])
    assert metrics['IDF1'] == pytest.approx(1.0)
    assert metrics['online tubes'] == 4
    assert metrics['online video-mAP@0.5 (yowo)'] == 0.0
    assert metrics['online video-mAP@0.5 (st)'] == 0.0


def test_labelled_coverage_bounds_the_identity_metrics(files):
    """Actor b's detections score under the threshold on frames 21-40 and a
    spurious labelled box appears on frames 1-10: labelled recall 60/80,
    precision 60/70, and IDR / IDP cannot exceed them. Split by position
    (first / last 3 frames of each 40-frame tube): at the boundaries a's 6
    boxes and b's frames 1-3 are found (9/12), inside a's 34 and b's frames
    4-20 (51/68)."""
    tmp_path, ann, _ = files
    rows = detections(crossing_gt())
    rows[(rows[:, 2] == 1) & (rows[:, 1] > 20), 3] = 0.1
    extra = [[0, f, 0, 0.8, 250, 10, 300, 60] for f in range(1, 11)]
    res = str(tmp_path / 'partial.npz')
    save_detection_results(res, np.vstack([rows, extra]), ['v'], NAMES, ann, 0)
    metrics = load_tool().main([res])
    assert metrics['labelled recall'] == pytest.approx(60 / 80)
    assert metrics['labelled precision'] == pytest.approx(60 / 70)
    assert metrics['labelled recall, first/last 3 frames of actions'] == (
        pytest.approx(9 / 12))
    assert metrics['labelled recall, inside actions'] == pytest.approx(51 / 68)
    assert metrics['IDR'] <= metrics['labelled recall'] + 1e-9
    assert metrics['IDP'] <= metrics['labelled precision'] + 1e-9


def test_offline_protocols_on_an_action_covering_part_of_the_video(tmp_path):
    """One actor annotated on frames 11-25 of 40, detected perfectly there and
    nowhere else.

    The YOWO protocol's offline tubes span the whole video (frames without a
    detection borrow their neighbour's): temporal IoU 15/40 < 0.5, AP 0. The
    'st' linker trims its tube to frames 11-25: AP 1, as the online tube
    (started and ended by the events) under both matchings.
    """
    gt = crossing_gt()
    a = gt['gttubes']['v'][0][0]
    gt['gttubes']['v'] = {0: [a[10:25]]}
    ann = str(tmp_path / 'gt.pkl')
    save_annotations(gt, ann)
    rows = [[0, row[0], 0, 0.9, *row[1:5]] for row in a[10:25]]
    res = str(tmp_path / 'part.npz')
    save_detection_results(res, np.array(rows), ['v'], NAMES, ann, 0)
    metrics = load_tool().main([res, '--edge-frames', '2'])
    assert metrics['offline video-mAP@0.5 (yowo)'] == 0.0
    assert metrics['offline video-mAP@0.5 (st)'] == pytest.approx(1.0)
    assert metrics['online video-mAP@0.5 (yowo)'] == pytest.approx(1.0)
    assert metrics['online video-mAP@0.5 (st)'] == pytest.approx(1.0)
    assert metrics['offline tubes (st)'] == 1
    assert metrics['labelled recall, first/last 2 frames of actions'] == 1


def test_false_positives_split_by_action_boundary(tmp_path):
    """One actor annotated on frames 11-25 of 40 and detected there, plus
    labelled boxes where it rests: on its first box on frames 7-10 (8-10 are
    within 3 frames before the action, 7 is not), on its last box on frames
    26, 27 and 29 (within 3 frames after it, 29 is not), 30 px off its last
    box on frames 28 and 30 (IoU < 0.5: elsewhere), and one unlabelled box
    on frame 26 (not counted). With a 4-frame window, 7 and 29 join."""
    gt = crossing_gt()
    a = gt['gttubes']['v'][0][0]
    gt['gttubes']['v'] = {0: [a[10:25]]}
    ann = str(tmp_path / 'gt.pkl')
    save_annotations(gt, ann)
    first, last = a[10, 1:5], a[24, 1:5]
    rows = [[0, row[0], 0, 0.9, *row[1:5]] for row in a[10:25]]
    rows += [[0, f, 0, 0.9, *first] for f in (7, 8, 9, 10)]
    rows += [[0, f, 1, 0.8, *last] for f in (26, 27, 29)]
    rows += [[0, f, 0, 0.9, *(last + [30, 0, 30, 0])] for f in (28, 30)]
    rows += [[0, 26, 0, 0.1, *(first - 100)]]
    res = str(tmp_path / 'rest.npz')
    save_detection_results(res, np.array(rows), ['v'], NAMES, ann, 0)
    metrics = load_tool().main([res])
    assert metrics['labelled recall'] == 1
    assert metrics['labelled precision'] == pytest.approx(15 / 24)
    assert metrics['labelled false positives'] == 9
    assert metrics['labelled false positives, 3 frames before actions'] == 3
    assert metrics['labelled false positives, 3 frames after actions'] == 2
    metrics = load_tool().main([res, '--edge-frames', '4'])
    assert metrics['labelled false positives'] == 9
    assert metrics['labelled false positives, 4 frames before actions'] == 4
    assert metrics['labelled false positives, 4 frames after actions'] == 3


@pytest.mark.parametrize('kwargs, match', [
    (dict(protocols=('yowo', 'act')), 'protocols'),
    (dict(protocols=()), 'protocols'),
    (dict(edge_frames=0), 'edge_frames'),
])
def test_evaluate_tracking_rejects_bad_options(files, kwargs, match):
    _, ann, res = files
    with pytest.raises(ValueError, match=match):
        evaluate_tracking(
            load_detection_results(res), load_annotations(ann), **kwargs)


def results_dict(rows, **changes):
    """What ``load_detection_results`` returns, built by a direct caller."""
    results = dict(
        detections=np.array(rows, dtype=np.float64),
        videos=['v'],
        class_names=list(NAMES),
        ann_file='gt.pkl',
        split=0)
    results.update(changes)
    return {k: v for k, v in results.items() if v is not None}


GOOD_ROW = [0, 1, 0, .9, 15, 50, 55, 150]


@pytest.mark.parametrize(
    'rows, match',
    [
        # Negative indices used to wrap around to the last video / class;
        # too large ones raised IndexError deep in the grouping.
        ([GOOD_ROW, [-1, 2, 0, .9, 15, 50, 55, 150]
          ], r'row 1 .*video index outside \[0, 1\)'),
        ([GOOD_ROW, [1, 2, 0, .9, 15, 50, 55, 150]
          ], r'row 1 .*video index outside \[0, 1\)'),
        ([GOOD_ROW, [0, 2, -1, .9, 15, 50, 55, 150]
          ], r'row 1 .*label outside \[0, 2\)'),
        ([GOOD_ROW, [0, 2, 2, .9, 15, 50, 55, 150]
          ], r'row 1 .*label outside \[0, 2\)'),
        ([GOOD_ROW, [0, 2, 0, np.nan, 15, 50, 55, 150]], 'non-finite'),
        ([GOOD_ROW, [0, NFRAMES + 1, 0, .9, 15, 50, 55, 150]
          ], f'beyond the {NFRAMES} frames'),
        ([[0, 1, 0, .9, 15]], r'\(n, 8\) array'),
    ])
def test_evaluate_tracking_checks_rows_before_tracking(rows, match,
                                                       monkeypatch):
    # The offline linking refused some of these rows too, but only after
    # every video had been tracked.

    def no_tracking(*args, **kwargs):
        raise AssertionError('tracked before the rows were checked')

    from mmyowo.tracking import evaluation
    monkeypatch.setattr(evaluation, 'track_video', no_tracking)
    with pytest.raises(ValueError, match=match):
        evaluate_tracking(results_dict(rows), crossing_gt())


@pytest.mark.parametrize('changes, match', [
    (dict(detections=None), r"missing \['detections'\]"),
    (dict(videos='v'), 'videos must be a list of str'),
    (dict(videos=[0]), 'videos must be a list of str'),
    (dict(class_names='ab'), 'class_names must be a list of str'),
    (dict(class_names=[b'a', b'b']), 'class_names must be a list of str'),
])
def test_evaluate_tracking_checks_the_results_dict(changes, match):
    with pytest.raises(ValueError, match=match):
        evaluate_tracking(results_dict([GOOD_ROW], **changes), crossing_gt())


def test_evaluate_tracking_refuses_a_non_dict():
    with pytest.raises(ValueError, match='results must be a dict'):
        evaluate_tracking([GOOD_ROW], crossing_gt())


@pytest.mark.parametrize('row, match', [
    ([-1, 1, 0, .9, 15, 50, 55, 150], 'video index outside'),
    ([0, 1, -1, .9, 15, 50, 55, 150], 'label outside'),
    ([0, 1, 2, .9, 15, 50, 55, 150], 'label outside'),
    ([0, 1, 0, np.inf, 15, 50, 55, 150], 'non-finite'),
])
def test_group_detections_checks_rows(row, match):
    with pytest.raises(ValueError, match=match):
        group_detections(np.array([row]), 1, 2)


@pytest.mark.parametrize('content, match', [
    ('{"v": ', 'invalid JSON'),
    ('[' * 100000, 'invalid JSON'),
    ('[3, 7]', 'got a list'),
    ('{"w": {"0": [3]}}', "video 'w' has no ground-truth"),
    ('{"v": [3]}', 'got a list'),
    ('{"v": {"2": [3]}}', "label '2' has no ground-truth"),
    ('{"v": {"x": [3]}}', "label 'x'"),
    ('{"v": {"0": [3, 4]}}', '2 track ids for 1 tubes'),
    ('{"v": {"0": ["3"]}}', 'non-negative integer'),
    ('{"v": {"0": [true]}}', 'non-negative integer'),
    ('{"v": {"0": [-1]}}', 'non-negative integer'),
    ('{"v": {"0": [3], "1": [3]}}', 'track id 3 is on two boxes of frame 1'),
])
def test_bad_track_id_files_are_refused(files, content, match):
    """The track-id file is input like any annotation file: a clear error
    naming it, never a crash inside the metrics."""
    tmp_path, _, res = files
    bad = tmp_path / 'bad_tracks.json'
    bad.write_text(content)
    with pytest.raises(ValueError, match=match) as info:
        load_tool().main([res, '--tracks-file', str(bad)])
    assert str(bad) in str(info.value)


def test_one_actor_may_carry_two_tubes(files):
    """An actor doing one action, then another (two tubes, one id, no common
    frame) is one identity: switching action is no ID switch."""
    tmp_path, ann, _ = files
    gt = crossing_gt()
    a = gt['gttubes']['v'][0][0]
    gt['gttubes']['v'] = {0: [a[:20]], 1: [a[20:]]}
    ann = str(tmp_path / 'one_actor.pkl')
    save_annotations(gt, ann)
    tracks = tmp_path / 'one_actor.json'
    tracks.write_text(json.dumps({'v': {'0': [5], '1': [5]}}))
    rows = [[0, row[0], int(row[0] > 20), 0.9, *row[1:5]] for row in a]
    res = str(tmp_path / 'one_actor.npz')
    save_detection_results(res, np.array(rows), ['v'], NAMES, ann, 0)
    metrics = load_tool().main([res, '--tracks-file', str(tracks)])
    assert metrics['IDF1'] == pytest.approx(1.0)
    assert metrics['ID switches'] == 0
