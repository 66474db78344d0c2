"""frame_map: hand-made cases with known AP, the two protocols, the pixel
convention, input errors, and equality with mmaction2's ``frameAP``."""
import numpy as np
import pytest
from mmaction.evaluation.functional.multisports_utils import frameAP

from mmyowo.evaluation.functional import (box_iou, boxes_intersect, frame_map,
                                          voc_average_precision)
from ._synthetic import empty_gt, random_detections, random_gt

BOX_A = [10., 10., 60., 90.]
BOX_B = [200., 100., 260., 180.]
FAR = [150., 0., 190., 40.]


def two_video_gt():
    """Video 0: class 0 at BOX_A on frames 1-3; video 1: class 1 at BOX_B on
    frame 2, class 0 at BOX_A on frame 2."""
    gt = empty_gt(['a/v0', 'a/v1'], num_classes=3, nframes=5)
    gt['gttubes']['a/v0'][0] = [np.array([[f, *BOX_A] for f in (1, 2, 3)])]
    gt['gttubes']['a/v1'][1] = [np.array([[2, *BOX_B]])]
    gt['gttubes']['a/v1'][0] = [np.array([[2, *BOX_A]])]
    return gt, ['a/v0', 'a/v1']


def test_voc_average_precision_known_values():
    # TP, FP, TP over 2 ground truths: 0.5 * 1 + 0.5 * 2/3.
    assert voc_average_precision([.5, .5, 1.], [1., .5, 2 / 3]) == \
        pytest.approx(0.5 + 1 / 3)
    # The envelope lifts an early low precision to a later higher one.
    assert voc_average_precision([0., .5, 1.], [0., .5, 2 / 3]) == \
        pytest.approx(2 / 3)
    assert voc_average_precision([], []) == 0.0


def test_box_iou_conventions():
    a, b = np.array([0., 0., 9., 9.]), np.array([0., 0., 9., 4.])
    assert box_iou(a, b) == pytest.approx(36 / 81)
    assert box_iou(a, b, pixel_plus_one=True) == pytest.approx(50 / 100)
    matrix = box_iou(np.array([a, b])[:, None], np.array([a, b, a])[None])
    assert matrix.shape == (2, 3)
    assert matrix[0, 2] == 1.0
    # Zero-area boxes overlap nothing instead of dividing by zero.
    assert box_iou(np.zeros(4), np.zeros(4)) == 0.0


def test_perfect_detections_give_ap_one():
    gt, videos = two_video_gt()
    dets = np.array([[0, f, 0, 0.9, *BOX_A] for f in (1, 2, 3)] +
                    [[1, 2, 1, 0.8, *BOX_B], [1, 2, 0, 0.7, *BOX_A]])
    result = frame_map(dets, gt, videos)
    assert result['mAP'] == 1.0
    np.testing.assert_array_equal(result['ap'][:2], [1.0, 1.0])
    # Class 2 has no ground truth: NaN and left out of the mean.
    assert np.isnan(result['ap'][2])
    np.testing.assert_array_equal(result['num_gt'], [4, 1, 0])
    np.testing.assert_array_equal(result['num_tp'], [4, 1, 0])


def test_false_positive_ranked_above_true_positive():
    gt, videos = two_video_gt()
    dets = np.array([
        [0, 1, 0, 0.95, *FAR],  # FP first
        [0, 1, 0, 0.90, *BOX_A],
        [0, 2, 0, 0.80, *BOX_A],
        [0, 3, 0, 0.70, *BOX_A],
        [1, 2, 0, 0.60, *BOX_A],
    ])
    result = frame_map(dets, gt, videos)
    # precision 0, 1/2, 2/3, 3/4, 4/5 at recall 0, 1/4, ..., 1.
    np.testing.assert_allclose(result['precision'][0],
                               [0, 1 / 2, 2 / 3, 3 / 4, 4 / 5])
    np.testing.assert_allclose(result['recall'][0], [0, .25, .5, .75, 1.])
    # The monotone envelope lifts every step to the final precision 4/5.
    assert result['ap'][0] == pytest.approx(0.8)
    # Class 1 has ground truth but no detection: AP 0.
    assert result['ap'][1] == 0.0
    assert result['mAP'] == pytest.approx(result['ap'][0] / 2)


def test_duplicate_detection_is_false_positive():
    gt, videos = two_video_gt()
    dets = np.array([
        [0, 1, 0, 0.9, *BOX_A],
        [0, 1, 0, 0.8, *(np.array(BOX_A) + 2)],  # duplicate of the same GT
        [0, 2, 0, 0.7, *BOX_A],
    ])
    result = frame_map(dets, gt, videos)
    assert result['num_tp'][0] == 2
    np.testing.assert_allclose(result['precision'][0], [1, .5, 2 / 3])
    # Missing ground truth (frame 3 of v0, frame 2 of v1): recall < 1.
    assert result['recall'][0][-1] == 0.5
    assert result['ap'][0] == pytest.approx(0.25 + 0.25 * 2 / 3)


def test_best_overlap_decides_and_is_not_reassigned():
    """A detection whose best GT is taken is a FP even if it overlaps another
    free GT enough (VOC rule)."""
    gt = empty_gt(['a/v0'], num_classes=1, nframes=2)
    left, right = [0., 0., 100., 100.], [20., 0., 120., 100.]
    gt['gttubes']['a/v0'][0] = [
        np.array([[1, *left]]),
        np.array([[1, *right]])
    ]
    second = [8., 0., 108., 100.]
    # The second box overlaps `left` by 0.85 and the free `right` by 0.79.
    assert box_iou(np.array(second), np.array(right)) > 0.5
    dets = np.array([[0, 1, 0, 0.9, *left], [0, 1, 0, 0.8, *second]])
    result = frame_map(dets, gt, ['a/v0'], iou_thr=0.5)
    assert result['num_tp'][0] == 1


def test_protocols_differ_on_unannotated_frames():
    gt, videos = two_video_gt()
    dets = np.array([
        [0, 5, 0, 0.99, *BOX_A],  # frame 5 of v0 carries no ground truth
        [0, 1, 0, 0.9, *BOX_A],
        [0, 2, 0, 0.8, *BOX_A],
        [0, 3, 0, 0.7, *BOX_A],
        [1, 2, 0, 0.6, *BOX_A],
        [1, 2, 1, 0.5, *BOX_B],
    ])
    annotated = frame_map(dets, gt, videos, protocol='annotated')
    every = frame_map(dets, gt, videos, protocol='all')
    assert annotated['ap'][0] == 1.0
    assert annotated['num_dets'][0] == 4
    assert annotated['num_frames'] == 4
    assert every['ap'][0] == pytest.approx(0.8)
    assert every['num_frames'] == 10
    # A class-2 detection on an annotated frame is a FP in both.
    dets2 = np.vstack([dets, [[1, 2, 2, 0.4, *BOX_B]]])
    assert frame_map(dets2, gt, videos)['num_dets'][2] == 1


def test_pixel_plus_one_convention():
    gt = empty_gt(['a/v0'], num_classes=1, nframes=1)
    gt['gttubes']['a/v0'][0] = [np.array([[1, 0., 0., 9., 9.]])]
    dets = np.array([[0, 1, 0, 0.9, 0., 0., 9., 4.]])
    # IoU 36/81 < 0.5 with continuous corners, 50/100 with +1 pixels (the
    # default, YOWO family).
    assert frame_map(dets, gt, ['a/v0'], pixel_plus_one=False)['mAP'] == 0.0
    assert frame_map(dets, gt, ['a/v0'])['mAP'] == 1.0


def test_detection_corners_are_rounded():
    """The YOWO family writes rounded corners: 3.6 becomes 4, which turns
    IoU 46/100 (+1 pixels) into 50/100."""
    gt = empty_gt(['a/v0'], num_classes=1, nframes=1)
    gt['gttubes']['a/v0'][0] = [np.array([[1, 0., 0., 9., 9.]])]
    dets = np.array([[0, 1, 0, 0.9, 0.4, 0., 9., 3.6]])
    assert frame_map(dets, gt, ['a/v0'], round_boxes=False)['mAP'] == 0.0
    assert frame_map(dets, gt, ['a/v0'])['mAP'] == 1.0
    # Half-way corners round to even, as Python's round: 2.5 -> 2 (IoU
    # 30/100), 3.5 -> 4 (IoU 50/100).
    dets[0, 7] = 2.5
    assert frame_map(dets, gt, ['a/v0'], iou_thr=0.35)['mAP'] == 0.0
    dets[0, 7] = 3.5
    assert frame_map(dets, gt, ['a/v0'], iou_thr=0.35)['mAP'] == 1.0


def test_boxes_apart_by_a_fraction_of_a_pixel_do_not_overlap():
    """+1 areas give boxes 0.4 px apart a sliver of overlap (IoU 0.25 here);
    Padilla's evaluator (YOWO family) checks that they intersect."""
    thin_gt = np.array([0.4, 0., 0.4, 10.])
    det = np.array([-0.6, 0., 0., 10.])  # rounds to [-1, 0, 0, 10]
    assert box_iou(np.round(det), thin_gt, pixel_plus_one=True) > 0.2
    assert not boxes_intersect(np.round(det), thin_gt)
    gt = empty_gt(['a/v0'], num_classes=1, nframes=1)
    gt['gttubes']['a/v0'][0] = [np.array([[1, *thin_gt]])]
    dets = np.array([[0, 1, 0, 0.9, *det]])
    assert frame_map(dets, gt, ['a/v0'], iou_thr=0.2)['mAP'] == 0.0
    touching = np.array([[0, 1, 0, 0.9, -1., 0., 0.4, 10.]])
    assert frame_map(
        touching, gt, ['a/v0'], iou_thr=0.2, round_boxes=False)['mAP'] == 1.0


def test_empty_detections():
    gt, videos = two_video_gt()
    result = frame_map(np.zeros((0, 8)), gt, videos)
    assert result['mAP'] == 0.0
    np.testing.assert_array_equal(result['num_dets'], [0, 0, 0])


@pytest.mark.parametrize('row, message', [
    ([2, 1, 0, .5, *BOX_A], 'video index'),
    ([0, 6, 0, .5, *BOX_A], "frame beyond the 5 frames of video 'a/v0'"),
    ([0, 0, 0, .5, *BOX_A], 'frame numbers start at 1'),
    ([0, 1, 3, .5, *BOX_A], 'label outside'),
    ([0, 1.5, 0, .5, *BOX_A], 'must be integers'),
    ([0, 1, 0, np.nan, *BOX_A], 'non-finite'),
    ([0, 1, 0, .5, 50., 10., 10., 90.], 'x2 < x1'),
])
def test_bad_rows_are_named(row, message):
    gt, videos = two_video_gt()
    dets = np.array([[0, 1, 0, .9, *BOX_A], row])
    with pytest.raises(ValueError, match='detections row 1') as err:
        frame_map(dets, gt, videos)
    assert message in str(err.value)


def test_bad_arguments():
    gt, videos = two_video_gt()
    with pytest.raises(ValueError, match='shape'):
        frame_map(np.zeros((3, 7)), gt, videos)
    with pytest.raises(ValueError, match='protocol'):
        frame_map(np.zeros((0, 8)), gt, videos, protocol='keyframes')
    with pytest.raises(ValueError, match='iou_thr'):
        frame_map(np.zeros((0, 8)), gt, videos, iou_thr=0)
    with pytest.raises(
            ValueError, match="unknown to the ground truth.*"
            "'a/v9'"):
        frame_map(np.zeros((0, 8)), gt, videos + ['a/v9'])


@pytest.mark.parametrize('seed', [0, 1])
@pytest.mark.parametrize('iou_thr', [0.3, 0.5, 0.7])
def test_equals_mmaction_frame_ap(seed, iou_thr):
    """protocol='all' with continuous corners is mmaction2's frameAP (which
    also skips classes without ground truth); protocol='annotated' is frameAP
    on the detections of annotated frames."""
    rng = np.random.default_rng(seed)
    gt, videos = random_gt(rng, num_classes=4)
    dets = random_detections(rng, gt, videos, num_classes=4)
    continuous = dict(pixel_plus_one=False, round_boxes=False)
    ours = frame_map(dets, gt, videos, iou_thr, protocol='all', **continuous)
    theirs = frameAP(gt, dets, iou_thr, print_info=False)
    assert 100 * ours['mAP'] == pytest.approx(theirs, abs=1e-9)

    annotated = {(videos.index(v), int(f))
                 for v, tubes in gt['gttubes'].items()
                 for ts in tubes.values()
                 for t in ts
                 for f in t[:, 0]}
    keep = [(int(r[0]), int(r[1])) in annotated for r in dets]
    ours = frame_map(
        dets, gt, videos, iou_thr, protocol='annotated', **continuous)
    theirs = frameAP(gt, dets[keep], iou_thr, print_info=False)
    assert 100 * ours['mAP'] == pytest.approx(theirs, abs=1e-9)
    assert ours['num_dets'].sum() == sum(keep)
