"""The YOWO family's video-mAP protocol: hand-made tubes for linking, 3D NMS,
mean scoring and matching, and a plain re-implementation on small random
cases."""
import numpy as np
import pytest

from mmyowo.evaluation.functional import (link_tubes_yowo, spatiotemporal_iou,
                                          tube_nms, video_ap, yowo_link_class,
                                          yowo_linking, yowo_tube_iou,
                                          yowo_video_ap, yowo_video_map)
from mmyowo.evaluation.functional.yowo_linking import candidate_slots
from ._synthetic import empty_gt, moving_tube


def test_tube_iou_needs_two_common_frames():
    tube = moving_tube(np.arange(1, 11), 10, 10)
    later = moving_tube(np.arange(10, 20), 10, 10, speed=0)
    # One common frame: YOWO's iou3dt gives 0 (``tmax <= tmin``).
    assert spatiotemporal_iou(tube, later, True) > 0
    assert yowo_tube_iou(tube, later) == 0.0
    shifted = moving_tube(np.arange(6, 16), 15, 10)
    assert yowo_tube_iou(tube, shifted) == pytest.approx(5 / 15)
    assert yowo_tube_iou(tube, shifted) == spatiotemporal_iou(
        tube, shifted, pixel_plus_one=True)


def test_frames_without_candidates_borrow_the_nearest():
    frames = np.array([2, 2, 4, 7])
    boxes = np.array([[0., 0, 5, 5], [1, 1, 6, 6], [2, 2, 7, 7], [3, 3, 8, 8]])
    scores = np.array([0.2, 0.7, 0.5, 0.9])
    slot_boxes, slot_scores, valid = candidate_slots(frames, boxes, scores, 8)
    # Frame 3 is as far from 2 as from 4: the earlier one; 6 is nearer 7.
    source = [2, 2, 2, 4, 4, 7, 7, 7]
    assert valid.sum(axis=1).tolist() == [2, 2, 2, 1, 1, 1, 1, 1]
    # Candidates by descending score: frame 2's 0.7 box first.
    np.testing.assert_array_equal(slot_scores[:, 0], [{
        2: .7,
        4: .5,
        7: .9
    }[s] for s in source])
    np.testing.assert_array_equal(slot_boxes[0, :2], boxes[[1, 0]])
    # top_k keeps the best candidates of a frame.
    assert candidate_slots(
        frames, boxes, scores, 8, top_k=1)[2].sum(axis=1).tolist() == [1] * 8


def as_rows(video, tracks):
    """Detection rows of ``[(tube, label, score)]`` (one box per frame)."""
    return np.array([[video, row[0], label, score, *row[1:5]]
                     for tube, label, score in tracks for row in tube])


def test_linking_follows_each_actor_over_the_whole_video():
    first = moving_tube(np.arange(1, 21), 10, 20, speed=2)
    second = moving_tube(np.arange(1, 21), 200, 120, speed=-3)
    rows = as_rows(0, [(first, 0, 0.9), (second, 0, 0.6)])
    paths = yowo_link_class(rows[:, 1], rows[:, 4:], rows[:, 3], 20)
    # Two boxes per frame: two paths, then a frame is empty.
    assert len(paths) == 2
    np.testing.assert_allclose(paths[0][:, :5], first)
    np.testing.assert_allclose(paths[1][:, :5], second)
    # No trimming: an actor seen on frames 5-12 gives a tube over frames
    # 1-20, the missing frames borrowing the nearest boxes.
    short = moving_tube(np.arange(5, 13), 10, 20)
    rows = as_rows(0, [(short, 0, 0.8)])
    (path, ) = yowo_link_class(rows[:, 1], rows[:, 4:], rows[:, 3], 20)
    np.testing.assert_array_equal(path[:, 0], np.arange(1, 21))
    np.testing.assert_allclose(path[:4, 1:5], short[[0] * 4, 1:5])
    np.testing.assert_allclose(path[12:, 1:5], short[[-1] * 8, 1:5])


def test_nms_drops_an_overlapping_lower_scored_tube_and_scores_means():
    """A second box near the first actor makes a second path along it; 3D NMS
    at 0.3 removes it, the far actor's tube stays."""
    actor = moving_tube(np.arange(1, 11), 10, 20)
    echo = moving_tube(np.arange(1, 11), 14, 22)
    far = moving_tube(np.arange(1, 11), 200, 120)
    assert yowo_tube_iou(actor, echo) > 0.3
    scores = np.linspace(0.5, 0.9, 10)
    rows = np.concatenate(
        [as_rows(0, [(actor[i:i + 1], 0, s)]) for i, s in enumerate(scores)] +
        [as_rows(0, [(echo, 0, 0.4), (far, 0, 0.3)])])
    tubes = link_tubes_yowo(rows, ['a/v0'], 2, [10])
    assert tubes[1] == []
    assert [(v, round(s, 6))
            for v, s, _ in tubes[0]] == [('a/v0', round(scores.mean(), 6)),
                                         ('a/v0', 0.3)]
    np.testing.assert_allclose(tubes[0][0][2][:, 1:5], actor[:, 1:5])
    np.testing.assert_allclose(tubes[0][1][2][:, 1:5], far[:, 1:5])
    assert tube_nms([actor, echo, far], [0.9, 0.8, 0.7]) == [0, 2]
    assert tube_nms([actor, echo, far], [0.9, 0.8, 0.7],
                    iou_thr=0.9) == [0, 1, 2]


def test_tube_matches_the_best_still_unmatched_ground_truth():
    frames = np.arange(1, 11)
    gt = empty_gt(['a/v0'], num_classes=1, nframes=10)
    gt_a = moving_tube(frames, 0, 0, w=100, h=100, speed=0)
    gt_b = moving_tube(frames, 20, 0, w=100, h=100, speed=0)
    gt['gttubes']['a/v0'][0] = [gt_a, gt_b]
    second = moving_tube(frames, 8, 0, w=100, h=100, speed=0)
    # The second tube overlaps A most (0.853) but A goes to the first.
    assert yowo_tube_iou(second, gt_a) > yowo_tube_iou(second, gt_b) > 0.78
    tubes = {0: [('a/v0', 0.9, gt_a), ('a/v0', 0.8, second)]}
    yowo = yowo_video_ap(tubes, gt, ['a/v0'], (0.5, 0.8))
    assert yowo[0.5]['ap'][0] == 1.0  # the second takes B
    assert yowo[0.8]['ap'][0] == 0.5  # B overlaps it by 0.788 only
    # The VOC rule of the 'st' protocol: its best ground truth is taken.
    st = video_ap(tubes, gt, ['a/v0'], (0.5, ), pixel_plus_one=True)
    assert st[0.5]['ap'][0] == 0.5


def test_perfect_detections_over_whole_videos():
    gt = empty_gt(['a/v0', 'a/v1'], num_classes=2, nframes=12)
    gt['gttubes']['a/v0'][1] = [moving_tube(np.arange(1, 13), 5, 5)]
    gt['gttubes']['a/v1'][0] = [
        moving_tube(np.arange(1, 13), 5, 5, speed=3),
        moving_tube(np.arange(1, 13), 200, 100, speed=-2)
    ]
    rows = np.concatenate([
        as_rows(v, [(t, label, 0.9)])
        for v, video in enumerate(['a/v0', 'a/v1'])
        for label, tubes in gt['gttubes'][video].items() for t in tubes
    ])
    results = yowo_video_map(rows, gt, ['a/v0', 'a/v1'])
    assert sorted(results) == [0.2, 0.5, 0.75]
    for result in results.values():
        assert result['mAP'] == 1.0
        assert result['num_tubes'] == 3


def plain_yowo_video_map(rows, gt, videos, iou_thr, num_classes):
    """The YOWO family's video-mAP written out with python loops."""

    def iou(a, b, plus):
        w = min(a[2], b[2]) + plus - max(a[0], b[0])
        h = min(a[3], b[3]) + plus - max(a[1], b[1])
        inter = max(w, 0) * max(h, 0)
        union = ((a[2] - a[0] + plus) * (a[3] - a[1] + plus) +
                 (b[2] - b[0] + plus) * (b[3] - b[1] + plus) - inter)
        return inter / union

    def tube_iou(a, b):  # rows frame, x1, y1, x2, y2; consecutive frames
        start = int(max(a[0][0], b[0][0]))
        end = int(min(a[-1][0], b[-1][0]))
        if end <= start:
            return 0.0
        boxes_a = {r[0]: r[1:5] for r in a}
        boxes_b = {r[0]: r[1:5] for r in b}
        spatial = np.mean(
            [iou(boxes_a[f], boxes_b[f], 1) for f in range(start, end + 1)])
        return spatial * (end - start + 1) / (
            max(a[-1][0], b[-1][0]) - min(a[0][0], b[0][0]) + 1)

    detected = {label: [] for label in range(num_classes)}
    for v, video in enumerate(videos):
        nframes = gt['nframes'][video]
        for label in range(num_classes):
            cands = [
                sorted([(float(r[3]), list(r[4:8])) for r in rows
                        if r[0] == v and r[2] == label and r[1] == f],
                       key=lambda c: -c[0]) for f in range(1, nframes + 1)
            ]
            seen = [f for f in range(nframes) if cands[f]]
            if not seen:
                continue
            cands = [
                cands[min(seen, key=lambda s: (abs(s - f), s))][:]
                for f in range(nframes)
            ]
            paths = []
            while len(paths) < 3 and all(cands):
                # after[f][i]: best score from box i of frame f to the end.
                after = [[0.0] * len(cands[-1])]
                links = []
                for f in range(nframes - 2, -1, -1):
                    row, link = [], []
                    for s1, b1 in cands[f]:
                        values = [
                            iou(b1, b2, 0) + s1 + s2 + 0.5 * s1 * s2 +
                            after[0][j]
                            for j, (s2, b2) in enumerate(cands[f + 1])
                        ]
                        link.append(values.index(max(values)))
                        row.append(max(values))
                    after.insert(0, row)
                    links.insert(0, link)
                picks = [after[0].index(max(after[0]))]
                for link in links:
                    picks.append(link[picks[-1]])
                path = [[f + 1, *cands[f][i][1], cands[f][i][0]]
                        for f, i in enumerate(picks)]
                for f, i in enumerate(picks):
                    del cands[f][i]
                paths.append(path)
            scored = sorted(((np.mean([r[5] for r in p]), p) for p in paths),
                            key=lambda sp: -sp[0])
            kept = []
            for score, path in scored:
                if all(tube_iou(path, k) <= 0.3 for _, k in kept):
                    kept.append((score, path))
            detected[label] += [(v, s, p) for s, p in kept]
    aps = []
    for label in range(num_classes):
        free = [(v, [list(r) for r in t]) for v, video in enumerate(videos)
                for t in gt['gttubes'][video].get(label, [])]
        if not free:
            continue
        num_gt, hits, precision, recall = len(free), 0, [], []
        for n, (v, _, path) in enumerate(
                sorted(detected[label], key=lambda d: -d[1]), 1):
            overlaps = [(tube_iou(t, path), i)
                        for i, (gv, t) in enumerate(free) if gv == v]
            if overlaps:
                best, i = max(overlaps, key=lambda o: (o[0], -o[1]))
                if best >= iou_thr:
                    hits += 1
                    del free[i]
            precision.append(hits / n)
            recall.append(hits / num_gt)
        mrec, mpre = [0.0] + recall + [1.0], [0.0] + precision + [0.0]
        for i in range(len(mpre) - 1, 0, -1):
            mpre[i - 1] = max(mpre[i - 1], mpre[i])
        aps.append(
            sum((mrec[i] - mrec[i - 1]) * mpre[i] for i in range(1, len(mrec))
                if mrec[i] != mrec[i - 1]))
    return float(np.mean(aps))


def crowded_gt(rng, num_videos=4, num_classes=3, nframes=9):
    """Per video, two nearby tubes of one class over different spans."""
    videos = [f'c/v{i}' for i in range(num_videos)]
    gt = empty_gt(videos, num_classes, nframes)
    for video in videos:
        x, y = rng.uniform(0, 150, 2)
        dx, dy = rng.uniform(10, 30, 2)
        tubes = []
        for offset in ((0, 0), (dx, dy)):
            start = int(rng.integers(1, 4))
            end = int(rng.integers(start + 3, nframes + 1))
            tubes.append(
                moving_tube(
                    np.arange(start, end + 1), x + offset[0], y + offset[1]))
        gt['gttubes'][video][int(rng.integers(0, num_classes))] = tubes
    return gt, videos


def random_rows(rng, gt, videos, num_classes):
    """Two jittered copies of each ground-truth box and one or two random boxes
    per frame, each with a random score for most classes (so some frames lack a
    class and borrow their neighbour's)."""
    rows = []
    for v, video in enumerate(videos):
        for frame in range(1, gt['nframes'][video] + 1):
            boxes = [
                t[t[:, 0] == frame][0, 1:5] + rng.normal(0, 8, 4)
                for ts in gt['gttubes'][video].values() for t in ts
                if frame in t[:, 0] for _ in range(2)
            ]
            for _ in range(int(rng.integers(1, 3))):
                x, y = rng.uniform(0, 200, 2)
                boxes.append(np.array([x, y, x + 40, y + 60]))
            for box in boxes:
                box = np.concatenate(
                    (np.minimum(box[:2],
                                box[2:]), np.maximum(box[:2], box[2:])))
                for label in range(num_classes):
                    if rng.random() < 0.85:
                        rows.append([v, frame, label, rng.random(), *box])
    return np.array(rows)


@pytest.mark.parametrize('seed', [0, 33, 45])
def test_equals_a_plain_reimplementation(seed, monkeypatch):
    rng = np.random.default_rng(seed)
    gt, videos = crowded_gt(rng)
    rows = random_rows(rng, gt, videos, 3)
    thrs = (0.2, 0.5)
    ours = yowo_video_map(rows, gt, videos, thrs)
    for thr in thrs:
        assert ours[thr]['mAP'] == pytest.approx(
            plain_yowo_video_map(rows, gt, videos, thr, 3), abs=1e-9)
    if seed != 0:
        # These data exercise the 3D NMS and the matching rule.
        tubes = link_tubes_yowo(rows, videos, 3, [9] * 4)
        unsuppressed = link_tubes_yowo(rows, videos, 3, [9] * 4, nms_thr=1)
        assert yowo_video_ap(unsuppressed, gt, videos,
                             (0.2, ))[0.2]['mAP'] != ours[0.2]['mAP']
        assert video_ap(
            tubes,
            gt,
            videos,
            (0.2, ),
            pixel_plus_one=True,
        )[0.2]['mAP'] != ours[0.2]['mAP']
    # Linking many classes at once or one at a time, and building the edge
    # scores in pieces, changes nothing.
    monkeypatch.setattr(yowo_linking, 'EDGE_BUDGET', 1)
    monkeypatch.setattr(yowo_linking, 'EDGE_CHUNK', 1)
    again = yowo_video_map(rows, gt, videos, thrs)
    for thr in thrs:
        assert again[thr]['mAP'] == ours[thr]['mAP']
