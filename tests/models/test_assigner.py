"""Tests of MultiLevelTopKAssigner (paper §3.3, last paragraph)."""
import math

import pytest
import torch
from mmaction.registry import TASK_UTILS

from mmyowo.models.task_modules import MultiLevelTopKAssigner

# Square anchors make shape IoUs obvious: (min(s, a) / max(s, a)) ** 2 for a
# square box of side s and a square anchor of side a.
SQUARE_ANCHORS = [[(10, 10), (20, 20), (30, 30)], [(40, 40), (60, 60),
                                                   (80, 80)],
                  [(100, 100), (150, 150), (200, 200)]]
STRIDES = [8, 16, 32]
SIZES_128 = [(16, 16), (8, 8), (4, 4)]  # 128 x 128 input
YOLOV3_ANCHORS = [[(10, 13), (16, 30), (33, 23)],
                  [(30, 61), (62, 45), (59, 119)],
                  [(116, 90), (156, 198), (373, 326)]]
SIZES_224 = [(28, 28), (14, 14), (7, 7)]


def prior_index(sizes, level, x, y, a, num_anchors=3):
    """Flat index of docs/architecture.md, written independently."""
    offset = sum(h * w * num_anchors for h, w in sizes[:level])
    width = sizes[level][1]
    return offset + (y * width + x) * num_anchors + a


def square(side, cx, cy):
    return [cx - side / 2, cy - side / 2, cx + side / 2, cy + side / 2]


def assign(boxes, anchors=SQUARE_ANCHORS, sizes=SIZES_128, topk=(3, 2, 1)):
    gt = torch.tensor(boxes, dtype=torch.float32).reshape(-1, 4)
    return MultiLevelTopKAssigner(topk).assign(gt, anchors, STRIDES, sizes)


def positives(assigned):
    """{prior index: gt index + 1} of the positive priors."""
    inds = assigned.nonzero().flatten().tolist()
    return {i: assigned[i].item() for i in inds}


def test_big_box_gets_coarse_and_middle_positives():
    # Side 90: IoU 0.81 with 100 (coarse), 0.79 with 80 (middle), 0.44 with
    # 60 (middle), 0.36 with 150, ... The coarsest level takes its top-1
    # anchor (100); the middle level its anchors among the top-2 (80, not 60
    # which is third); the finest level owns none of the top-3.
    assigned = assign([square(90, 70, 50)])
    assert assigned.shape == (sum(h * w * 3 for h, w in SIZES_128), )
    assert assigned.dtype == torch.long
    assert positives(assigned) == {
        prior_index(SIZES_128, 2, 2, 1, 0): 1,  # 70 // 32, 50 // 32
        prior_index(SIZES_128, 1, 4, 3, 2): 1,  # 70 // 16, 50 // 16
    }


def test_big_box_with_yolov3_anchors_only_coarse():
    # 150 x 200 at 224: top-3 anchors are (156, 198), (116, 90), (373, 326),
    # all coarse; the coarsest level only takes its top-1.
    assigned = assign([[20., 20., 170., 220.]], YOLOV3_ANCHORS, SIZES_224)
    assert positives(assigned) == {
        prior_index(SIZES_224, 2, 95 // 32, 120 // 32, 1): 1
    }


def test_small_box_gets_three_finest_positives():
    # Side 18: IoU 0.81 with 20, 0.36 with 30, 0.31 with 10, 0.20 with 40.
    assigned = assign([square(18, 37, 21)])
    assert positives(assigned) == {
        prior_index(SIZES_128, 0, 4, 2, a): 1
        for a in range(3)
    }
    # Same with the YOLOv3 anchors: a 10 x 10 box best fits the three
    # finest anchors.
    assigned = assign([[100., 100., 110., 110.]], YOLOV3_ANCHORS, SIZES_224)
    assert positives(assigned) == {
        prior_index(SIZES_224, 0, 13, 13, a): 1
        for a in range(3)
    }


def test_medium_box_spreads_over_two_levels():
    # Side 35: 40 (middle, 0.77) > 30 (finest, 0.73) > 60 (middle, 0.34).
    # Middle: top-2 of its own -> 40 only; finest: top-3 of its own -> 30;
    # coarse: not top-1 -> nothing.
    assigned = assign([square(35, 50, 90)])
    assert positives(assigned) == {
        prior_index(SIZES_128, 1, 3, 5, 0): 1,
        prior_index(SIZES_128, 0, 6, 11, 2): 1,
    }


def test_centre_on_cell_edge_goes_to_right_lower_cell():
    # Centre (32, 48): on an edge at stride 8 (cell 4, 6) and at stride 16
    # (cell 2, 3).
    assigned = assign([square(35, 32, 48)])
    assert positives(assigned) == {
        prior_index(SIZES_128, 1, 2, 3, 0): 1,
        prior_index(SIZES_128, 0, 4, 6, 2): 1,
    }


@pytest.mark.parametrize(
    'cx,cy,cell',
    [
        (130.0, 131.0, (15, 15)),  # centre beyond the input
        (128.0, 127.9, (15, 15)),  # centre exactly on the far border
        (-3.0, 5.0, (0, 0)),  # centre left of the input
        (0.0, 0.0, (0, 0)),
    ])
def test_centre_at_border_is_clamped(cx, cy, cell):
    assigned = assign([square(18, cx, cy)])
    assert positives(assigned) == {
        prior_index(SIZES_128, 0, cell[0], cell[1], a): 1
        for a in range(3)
    }


def test_two_boxes_same_cell_best_shape_wins():
    # Both centres in finest cell (4, 2). Side 18 wants anchors 20, 30, 10;
    # side 22 wants 20 (IoU 0.83 > 0.81) and 30 (0.54 > 0.36); 40 is its
    # third, a middle anchor outside the middle level's top-2.
    small, large = square(18, 37, 21), square(22, 38, 22)
    cell = [prior_index(SIZES_128, 0, 4, 2, a) for a in range(3)]
    assert positives(assign([small, large])) == {
        cell[0]: 1,
        cell[1]: 2,
        cell[2]: 2
    }
    # The outcome follows the boxes, not the annotation order.
    assert positives(assign([large, small])) == {
        cell[0]: 2,
        cell[1]: 1,
        cell[2]: 1
    }


def test_two_identical_boxes_tie_goes_to_lower_index():
    box = square(18, 37, 21)
    assert positives(assign([box, box])) == {
        prior_index(SIZES_128, 0, 4, 2, a): 1
        for a in range(3)
    }


def test_two_boxes_same_cell_different_anchors_both_kept():
    assigned = assign([square(18, 70, 50), square(90, 70, 50)])
    expected = {prior_index(SIZES_128, 0, 8, 6, a): 1 for a in range(3)}
    expected[prior_index(SIZES_128, 2, 2, 1, 0)] = 2
    expected[prior_index(SIZES_128, 1, 4, 3, 2)] = 2
    assert positives(assigned) == expected


def test_empty_gt_gives_all_negative():
    assigned = MultiLevelTopKAssigner().assign(
        torch.zeros(0, 4), SQUARE_ANCHORS, STRIDES, SIZES_128)
    assert assigned.dtype == torch.long
    assert assigned.shape == (sum(h * w * 3 for h, w in SIZES_128), )
    assert not assigned.any()


def test_top1_everywhere_is_yolov3_rule():
    # (1, 1, 1): exactly one positive per box, at its best anchor overall.
    assigned = assign(
        [square(90, 70, 50),
         square(35, 50, 90),
         square(18, 37, 21)],
        topk=(1, 1, 1))
    assert positives(assigned) == {
        prior_index(SIZES_128, 2, 2, 1, 0): 1,
        prior_index(SIZES_128, 1, 3, 5, 0): 2,
        prior_index(SIZES_128, 0, 4, 2, 1): 3,
    }


def brute_force(boxes, anchors, strides, sizes, topk):
    """Plain-Python reading of §3.3, one (gt, anchor) pair at a time.

    Returns the {prior: gt + 1} assignment and the number of claims on an
    already claimed prior.
    """
    flat = [(lvl, a, w, h) for lvl, level in enumerate(anchors)
            for a, (w, h) in enumerate(level)]
    claims, conflicts = {}, 0
    for g, (x1, y1, x2, y2) in enumerate(boxes):
        bw, bh = max(x2 - x1, 0.0), max(y2 - y1, 0.0)
        ious = []
        for _, _, w, h in flat:
            inter = min(bw, w) * min(bh, h)
            ious.append(inter / (bw * bh + w * h - inter))
        ranking = sorted(range(len(flat)), key=lambda k: (-ious[k], k))
        for rank, k in enumerate(ranking):
            lvl, a, _, _ = flat[k]
            if rank >= topk[lvl]:
                continue
            rows, cols = sizes[lvl]
            x = min(max(math.floor((x1 + x2) / 2 / strides[lvl]), 0), cols - 1)
            y = min(max(math.floor((y1 + y2) / 2 / strides[lvl]), 0), rows - 1)
            idx = prior_index(sizes, lvl, x, y, a)
            best = claims.get(idx)
            conflicts += best is not None
            if best is None or ious[k] > best[0]:
                claims[idx] = (ious[k], g + 1)
    return {idx: g for idx, (_, g) in claims.items()}, conflicts


@pytest.mark.parametrize('topk', [(3, 2, 1), (2, 2, 2), (4, 0, 1)])
def test_matches_brute_force_on_random_boxes(topk):
    gen = torch.Generator().manual_seed(0)
    centres = torch.rand(12, 2, generator=gen) * 224
    # Pairs of boxes share a centre to provoke conflicts.
    centres[1::2] = centres[0::2] + 1.0
    wh = torch.rand(12, 2, generator=gen) * 200 + 4
    boxes = torch.cat([centres - wh / 2, centres + wh / 2], dim=1)
    assigned = MultiLevelTopKAssigner(topk).assign(boxes, YOLOV3_ANCHORS,
                                                   STRIDES, SIZES_224)
    expected, conflicts = brute_force(boxes.tolist(), YOLOV3_ANCHORS, STRIDES,
                                      SIZES_224, topk)
    assert positives(assigned) == expected
    assert conflicts > 0  # the data exercises the conflict rule


def test_accepts_tensor_anchors_and_keeps_device():
    gt = torch.tensor([square(18, 37, 21)], requires_grad=True)
    anchors = [
        torch.tensor(level, dtype=torch.float32) for level in SQUARE_ANCHORS
    ]
    assigned = MultiLevelTopKAssigner().assign(gt, anchors, STRIDES, SIZES_128)
    assert assigned.device == gt.device
    assert positives(assigned) == positives(assign([square(18, 37, 21)]))


def test_bad_input_raises():
    assigner = MultiLevelTopKAssigner()
    gt = torch.tensor([square(18, 37, 21)])
    with pytest.raises(ValueError, match='one entry per level'):
        assigner.assign(gt, SQUARE_ANCHORS[:2], STRIDES[:2], SIZES_128[:2])
    with pytest.raises(ValueError, match='one entry per level'):
        assigner.assign(gt, SQUARE_ANCHORS, STRIDES, SIZES_128[:2])
    with pytest.raises(ValueError, match=r'\(N, 4\)'):
        assigner.assign(gt[0], SQUARE_ANCHORS, STRIDES, SIZES_128)
    with pytest.raises(ValueError, match='positive'):
        assigner.assign(gt, [[(0, 10)], [(20, 20)], [(40, 40)]], STRIDES,
                        SIZES_128)
    with pytest.raises(ValueError, match='topk_per_level'):
        MultiLevelTopKAssigner((3, -1, 1))
    with pytest.raises(ValueError, match='topk_per_level'):
        MultiLevelTopKAssigner(())


def test_registered_in_task_utils():
    assigner = TASK_UTILS.build(
        dict(type='MultiLevelTopKAssigner', topk_per_level=(2, 2, 1)))
    assert isinstance(assigner, MultiLevelTopKAssigner)
    assert assigner.topk_per_level == (2, 2, 1)
