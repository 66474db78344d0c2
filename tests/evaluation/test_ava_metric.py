"""AVA frame-mAP: YOWOAVAMetric and the functions under it, against APs
computed by hand on small hand-made cases."""
import os
import re

import numpy as np
import pytest
import torch
from mmaction.evaluation.functional import ava_utils
from mmaction.evaluation.functional.ava_evaluation import metrics
from mmaction.structures import ActionDataSample
from mmengine.structures import InstanceData

from mmyowo.datasets.ava_files import AVAFileError
from mmyowo.evaluation.functional import (ava_eval_mmaction, ava_frame_map,
                                          numpy_aliases, read_ava_detections)
from mmyowo.evaluation.metrics import YOWOAVAMetric

# Frames of 200 (w) x 100 (h) pixels: a swap of width and height in the
# normalisation would move every box.
H, W = 100, 200
# Key frame -> [(normalised xyxy, [action ids])]; person "a" of v1,0902
# does actions 1 and 2 at once (one box, two rows in the CSV).
GT = {
    ('v1', 902): [((0.1, 0.1, 0.4, 0.9), [1, 2]), ((0.5, 0.2, 0.9, 0.8), [1])],
    ('v1', 903): [((0.2, 0.1, 0.5, 0.9), [2])],
    ('v2', 902): [((0.3, 0.3, 0.6, 0.7), [1, 3])],
    # Excluded below: its rows are ground truth nobody may count.
    ('v2', 903): [((0.3, 0.3, 0.6, 0.7), [2])],
}
EXCLUDED = [('v2', 903)]
# Evaluated: ids 1 and 2 (3 is trained only, like AVA's 80 vs 60).
EVALUATED = {1: 'stand', 2: 'talk'}
ALL = {1: 'stand', 2: 'talk', 3: 'wave'}
NUM_CLASSES = 4  # 3 actions + background column


def write_files(root):
    gt = root / 'gt.csv'
    lines = []
    for (video, ts), persons in GT.items():
        for person, (box, actions) in enumerate(persons):
            for action in actions:
                corners = ','.join(f'{v:.3f}' for v in box)
                lines.append(f'{video},{ts},{corners},{action},{person}')
    gt.write_text('\n'.join(lines) + '\n')
    exclude = root / 'excluded.csv'
    exclude.write_text(''.join(f'{v},{t}\n' for v, t in EXCLUDED))
    labels = root / 'eval.pbtxt'
    labels.write_text(''.join(f'item {{\n  name: "{n}"\n  id: {i}\n}}\n'
                              for i, n in EVALUATED.items()))
    return str(gt), str(exclude), str(labels)


@pytest.fixture
def files(tmp_path):
    return write_files(tmp_path)


def sample(video, ts, boxes_norm, scores):
    """A predicted data sample: pixel boxes of a 200x100 frame."""
    boxes = torch.tensor(boxes_norm, dtype=torch.float32).reshape(-1, 4)
    boxes = boxes * torch.tensor([W, H, W, H], dtype=torch.float32)
    data = ActionDataSample()
    data.set_metainfo(dict(video_id=video, timestamp=ts, ori_shape=(H, W)))
    data.pred_instances = InstanceData(
        bboxes=boxes, scores=torch.tensor(scores, dtype=torch.float32))
    return data


def evaluate(files, samples, **kwargs):
    gt, exclude, labels = files
    metric = YOWOAVAMetric(
        gt, exclude, labels, num_classes=NUM_CLASSES, **kwargs)
    metric.process({}, [s.to_dict() for s in samples])
    return metric.compute_metrics(metric.results)


def perfect_samples(keys=tuple(GT)):
    """Each GT box predicted exactly, with score 0.9 on its actions."""
    out = []
    for key in keys:
        boxes, scores = [], []
        for box, actions in GT[key]:
            row = [0.0] * (NUM_CLASSES - 1)
            for a in actions:
                row[a - 1] = 0.9
            boxes.append(box)
            scores.append(row)
        out.append(sample(*key, boxes, scores))
    return out


def test_perfect_predictions_score_one_with_two_action_persons(files):
    result = evaluate(files, perfect_samples())
    assert result['overall'] == pytest.approx(1.0)
    assert result['person_movement'] == pytest.approx(1.0)


def test_swapped_labels_score_zero(files):
    # Every box scores the evaluated action it does *not* do.
    swapped = []
    for key in GT:
        boxes, scores = [], []
        for box, actions in GT[key]:
            row = [0.0] * (NUM_CLASSES - 1)
            for a in (1, 2):
                row[a - 1] = 0.0 if a in actions else 0.9
            boxes.append(box)
            scores.append(row)
        swapped.append(sample(*key, boxes, scores))
    assert evaluate(files, swapped)['overall'] == pytest.approx(0.0)


def test_average_precision_by_hand(files):
    # Action 1 has 3 counted boxes (v1,0902 x2; v2,0902); action 2 has 2
    # (v1,0902 person a; v1,0903) -- v2,0903 is excluded.
    miss = (0.0, 0.0, 0.05, 0.05)  # IoU 0 with everything
    samples = [
        sample('v1', 902, [GT[('v1', 902)][0][0], miss],
               [[0.9, 0.3, 0.0], [0.8, 0.7, 0.0]]),
        sample('v1', 903, [GT[('v1', 903)][0][0]], [[0.0, 0.6, 0.0]]),
        sample('v2', 902, [GT[('v2', 902)][0][0]], [[0.5, 0.0, 0.0]]),
    ]
    # Action 1, by score: 0.9 TP, 0.8 FP, 0.5 TP (of 3 GT): precision 1,
    # 1/2, 2/3 at recall 1/3, 1/3, 2/3 -> AP = 1/3 * 1 + 1/3 * 2/3.
    ap1 = 1 / 3 + 1 / 3 * 2 / 3
    # Action 2: 0.7 FP, 0.6 TP, 0.3 TP (of 2): precision 0, 1/2, 2/3 at
    # recall 0, 1/2, 1 -> interpolated 2/3 over the whole recall range.
    ap2 = 2 / 3
    result = evaluate(files, samples)
    assert result['overall'] == pytest.approx((ap1 + ap2) / 2)


def test_boxes_are_normalised_by_width_and_height(files):
    # At IoU 0.99 every predicted box must come back to its CSV corners:
    # dividing by (h, w) instead of (w, h) would move all of them.
    samples = perfect_samples()
    assert evaluate(files, samples, iou_thr=0.99)['overall'] == \
        pytest.approx(1.0)


def test_official_protocol_differs_from_mmaction_where_documented(files):
    # Action 2 never detected: officially AP 0 (mean 0.5); mmaction's
    # ava_eval leaves the class out (mean 1.0).
    only_action_1 = []
    for s in perfect_samples():
        s.pred_instances.scores[:, 1] = 0
        only_action_1.append(s)
    assert evaluate(files, only_action_1)['overall'] == pytest.approx(0.5)
    assert evaluate(
        files, only_action_1,
        protocol='mmaction')['overall'] == pytest.approx(1.0)
    # The excluded key frame's ground truth: officially not counted (1.0);
    # mmaction counts it (recall of action 2 stops at 2/3).
    assert evaluate(files, perfect_samples())['overall'] == pytest.approx(1.)
    mm = evaluate(files, perfect_samples(), protocol='mmaction')
    assert mm['overall'] == pytest.approx((1 + 2 / 3) / 2)


def test_detection_of_class_without_ground_truth(files, tmp_path):
    """An evaluated class with detections but no ground truth: mmaction's
    ava_eval reaches ``np.NAN`` (removed in numpy 2); at our edge the
    class is left out of the mean."""
    gt, exclude, _ = files
    labels = tmp_path / 'four.pbtxt'
    labels.write_text(''.join(f'item {{\n  name: "a{i}"\n  id: {i}\n}}\n'
                              for i in (1, 2, 4)))
    results = tmp_path / 'det.csv'
    results.write_text('v1,0902,0.1,0.1,0.4,0.9,1,0.9\n'
                       'v1,0902,0.1,0.1,0.4,0.9,4,0.8\n')
    if np.lib.NumpyVersion(np.__version__) >= '2.0.0':
        with pytest.raises(AttributeError, match='NAN'):
            ava_utils.ava_eval(
                str(results), 'mAP', str(labels), gt, exclude, verbose=False)
    mm = ava_eval_mmaction(str(results), str(labels), gt, exclude)
    official = ava_frame_map(str(results), str(labels), gt, exclude)
    # Action 1: one of its 3 GT boxes found first -> AP 1/3; action 2 has
    # no detection (AP 0 officially, left out by mmaction).
    assert official['overall'] == pytest.approx((1 / 3 + 0) / 2)
    assert mm['overall'] == pytest.approx(1 / 3)
    assert set(official['per_class']) == {1, 2}


def test_numpy_aliases_only_inside_the_block():
    had = hasattr(np, 'NAN')  # False on numpy 2 (the pinned stack)
    with numpy_aliases() as added:
        assert np.isnan(np.NAN) and np.Inf == np.inf
        assert ('NAN' in added) == (not had)
    assert hasattr(np, 'NAN') == had
    with pytest.raises(RuntimeError, match='boom'):
        with numpy_aliases():
            raise RuntimeError('boom')
    assert hasattr(np, 'NAN') == had


def test_numpy_aliases_cover_mmaction_ava_evaluation():
    """Every ``np.<name>`` in mmaction's AVA evaluation sources resolves inside
    the block (names found by reading the sources)."""
    import mmaction.evaluation.functional.ava_evaluation as package
    folder = os.path.dirname(package.__file__)
    sources = [
        os.path.join(folder, f)
        for f in os.listdir(folder) if f.endswith('.py')
    ] + [ava_utils.__file__]
    names = set()
    for path in sources:
        with open(path) as handle:
            names |= set(re.findall(r'\bnp\.([A-Za-z_]\w*)', handle.read()))
    assert 'NAN' in names
    with numpy_aliases():
        assert [n for n in sorted(names) if not hasattr(np, n)] == []


def test_no_file_left_in_the_working_directory(files, tmp_path, monkeypatch):
    work = tmp_path / 'work'
    work.mkdir()
    monkeypatch.chdir(work)
    evaluate(files, perfect_samples())
    evaluate(files, perfect_samples(), protocol='mmaction')
    assert os.listdir(work) == []


def test_bad_inputs_are_named(files, tmp_path):
    gt, exclude, labels = files
    metric = YOWOAVAMetric(gt, exclude, labels, num_classes=NUM_CLASSES)
    bad = sample('v1', 902, [(0.1, 0.1, 0.2, 0.2)], [[0.5, 0.5]])
    with pytest.raises(ValueError, match=r'v1,902.*\(1, 3\)'):
        metric.process({}, [bad.to_dict()])
    no_ts = sample('v1', 902, [(0.1, 0.1, 0.2, 0.2)], [[0.5, 0.5, 0.5]])
    no_ts = no_ts.to_dict()
    del no_ts['timestamp']
    with pytest.raises(KeyError, match='timestamp'):
        metric.process({}, [no_ts])
    broken = tmp_path / 'broken.csv'
    broken.write_text('v1,0902,0.1,0.1,0.4,0.9,1,0\nv1,0902,0.1,0.1\n')
    metric = YOWOAVAMetric(
        str(broken), exclude, labels, num_classes=NUM_CLASSES)
    metric.process({}, [s.to_dict() for s in perfect_samples()])
    with pytest.raises(AVAFileError, match=r'broken.csv, line 2'):
        metric.compute_metrics(metric.results)
    with pytest.raises(ValueError, match='protocol'):
        YOWOAVAMetric(gt, exclude, labels, protocol='voc')


# --- The official protocol (ActivityNet get_ava_performance.py, 2019) where
# it differs from mmaction's ava_eval and from this project's earlier code.
# Each case has one key frame v,0902 and evaluated actions 1 and 2;
# GT_BOX is the one ground-truth box of action 1.
GT_BOX = (0.1, 0.1, 0.4, 0.9)


def write_case(root, gt_rows, detections=None):
    """Ground truth ``[(xyxy, action)]`` of v,0902, written as AVA writes it;
    the label map of actions 1 and 2; optionally a detection CSV."""
    gt = root / 'case_gt.csv'
    gt.write_text(''.join(f'v,0902,{",".join(map(str, box))},{action},0\n'
                          for box, action in gt_rows))
    labels = root / 'case.pbtxt'
    labels.write_text(''.join(f'item {{\n  name: "{n}"\n  id: {i}\n}}\n'
                              for i, n in EVALUATED.items()))
    det = None
    if detections is not None:
        det = root / 'case_det.csv'
        det.write_text(''.join(f'v,0902,{",".join(map(str, box))},{a},{s}\n'
                               for box, a, s in detections))
        det = str(det)
    return str(gt), str(labels), det


def evaluate_case(root, gt_rows, boxes, scores, **kwargs):
    """YOWOAVAMetric on one predicted key frame (3 trained actions)."""
    gt, labels, _ = write_case(root, gt_rows)
    metric = YOWOAVAMetric(gt, None, labels, num_classes=NUM_CLASSES, **kwargs)
    metric.process({}, [sample('v', 902, boxes, scores).to_dict()])
    return metric.compute_metrics(metric.results)


def grid_boxes(n):
    """``n`` distinct small boxes right of GT_BOX (IoU 0 with it)."""
    return [(0.5 + 0.05 * (i % 10), 0.05 * (i // 10), 0.54 + 0.05 * (i % 10),
             0.04 + 0.05 * (i // 10)) for i in range(n)]


def test_official_keeps_the_50_best_rows_of_a_key_frame(tmp_path):
    # 55 boxes score 0.9 for action 2 (no ground truth: left out of the
    # mean) and 0.95 for action 3 (trained, not evaluated); GT_BOX scores
    # 0.5 for action 1, the frame's 56th evaluated row. Officially only the
    # 50 best rows of evaluated classes count: action 1 has no detection,
    # AP 0. mmaction (and this project before) kept every row: AP 1.
    boxes = grid_boxes(55) + [GT_BOX]
    scores = [[0.0, 0.9, 0.95]] * 55 + [[0.5, 0.0, 0.0]]
    result = evaluate_case(tmp_path, [(GT_BOX, 1)], boxes, scores)
    assert result['overall'] == pytest.approx(0.0)
    mm = evaluate_case(
        tmp_path, [(GT_BOX, 1)], boxes, scores, protocol='mmaction')
    assert mm['overall'] == pytest.approx(1.0)
    # With 49 rows of action 2, action 1's row is the 50th and stays: the
    # 50 rows of action 3 take no place (only evaluated classes are kept).
    boxes = grid_boxes(49) + [GT_BOX]
    scores = [[0.0, 0.9, 0.95]] * 49 + [[0.5, 0.0, 0.95]]
    result = evaluate_case(tmp_path, [(GT_BOX, 1)], boxes, scores)
    assert result['overall'] == pytest.approx(1.0)


def test_ties_at_the_cut_follow_the_heap(tmp_path):
    """At the 50th place: a row enters a full heap only with a score above
    its least; of equal least rows, the smallest (score, action_id, y1, ...)
    tuple leaves first."""
    gt_rows = [(GT_BOX, 1)]
    miss = [(box, 2, 0.9) for box in grid_boxes(48)]
    hit, other = (GT_BOX, 1, 0.3), ((0.5, 0.5, 0.6, 0.6), 2, 0.3)
    cases = [
        # 49 rows at 0.9, then a row of action 2 at 0.3 (the 50th), then
        # action 1's row at 0.3: not above the least 0.3, it stays out.
        (miss + [(grid_boxes(49)[48], 2, 0.9), other, hit], 0.0),
        # The other way round, action 1's row is the 50th and stays.
        (miss + [(grid_boxes(49)[48], 2, 0.9), hit, other], 1.0),
        # Both tied rows in, then a better one: the smaller tuple leaves,
        # (0.3, 1, ...) before (0.3, 2, ...), though it came first.
        (miss + [hit, other, ((0.5, 0.7, 0.6, 0.8), 2, 0.6)], 0.0),
    ]
    for detections, expected in cases:
        gt, labels, det = write_case(tmp_path, gt_rows, detections)
        assert ava_frame_map(det, labels, gt)['overall'] == \
            pytest.approx(expected)
        # No limit: action 1's row always counts.
        assert ava_frame_map(
            det, labels, gt, max_detections=0)['overall'] == \
            pytest.approx(1.0)


def test_official_iou_is_float64(tmp_path):
    # Boxes whose exact IoU is 1/2 (x: [0.011, 0.1464] in [0.011, 0.2818],
    # 0.1354 / 0.2708; equal y). In float64, as the official evaluator
    # computes it, the IoU is exactly 0.5: a match. mmaction's float32 boxes
    # give 0.49999998...: no match.
    gt = (0.011, 0.0892, 0.2818, 0.8632)
    det = (0.011, 0.0892, 0.1464, 0.8632)
    result = evaluate_case(tmp_path, [(gt, 1)], [det], [[0.9, 0.0, 0.0]])
    assert result['overall'] == pytest.approx(1.0)
    mm = evaluate_case(
        tmp_path, [(gt, 1)], [det], [[0.9, 0.0, 0.0]], protocol='mmaction')
    assert mm['overall'] == pytest.approx(0.0)
    # And the other way: exact IoU 1/2 again (0.0675 / 0.135), float64 gives
    # 0.49999999999999994 (no match), float32 boxes 0.5000001 (a match).
    gt = (0.2555, 0.637, 0.3905, 0.8507)
    det = (0.2555, 0.637, 0.323, 0.8507)
    result = evaluate_case(tmp_path, [(gt, 1)], [det], [[0.9, 0.0, 0.0]])
    assert result['overall'] == pytest.approx(0.0)
    mm = evaluate_case(
        tmp_path, [(gt, 1)], [det], [[0.9, 0.0, 0.0]], protocol='mmaction')
    assert mm['overall'] == pytest.approx(1.0)


@pytest.mark.parametrize(
    'bad_box',
    [
        (0.2, 0.2, 0.2, 0.6),  # flat: x2 == x1
        (0.2, 0.6, 0.3, 0.2),  # inverted: y2 < y1
    ])
def test_official_drops_invalid_detection_boxes(tmp_path, bad_box):
    # The invalid box scores 0.9 for action 1, GT_BOX 0.8. Officially the
    # invalid box is no detection: AP 1. mmaction counts a flat box as a
    # false positive ranked first (precision 0 then 1/2 at recall 1: AP
    # 1/2) and raises ValueError on an inverted one.
    boxes, scores = [bad_box, GT_BOX], [[0.9, 0.0, 0.0], [0.8, 0.0, 0.0]]
    result = evaluate_case(tmp_path, [(GT_BOX, 1)], boxes, scores)
    assert result['overall'] == pytest.approx(1.0)
    if bad_box[2] == bad_box[0]:
        mm = evaluate_case(
            tmp_path, [(GT_BOX, 1)], boxes, scores, protocol='mmaction')
        assert mm['overall'] == pytest.approx(0.5)


def test_invalid_boxes_take_places_before_they_are_dropped(tmp_path):
    # The official evaluator cuts the 50 best rows first and drops invalid
    # boxes among them after: 50 flat boxes at 0.9 leave action 1's row
    # (51st) out.
    flat = [((0.5, 0.1 + 0.01 * i, 0.5, 0.9), 2, 0.9) for i in range(50)]
    gt, labels, det = write_case(tmp_path, [(GT_BOX, 1)],
                                 flat + [(GT_BOX, 1, 0.5)])
    assert ava_frame_map(det, labels, gt)['overall'] == pytest.approx(0.0)


def test_official_matches_ground_truth_as_read(tmp_path):
    # AVA corners may lie up to 1e-3 outside [0, 1]. The ground-truth box
    # x in [-0.001, 0.5] is matched as read: the detection x in [0, 0.25]
    # (same y) has IoU 0.25 / 0.501 < 1/2, no match (AP 0). Clipped to
    # [0, 0.5] (this project before) the IoU was exactly 1/2: AP 1.
    gt = (-0.001, 0.0, 0.5, 1.0)
    det = (0.0, 0.0, 0.25, 1.0)
    result = evaluate_case(tmp_path, [(gt, 1)], [det], [[0.9, 0.0, 0.0]])
    assert result['overall'] == pytest.approx(0.0)


def test_equal_scores_keep_the_heap_order(tmp_path, monkeypatch):
    """Rows of equal score reach the AP in the order the official heap leaves
    them (a stable sort of its array), not in file order; the AP sorts the
    scores with numpy's unstable argsort, so that order can change it."""
    far = (0.5, 0.05, 0.6, 0.15)  # IoU 0 with GT_BOX, y1 0.05 < 0.1
    detections = [(GT_BOX, 1, 0.5), (far, 1, 0.5)]
    gt, labels, det = write_case(tmp_path, [(GT_BOX, 1)], detections)
    # Heap of (score, action, y1, ...): the far row (y1 0.05) is smaller
    # than the hit (y1 0.1), so it rises to the root: [far, hit].
    assert [row[2] for row in read_ava_detections(det)[('v', 902)]] == \
        [0.05, 0.1]
    seen = []
    precision_recall = metrics.compute_precision_recall

    def spy(scores, labels, num_gt):
        seen.append((scores.tolist(), labels.tolist(), scores.dtype))
        return precision_recall(scores, labels, num_gt)

    monkeypatch.setattr(metrics, 'compute_precision_recall', spy)
    ap = ava_frame_map(det, labels, gt)['per_class'][1][1]
    assert seen == [([0.5, 0.5], [False, True], np.float64)]
    expected = metrics.compute_average_precision(
        *precision_recall(np.array([0.5, 0.5]), np.array([False, True]), 1))
    assert ap == pytest.approx(expected)


def test_read_ava_detections_orders_ties_like_the_heap(tmp_path):
    # Pushing a = (0.5, 1, 0.3, ...), b = (0.5, 1, 0.2, ...), c = (0.5, 1,
    # 0.1, ...) in turn: [a] -> [b, a] -> [c, a, b] (c rises over b); the
    # 0.7 row stays a leaf. Out: by score, equal ones as in the array.
    path = tmp_path / 'det.csv'
    path.write_text('v,0902,0.1,0.3,0.2,0.4,1,0.5\n'
                    'v,0902,0.1,0.2,0.2,0.4,1,0.5\n'
                    'v,0902,0.1,0.1,0.2,0.4,1,0.5\n'
                    'v,0902,0.1,0.9,0.2,1.0,2,0.7\n'
                    'w,0903,0.1,0.1,0.2,0.4,2\n'
                    'v,0902,0.1,0.1,0.2,0.4,3,0.9\n')
    rows = read_ava_detections(str(path), {1, 2})
    assert list(rows) == [('v', 902), ('w', 903)]
    assert rows[('v', 902)] == [(0.7, 2, 0.9, 0.1, 1.0, 0.2),
                                (0.5, 1, 0.1, 0.1, 0.4, 0.2),
                                (0.5, 1, 0.3, 0.1, 0.4, 0.2),
                                (0.5, 1, 0.2, 0.1, 0.4, 0.2)]
    # A row without score scores 1.0.
    assert rows[('w', 903)] == [(1.0, 2, 0.1, 0.1, 0.4, 0.2)]
    assert len(
        read_ava_detections(str(path), {1}, max_per_frame=2)[('v', 902)]) == 2


@pytest.mark.parametrize('line,problem', [
    ('v,0902,0.1,0.1,0.2,0.2', 'expected 7 or 8 columns'),
    ('v,09x2,0.1,0.1,0.2,0.2,1,0.5', "timestamp '09x2' is not an integer"),
    ('v,0902,0.1,0.1,0.2,0.2,1,nan', 'non-finite'),
    ('v,0902,0.1,inf,0.2,0.2,1,0.5', 'non-finite'),
    (',0902,0.1,0.1,0.2,0.2,1,0.5', 'empty video id'),
])
def test_bad_detection_rows_are_named(tmp_path, line, problem):
    path = tmp_path / 'det.csv'
    path.write_text('v,0902,0.1,0.1,0.2,0.2,1,0.5\n' + line + '\n')
    with pytest.raises(AVAFileError, match=f'det.csv, line 2: {problem}'):
        read_ava_detections(str(path))


def test_inverted_ground_truth_box_is_named(tmp_path):
    gt, labels, det = write_case(tmp_path, [(GT_BOX, 1),
                                            ((0.5, 0.5, 0.4, 0.9), 2)],
                                 [(GT_BOX, 1, 0.5)])
    with pytest.raises(
            AVAFileError, match='case_gt.csv, line 2: box .* '
            'inverted'):
        ava_frame_map(det, labels, gt)
