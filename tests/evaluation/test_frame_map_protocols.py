"""frame_map's default protocol against a plain re-implementation of the YOWO
family's evaluator, and scoring only the predicted frames."""
import sys

import numpy as np
import pytest

from mmyowo.evaluation.functional import frame_map
from ._synthetic import empty_gt, random_detections, random_gt


def padilla_frame_map(dets, gt, videos, iou_thr):
    """The YOWO family's frame-mAP written out with python loops.

    YOWO / YOWOv2 write one ground-truth file per annotated frame and one
    detection file per predicted (= annotated) frame, with the corners
    rounded; Padilla's ``GetPascalVOCMetrics`` then matches each detection,
    by descending score, to the most overlapping ground truth of its frame
    and class, which must still be free.
    """
    gt_files = {}
    for v, video in enumerate(videos):
        for label, tubes in gt['gttubes'][video].items():
            for tube in tubes:
                for row in tube:
                    gt_files.setdefault((v, int(row[0])), []).append(
                        (label, [float(x) for x in row[1:5]]))
    det_files = {}
    for row in dets:
        frame = (int(row[0]), int(row[1]))
        if frame in gt_files:
            det_files.setdefault(frame, []).append(
                (int(row[2]), float(row[3]),
                 [round(float(x)) for x in row[4:8]]))

    def iou(a, b):
        if a[0] > b[2] or b[0] > a[2] or a[3] < b[1] or a[1] > b[3]:
            return 0.0
        inter = (min(a[2], b[2]) - max(a[0], b[0]) + 1) * (
            min(a[3], b[3]) - max(a[1], b[1]) + 1)
        area_a = (a[2] - a[0] + 1) * (a[3] - a[1] + 1)
        area_b = (b[2] - b[0] + 1) * (b[3] - b[1] + 1)
        return inter / (area_a + area_b - inter)

    aps = []
    for label in range(len(gt['labels'])):
        gts = [(frame, box) for frame in sorted(gt_files)
               for lab, box in gt_files[frame] if lab == label]
        if not gts:
            continue
        found = sorted(
            ((frame, score, box) for frame in sorted(det_files)
             for lab, score, box in det_files[frame] if lab == label),
            key=lambda d: d[1],
            reverse=True)
        used, tp = set(), []
        for frame, _, box in found:
            best, best_j = sys.float_info.min, None
            for j, (gt_frame, gt_box) in enumerate(gts):
                if gt_frame == frame and iou(box, gt_box) > best:
                    best, best_j = iou(box, gt_box), j
            tp.append(best >= iou_thr and best_j not in used)
            if tp[-1]:
                used.add(best_j)
        recall, precision, hits = [], [], 0
        for n, hit in enumerate(tp, 1):
            hits += hit
            recall.append(hits / len(gts))
            precision.append(hits / n)
        mrec, mpre = [0.0] + recall + [1.0], [0.0] + precision + [0.0]
        for i in range(len(mpre) - 1, 0, -1):
            mpre[i - 1] = max(mpre[i - 1], mpre[i])
        aps.append(
            sum((mrec[i] - mrec[i - 1]) * mpre[i] for i in range(1, len(mrec))
                if mrec[i] != mrec[i - 1]))
    return sum(aps) / len(aps)


@pytest.mark.parametrize('seed', [0, 1, 2])
@pytest.mark.parametrize('iou_thr', [0.3, 0.5])
def test_default_is_the_yowo_family_evaluator(seed, iou_thr):
    rng = np.random.default_rng(seed)
    gt, videos = random_gt(rng, num_classes=4)
    if seed == 2:  # integer ground truth, as in YOWO's files
        for tubes in gt['gttubes'].values():
            for label, ts in tubes.items():
                tubes[label] = [np.round(t) for t in ts]
    dets = random_detections(rng, gt, videos, num_classes=4)
    ours = frame_map(dets, gt, videos, iou_thr)['mAP']
    assert ours == pytest.approx(
        padilla_frame_map(dets, gt, videos, iou_thr), abs=1e-12)


def annotated_frames(gt, videos):
    """Sorted annotated frames of each video."""
    return [
        sorted({
            int(f)
            for ts in gt['gttubes'][v].values()
            for t in ts
            for f in t[:, 0]
        }) for v in videos
    ]


def perfect_rows(gt, videos, frames):
    """A detection on every ground-truth box of the given frames."""
    rows = []
    for v, video in enumerate(videos):
        for label, tubes in gt['gttubes'][video].items():
            for tube in tubes:
                rows += [[v, row[0], label, 0.9, *row[1:5]] for row in tube
                         if (v, int(row[0])) in frames]
    return np.array(rows, dtype=np.float64)


@pytest.mark.parametrize('stride', [1, 2, 4])
def test_strided_perfect_detections_score_one(stride):
    gt, videos = random_gt(np.random.default_rng(3), num_classes=4)
    strided = {(v, f)
               for v, frames in enumerate(annotated_frames(gt, videos))
               for f in frames[::stride]}
    dets = perfect_rows(gt, videos, strided)
    frames = np.array(sorted(strided))
    result = frame_map(dets, gt, videos, frames=frames)
    assert result['mAP'] == 1.0
    assert result['num_frames'] == len(strided)
    assert result['num_annotated_frames'] == sum(
        map(len, annotated_frames(gt, videos)))
    # Without `frames` the skipped ground truth counts as missed: with
    # precision 1 everywhere, AP is the recall of each class.
    flat = [(label, v, int(f)) for v, video in enumerate(videos)
            for label, ts in gt['gttubes'][video].items() for t in ts
            for f in t[:, 0]]
    labels = sorted({label for label, _, _ in flat})
    recall = [
        np.mean([(v, f) in strided for lab, v, f in flat if lab == label])
        for label in labels
    ]
    assert frame_map(dets, gt, videos)['mAP'] == pytest.approx(np.mean(recall))
    if stride > 1:
        assert np.mean(recall) < 0.75


@pytest.mark.parametrize('protocol', ['annotated', 'all'])
def test_frames_restrict_ground_truth_and_detections(protocol):
    rng = np.random.default_rng(4)
    gt, videos = random_gt(rng, num_classes=4)
    dets = random_detections(rng, gt, videos, num_classes=4)
    every = np.array([(v, f) for v in range(len(videos))
                      for f in range(1, gt['nframes'][videos[v]] + 1)])
    full = frame_map(dets, gt, videos, protocol=protocol)
    listed = frame_map(dets, gt, videos, protocol=protocol, frames=every)
    for key in ('mAP', 'num_frames', 'num_annotated_frames'):
        assert listed[key] == full[key]
    np.testing.assert_array_equal(listed['num_dets'], full['num_dets'])

    # Every 3rd frame: the same as cutting the ground truth and the
    # detections to those frames.
    kept = every[every[:, 1] % 3 == 0]
    part = frame_map(
        dets[dets[:, 1] % 3 == 0], gt, videos, protocol=protocol, frames=kept)
    cut = empty_gt(videos, 4)
    for video in videos:
        for label, tubes in gt['gttubes'][video].items():
            cut['gttubes'][video][label] = [
                t[t[:, 0] % 3 == 0] for t in tubes if (t[:, 0] % 3 == 0).any()
            ]
    expected = frame_map(
        dets[dets[:, 1] % 3 == 0], cut, videos, protocol=protocol)
    assert part['mAP'] == pytest.approx(expected['mAP'])
    np.testing.assert_array_equal(part['num_gt'], expected['num_gt'])
    assert part['num_frames'] == (
        expected['num_frames'] if protocol == 'annotated' else len(kept))
    assert part['num_annotated_frames'] == full['num_annotated_frames']


def test_frames_errors():
    gt, videos = random_gt(np.random.default_rng(5), num_classes=4)
    dets = np.array([[0, 2, 0, 0.5, 1., 1., 5., 5.]])
    with pytest.raises(
            ValueError,
            match="detections row 0 is on 'cls/v0' frame 2, "
            'which is not among the evaluated frames'):
        frame_map(dets, gt, videos, frames=np.array([[0, 1]]))
    for frames, message in [
        (np.zeros((2, 3)), r'frames must be an \(m, 2\) array'),
        (np.array([[0, 1.5]]), 'must be integers'),
        (np.array([[0, 1], [9, 1]]), r'frames row 1 .*video index'),
        (np.array([[0, 41]]), r'frame outside \[1, nframes\]'),
    ]:
        with pytest.raises(ValueError, match=message):
            frame_map(dets[:0], gt, videos, frames=frames)
