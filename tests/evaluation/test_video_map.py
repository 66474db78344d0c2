"""Spatio-temporal IoU and video AP against mmaction2's MultiSports port, tube
linking on hand-made tracks, and video_map end to end."""
import numpy as np
import pytest
from mmaction.evaluation.functional.multisports_utils import (iou3dt_voc,
                                                              videoAP)

from mmyowo.evaluation.functional import (link_tubes, link_video,
                                          spatiotemporal_iou, video_ap,
                                          video_map)
from mmyowo.evaluation.functional.inputs import parse_detections
from mmyowo.evaluation.functional.tube_linking import (detections_to_boxes,
                                                       gap_interpolation,
                                                       temporal_trim)
from ._synthetic import empty_gt, moving_tube, random_gt

# mmaction2's iou3dt_voc converts 1-element arrays with int().
IGNORE_NUMPY_DEPRECATION = pytest.mark.filterwarnings(
    'ignore::DeprecationWarning')


def test_spatiotemporal_iou_hand_cases():
    tube = moving_tube(np.arange(1, 11), 10, 10)
    assert spatiotemporal_iou(tube, tube) == 1.0
    later = moving_tube(np.arange(20, 26), 10, 10)
    assert spatiotemporal_iou(tube, later) == 0.0
    # Frames 6-10 overlap (5 of 15 frames), boxes equal there.
    shifted = moving_tube(np.arange(6, 16), 15, 10)
    assert spatiotemporal_iou(tube, shifted) == pytest.approx(5 / 15)
    assert spatiotemporal_iou(tube, shifted, temporal_plus_one=False) == \
        pytest.approx(4 / 14)
    # Same extent, boxes shifted by half a width: IoU 1/3 on every frame.
    half = tube.copy()
    half[:, [1, 3]] += 30
    assert spatiotemporal_iou(tube, half) == pytest.approx(1 / 3)
    # A frame missing from one tube inside the common span counts 0.
    holed = np.delete(tube, 4, axis=0)
    assert spatiotemporal_iou(tube, holed) == pytest.approx(9 / 10)


@IGNORE_NUMPY_DEPRECATION
def test_spatiotemporal_iou_equals_mmaction():
    rng = np.random.default_rng(0)
    for _ in range(50):
        s1, s2 = rng.integers(1, 20, 2)
        t1 = moving_tube(
            np.arange(s1, s1 + rng.integers(2, 15)),
            *rng.uniform(0, 50, 2),
            speed=rng.normal())
        t2 = moving_tube(
            np.arange(s2, s2 + rng.integers(2, 15)),
            *rng.uniform(0, 50, 2),
            speed=rng.normal())
        assert spatiotemporal_iou(t1, t2, temporal_plus_one=False) == \
            pytest.approx(iou3dt_voc(t1, t2))


def random_tubes(rng, gt, videos, num_classes):
    """Detected tubes: shifted / re-timed copies of the ground truth (some
    with the wrong class) and a few random ones; distinct scores."""
    tubes = {c: [] for c in range(num_classes)}
    for video in videos:
        for label, tube_list in gt['gttubes'][video].items():
            for tube in tube_list:
                for _ in range(2):
                    start = max(1, int(tube[0, 0]) + int(rng.integers(-6, 6)))
                    end = max(start + 1,
                              int(tube[-1, 0]) + int(rng.integers(-6, 6)))
                    lab = label if rng.random() < 0.8 else int(
                        rng.integers(0, num_classes))
                    tubes[lab].append((video, 0.0,
                                       moving_tube(
                                           np.arange(start,
                                                     min(end, 40) + 1),
                                           tube[0, 1] + rng.normal(0, 8),
                                           tube[0, 2] + rng.normal(0, 8))))
        for _ in range(2):
            start = int(rng.integers(1, 30))
            tubes[int(rng.integers(0, num_classes))].append(
                (video, 0.0, moving_tube(np.arange(start, start + 8), 5, 5)))
    count = sum(len(t) for t in tubes.values())
    scores = iter(rng.permutation(count) / count + 1e-3)
    return {
        c: [(v, float(next(scores)), t) for v, _, t in ts]
        for c, ts in tubes.items()
    }


@IGNORE_NUMPY_DEPRECATION
@pytest.mark.parametrize('seed', [0, 1, 2])
def test_video_ap_equals_mmaction(seed):
    rng = np.random.default_rng(seed)
    gt, videos = random_gt(rng, num_classes=4)
    tubes = random_tubes(rng, gt, videos, num_classes=4)
    ours = video_ap(
        tubes, gt, videos, (0.2, 0.5, 0.75), temporal_plus_one=False)
    for thr, result in ours.items():
        theirs = videoAP(gt, tubes, thr, print_info=False)
        assert 100 * result['mAP'] == pytest.approx(theirs, abs=1e-9)
    assert ours[0.2]['mAP'] > ours[0.75]['mAP']


def test_video_ap_errors():
    gt, videos = random_gt(np.random.default_rng(0))
    tube = moving_tube(np.arange(1, 5), 0, 0)
    with pytest.raises(ValueError, match="video 'x/y'"):
        video_ap({0: [('x/y', 0.5, tube)]}, gt, videos)
    with pytest.raises(ValueError, match='label 7'):
        video_ap({7: [(videos[0], 0.5, tube)]}, gt, videos)
    with pytest.raises(ValueError, match='iou_thrs'):
        video_ap({}, gt, videos, (0.0, ))


def test_video_ap_without_tubes():
    gt, videos = random_gt(np.random.default_rng(0))
    result = video_ap({}, gt, videos, (0.5, ))[0.5]
    assert result['mAP'] == 0.0
    assert result['num_gt'].sum() == sum(
        len(ts) for tubes in gt['gttubes'].values() for ts in tubes.values())


def test_detections_to_boxes_merges_class_rows():
    box, other = [1., 2., 3., 4.], [5., 6., 7., 8.]
    rows = np.array([
        [1, 3, 0, 0.2, *box],
        [0, 3, 1, 0.5, *box],  # another video: another box
        [1, 3, 2, 0.7, *box],
        [1, 3, 2, 0.6, *box],  # repeated pair: the best score stays
        [1, 2, 1, 0.4, *other],
    ])
    dets = parse_detections(rows, ['a', 'b'], None, num_classes=3)
    video, frame, boxes, scores = detections_to_boxes(dets, 3)
    np.testing.assert_array_equal(video, [0, 1, 1])
    np.testing.assert_array_equal(frame, [3, 2, 3])
    np.testing.assert_array_equal(boxes, [box, other, box])
    np.testing.assert_allclose(scores, [[0, .5, 0], [0, .4, 0], [.2, 0, .7]])


def test_temporal_trim():
    scores = np.array([[.9] * 5 + [.1] * 2 + [.9] * 5, [.1] * 4 + [.9] * 8])
    # A two-frame dip costs 0.8, two label changes 2: bridged.
    keep = temporal_trim(scores, thr=0.5, penalty=1.0)
    np.testing.assert_array_equal(keep[0], np.ones(12, bool))
    np.testing.assert_array_equal(keep[1], [False] * 4 + [True] * 8)
    keep = temporal_trim(scores, thr=0.5, penalty=0.1)
    np.testing.assert_array_equal(keep[0],
                                  [True] * 5 + [False] * 2 + [True] * 5)


def test_gap_interpolation():
    frames, left, right, weight = gap_interpolation(np.array([3, 4, 8]))
    np.testing.assert_array_equal(frames, [3, 4, 5, 6, 7, 8])
    values = np.array([0., 10., 50.])
    np.testing.assert_allclose(
        values[left] * (1 - weight) + values[right] * weight,
        [0, 10, 20, 30, 40, 50])


def as_boxes(tracks):
    """(frames, boxes, scores) of per-frame boxes from ``[(tube, scores)]``
    with ``scores`` ``(n, C)``."""
    frames = np.concatenate([t[:, 0] for t, _ in tracks]).astype(np.int64)
    boxes = np.concatenate([t[:, 1:5] for t, _ in tracks])
    scores = np.concatenate([s for _, s in tracks])
    return frames, boxes, scores


def class_scores(n, label, value, num_classes=2, other=0.01):
    scores = np.full((n, num_classes), other)
    scores[:, label] = value
    return scores


def test_link_two_moving_actors():
    """Two actors of class 0 moving in opposite directions with different
    extents become two tubes that follow them exactly."""
    first = moving_tube(np.arange(1, 31), 10, 20, speed=2)
    second = moving_tube(np.arange(8, 26), 250, 120, speed=-3)
    frames, boxes, scores = as_boxes([
        (first, class_scores(30, 0, 0.9)),
        (second, class_scores(18, 0, 0.8)),
    ])
    tubes = [t for t in link_video(frames, boxes, scores) if t[0] == 0]
    assert len(tubes) == 2
    by_start = sorted(tubes, key=lambda t: t[2][0, 0])
    np.testing.assert_allclose(by_start[0][2][:, :5], first)
    np.testing.assert_allclose(by_start[1][2][:, :5], second)
    assert by_start[0][1] == pytest.approx(0.9)
    # Class 1 scores 0.01 everywhere: trimmed away.
    assert not [t for t in link_video(frames, boxes, scores) if t[0] == 1]
    # Without trimming, class 1 gets the same two paths, scored 0.01.
    untrimmed = link_video(frames, boxes, scores, trim_thr=None)
    assert sorted(round(s, 6) for lab, s, _ in untrimmed if lab == 1) == \
        [0.01, 0.01]


def test_link_bridges_a_gap_by_interpolation():
    actor = moving_tube(np.arange(1, 21), 10, 20, speed=2)
    seen = np.isin(actor[:, 0], [11, 12, 13], invert=True)
    frames, boxes, scores = as_boxes([(actor[seen], class_scores(17, 0, 0.9))])
    (label, score,
     tube), = [t for t in link_video(frames, boxes, scores) if t[0] == 0]
    np.testing.assert_array_equal(tube[:, 0], np.arange(1, 21))
    np.testing.assert_allclose(tube[:, 1:5], actor[:, 1:5])
    assert score == pytest.approx(0.9)
    # A gap longer than max_gap splits the track.
    split = [
        t for t in link_video(frames, boxes, scores, max_gap=2) if t[0] == 0
    ]
    assert sorted((t[0, 0], t[-1, 0]) for _, _, t in split) == \
        [(1, 10), (14, 20)]


def test_link_class_switch():
    """One actor does class 0 for 12 frames, then class 1 for 8."""
    actor = moving_tube(np.arange(1, 21), 10, 20, speed=1)
    scores = np.concatenate([
        class_scores(12, 0, 0.9, other=0.05),
        class_scores(8, 1, 0.8, other=0.05)
    ])
    frames, boxes, _ = as_boxes([(actor, scores)])
    tubes = link_video(frames, boxes, scores)
    spans = sorted((lab, t[0, 0], t[-1, 0]) for lab, _, t in tubes)
    assert spans == [(0, 1, 12), (1, 13, 20)]
    whole = link_video(frames, boxes, scores, trim_thr=None)
    assert sorted((lab, t[0, 0], t[-1, 0]) for lab, _, t in whole) == \
        [(0, 1, 20), (1, 1, 20)]
    mean0 = [s for lab, s, _ in whole if lab == 0][0]
    assert mean0 == pytest.approx((12 * 0.9 + 8 * 0.05) / 20)


def test_link_does_not_jump_between_actors():
    """When one actor leaves, the path must not continue on a far-away box
    (YOWO's edge score alone would prefer that over ending)."""
    first = moving_tube(np.arange(1, 11), 10, 20)
    second = moving_tube(np.arange(11, 21), 200, 120)
    frames, boxes, scores = as_boxes([(first, class_scores(10, 0, 0.9)),
                                      (second, class_scores(10, 0, 0.9))])
    tubes = [t for lab, _, t in link_video(frames, boxes, scores) if lab == 0]
    assert sorted((t[0, 0], t[-1, 0]) for t in tubes) == [(1, 10), (11, 20)]


def rows_from_tracks(video_index, tracks):
    rows = []
    for tube, scores in tracks:
        for row, score_row in zip(tube, scores):
            rows += [[video_index, row[0], c, s, *row[1:5]]
                     for c, s in enumerate(score_row)]
    return np.array(rows)


def test_link_tubes_and_video_map_on_perfect_detections():
    gt = empty_gt(['a/v0', 'a/v1'], num_classes=2, nframes=30)
    gt['gttubes']['a/v0'][0] = [moving_tube(np.arange(3, 25), 10, 20)]
    gt['gttubes']['a/v1'][1] = [
        moving_tube(np.arange(1, 31), 10, 20, speed=2),
        moving_tube(np.arange(5, 18), 220, 120, speed=-1)
    ]
    videos = ['a/v0', 'a/v1']
    dets = np.concatenate([
        rows_from_tracks(i, [(t, class_scores(len(t), lab, 0.9))])
        for i, v in enumerate(videos)
        for lab, tubes in gt['gttubes'][v].items() for t in tubes
    ])
    tubes = link_tubes(dets, videos, num_classes=2)
    assert [len(tubes[0]), len(tubes[1])] == [1, 2]
    assert {v for v, _, _ in tubes[1]} == {'a/v1'}
    results = video_map(dets, gt, videos)
    assert sorted(results) == [0.2, 0.5, 0.75]
    for result in results.values():
        assert result['mAP'] == 1.0
        assert result['num_tubes'] == 3
