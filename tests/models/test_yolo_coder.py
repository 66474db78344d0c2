"""Tests of the YOLOv3 box coding and the prior flattening order."""
import math

import pytest
import torch
from mmdet.models.task_modules import YOLOAnchorGenerator, YOLOBBoxCoder

from mmyowo.models.task_modules import (MAX_LOG_WH_RATIO, make_grid_priors,
                                        yolo_decode)

ANCHORS = [[(10, 13), (16, 30), (33, 23)], [(30, 61), (62, 45), (59, 119)]]


def test_grid_priors_follow_documented_order():
    h, w = 2, 3
    base = torch.tensor([[4., 5.], [6., 7.]])
    grid, wh = make_grid_priors((h, w), base, 'cpu')
    assert grid.shape == wh.shape == (h * w * 2, 2)
    for y in range(h):
        for x in range(w):
            for a in range(2):
                index = (y * w + x) * 2 + a
                assert grid[index].tolist() == [x, y]
                assert wh[index].tolist() == base[a].tolist()


def test_grid_priors_accept_sequences_and_device():
    grid, wh = make_grid_priors((1, 2), [(3, 4)], torch.device('cpu'))
    assert grid.tolist() == [[0, 0], [1, 0]]
    assert wh.tolist() == [[3, 4], [3, 4]]
    assert grid.dtype == wh.dtype == torch.float32


@pytest.mark.parametrize('kwargs,match', [
    (dict(featmap_size=(0, 3)), 'featmap_size'),
    (dict(base_anchors=[1., 2.]), r'\(A, 2\)'),
])
def test_grid_priors_bad_input(kwargs, match):
    args = dict(featmap_size=(2, 2), base_anchors=[(1., 2.)], device='cpu')
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        make_grid_priors(**args)


def test_decode_matches_hand_computation():
    deltas = torch.tensor([[0.3, -1.2, 0.5, -0.25]])
    grid = torch.tensor([[4., 2.]])
    anchors = torch.tensor([[30., 61.]])
    box = yolo_decode(deltas, grid, anchors, 16)[0].tolist()
    cx = (1 / (1 + math.exp(-0.3)) + 4) * 16
    cy = (1 / (1 + math.exp(1.2)) + 2) * 16
    bw = math.exp(0.5) * 30
    bh = math.exp(-0.25) * 61
    assert box == pytest.approx(
        [cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2], rel=1e-6)


def test_decode_zero_deltas_give_anchor_at_cell_centre():
    grid, wh = make_grid_priors((2, 2), [(8., 12.)], 'cpu')
    boxes = yolo_decode(torch.zeros(4, 4), grid, wh, 8)
    centres = (boxes[:, :2] + boxes[:, 2:]) / 2
    torch.testing.assert_close(centres, (grid + 0.5) * 8)
    torch.testing.assert_close(boxes[:, 2:] - boxes[:, :2], wh)


def test_decode_matches_mmdet_anchor_generator_and_coder():
    # mmdet's YOLO anchors are centred at (x + 0.5) * stride, flattened
    # (y, x, a) and its coder takes sigmoid(txy): an independent
    # implementation of both the prior order and the decoding.
    sizes = [(3, 4), (2, 2)]
    strides = [8, 16]
    mm_priors = YOLOAnchorGenerator(strides, ANCHORS).grid_priors(
        sizes, device='cpu')
    coder = YOLOBBoxCoder()
    torch.manual_seed(0)
    for size, base, stride, priors in zip(sizes, ANCHORS, strides, mm_priors):
        grid, wh = make_grid_priors(size, base, 'cpu')
        deltas = torch.randn(2, grid.shape[0], 4)
        ours = yolo_decode(deltas, grid, wh, stride)
        mm_deltas = torch.cat([deltas[..., :2].sigmoid(), deltas[..., 2:]],
                              dim=-1)
        theirs = coder.decode(priors.expand(2, -1, -1), mm_deltas, stride)
        torch.testing.assert_close(ours, theirs, rtol=1e-5, atol=1e-4)


def test_decode_broadcasts_per_prior_strides():
    # Levels decoded one by one equal one decode of the concatenation with a
    # (num_priors, 1) stride tensor, batched over a leading dimension.
    torch.manual_seed(0)
    grids, whs, strides = [], [], []
    for size, base, stride in zip([(2, 3), (1, 2)], ANCHORS, [8, 16]):
        grid, wh = make_grid_priors(size, base, 'cpu')
        grids.append(grid)
        whs.append(wh)
        strides.append(torch.full((grid.shape[0], 1), float(stride)))
    deltas = torch.randn(3, sum(g.shape[0] for g in grids), 4)
    joint = yolo_decode(deltas, torch.cat(grids), torch.cat(whs),
                        torch.cat(strides))
    n0 = grids[0].shape[0]
    torch.testing.assert_close(
        joint[:, :n0], yolo_decode(deltas[:, :n0], grids[0], whs[0], 8))
    torch.testing.assert_close(
        joint[:, n0:], yolo_decode(deltas[:, n0:], grids[1], whs[1], 16))


def test_decode_clamps_size_logits():
    deltas = torch.tensor([[0., 0., 1e4, -1e4]], requires_grad=True)
    box = yolo_decode(deltas, torch.zeros(1, 2), torch.tensor([[10., 20.]]), 8)
    assert torch.isfinite(box).all()
    width, height = (box[0, 2:] - box[0, :2]).tolist()
    assert width == pytest.approx(10 * math.exp(MAX_LOG_WH_RATIO), rel=1e-5)
    assert height == pytest.approx(20 * math.exp(-MAX_LOG_WH_RATIO), rel=1e-5)
    box.sum().backward()
    assert torch.isfinite(deltas.grad).all()
    with pytest.raises(ValueError, match=r'\(\.\.\., 4\)'):
        yolo_decode(torch.zeros(1, 5), torch.zeros(1, 2), torch.ones(1, 2), 8)
