"""AVA frame-mAP: YOWOAVAMetric and the functions under it, against APs
computed by hand on small hand-made cases."""
import os
import re

import numpy as np
import pytest
import torch
from mmaction.evaluation.functional import ava_utils
from mmaction.structures import ActionDataSample
from mmengine.structures import InstanceData

from mmyowo.datasets.ava_files import AVAFileError
from mmyowo.evaluation.functional import (ava_eval_mmaction, ava_frame_map,
                                          numpy_aliases)
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
