import math

import pytest
import torch
from mmaction.registry import MODELS
from mmengine.registry import init_default_scope
from mmengine.structures import InstanceData

from mmyowo.models.dense_heads import YOWOHead

NUM_CLASSES = 3


def build_head(**test_cfg) -> YOWOHead:
    init_default_scope('mmaction')
    head = MODELS.build(
        dict(
            type='YOWOHead',
            head_module=dict(
                type='YOWOHeadModule',
                num_classes=NUM_CLASSES,
                in_channels=(8, 16, 32),
                se_ratio=4),
            test_cfg=test_cfg or None))
    head.init_weights()
    return head


def feats(batch=2, size=64):
    return [
        torch.randn(batch, c, size // s, size // s)
        for c, s in zip((8, 16, 32), (8, 16, 32))
    ]


def test_head_module_output_shapes_and_bias_init():
    head = build_head()
    outs = head(feats())
    assert [tuple(o.shape) for o in outs] == [(2, 3 * (5 + NUM_CLASSES), 8, 8),
                                              (2, 3 * (5 + NUM_CLASSES), 4, 4),
                                              (2, 3 * (5 + NUM_CLASSES), 2, 2)]
    expected = -math.log((1 - 0.01) / 0.01)
    for pred in head.head_module.preds:
        bias = pred.bias.view(3, 5 + NUM_CLASSES)
        assert torch.all(bias[:, :4] == 0)
        torch.testing.assert_close(bias[:, 4:],
                                   torch.full_like(bias[:, 4:], expected))


def test_flatten_order_matches_priors():
    head = build_head()
    maps = head(feats(batch=1))
    flat = head.flatten_preds(maps)
    assert flat.shape == (1, 3 * (64 + 16 + 4), 5 + NUM_CLASSES)
    # Prior (level 1, y=2, x=3, anchor 1) -> index 3*64 + (2*4 + 3)*3 + 1.
    idx = 3 * 64 + (2 * 4 + 3) * 3 + 1
    raw = maps[1][0].view(3, 5 + NUM_CLASSES, 4, 4)[1, :, 2, 3]
    torch.testing.assert_close(flat[0, idx], raw)
    grid, anchors, strides = head.grid_priors([(8, 8), (4, 4), (2, 2)],
                                              torch.device('cpu'))
    torch.testing.assert_close(grid[idx], torch.tensor([3., 2.]))
    torch.testing.assert_close(anchors[idx], head.base_anchors[1, 1])
    assert strides[idx].item() == 16


def test_loss_is_finite_and_backpropagates_with_and_without_gt():
    torch.manual_seed(0)
    head = build_head()
    x = [f.requires_grad_() for f in feats()]
    gts = [
        InstanceData(
            bboxes=torch.tensor([[10., 12., 40., 50.]]),
            labels=torch.tensor([2])),
        InstanceData(
            bboxes=torch.zeros(0, 4), labels=torch.zeros(0, dtype=torch.long))
    ]
    losses = head.loss_by_feat(head(x), gts)
    assert set(losses) == {'loss_bbox', 'loss_conf', 'loss_cls'}
    total = sum(losses.values())
    assert torch.isfinite(total)
    total.backward()
    assert all(torch.isfinite(f.grad).all() for f in x)
    assert losses['loss_bbox'] > 0 and losses['loss_cls'] > 0
    empty = head.loss_by_feat(head(feats()), [gts[1], gts[1]])
    assert empty['loss_bbox'] == 0 and empty['loss_cls'] == 0
    assert empty['loss_conf'] > 0


def confident_maps(head):
    """Head maps of one 64x64 input with three confident priors.

    Two overlapping priors on level 0 (anchors 0 and 1 of cell y=4, x=4,
    centred at (36, 36) input pixels) and one far away (cell 0, 0); class 1
    wins on all.
    """
    maps = [torch.full_like(m, -10.0) for m in head(feats(batch=1))]
    view = maps[0][0].view(3, 5 + NUM_CLASSES, 8, 8)
    view[:, :4] = 0.0
    for a, (y, x) in ((0, (4, 4)), (1, (4, 4)), (2, (0, 0))):
        view[a, 4, y, x] = 5.0
        view[a, 5 + 1, y, x] = 3.0 + a
    return maps


def test_predict_rescales_thresholds_and_nms():
    head = build_head(score_thr=0.3, nms_iou_thr=0.4, max_per_img=5)
    maps = confident_maps(head)
    meta = dict(
        img_shape=(64, 64), ori_shape=(128, 256), scale_factor=(0.25, 0.5))
    result = head.predict_by_feat(maps, [meta])[0]
    assert result.scores.shape[1] == NUM_CLASSES
    assert torch.all(result.labels == 1)
    # Anchors 0 (5x7) and 1 (9x16) at the same centre overlap by IoU 0.24 <
    # 0.4, so NMS keeps both, plus the corner one.
    assert len(result) == 3
    best = result.scores.max(dim=1).values
    assert torch.all(best[:-1] >= best[1:])
    # Centre of cell (4, 4) at stride 8 is (36, 36) in the input, i.e.
    # (144, 72) in the original frame.
    centres = (result.bboxes[:, :2] + result.bboxes[:, 2:]) / 2
    assert any(torch.allclose(c, torch.tensor([144., 72.])) for c in centres)
    assert result.bboxes[:, 0::2].max() <= 256
    assert result.bboxes[:, 1::2].max() <= 128
    assert result.bboxes.min() >= 0


@pytest.mark.parametrize('missing', ['scale_factor', 'ori_shape'])
def test_rescale_without_scale_factor_or_ori_shape_is_an_error(missing):
    """Boxes used to stay silently in input pixels without scale_factor."""
    head = build_head(score_thr=0.3, nms_iou_thr=0.4, max_per_img=5)
    maps = confident_maps(head)
    meta = dict(
        img_shape=(64, 64), ori_shape=(128, 256), scale_factor=(0.25, 0.5))
    del meta[missing]
    with pytest.raises(
            KeyError,
            match=f"lacks \\['{missing}'\\].*"
            'rescale=True.*PackActionInputs'):
        head.predict_by_feat(maps, [meta])
    # Without rescaling the boxes are input pixels, clipped to img_shape:
    # the centre of cell (4, 4) at stride 8 is (36, 36).
    result = head.predict_by_feat(maps, [meta], rescale=False)[0]
    assert len(result) == 3
    centres = (result.bboxes[:, :2] + result.bboxes[:, 2:]) / 2
    assert any(torch.allclose(c, torch.tensor([36., 36.])) for c in centres)
    assert result.bboxes.max() <= 64 and result.bboxes.min() >= 0


def test_rejects_wrong_anchor_shape():
    init_default_scope('mmaction')
    with pytest.raises(ValueError, match='base_anchors'):
        MODELS.build(
            dict(
                type='YOWOHead',
                base_anchors=[[(1, 1)]] * 3,
                head_module=dict(type='YOWOHeadModule', num_classes=2)))
