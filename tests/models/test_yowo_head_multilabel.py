"""Multi-hot class targets of YOWOHead (eq. 9 over all classes of a box)."""
import pytest
import torch
import torch.nn.functional as F
from mmengine.structures import InstanceData
from torchvision.ops import sigmoid_focal_loss

from .test_yowo_head import NUM_CLASSES, build_head, feats


def gts(labels_per_image):
    boxes = [
        torch.tensor([[10., 12., 40., 50.], [30., 8., 60., 40.]]),
        torch.tensor([[4., 20., 28., 60.]])
    ]
    return [
        InstanceData(bboxes=b[:len(l)], labels=l)
        for b, l in zip(boxes, labels_per_image)
    ]


def expected_loss_cls(head, maps, gt_instances):
    """torchvision's sigmoid focal loss (alpha 0.25, gamma 2) of each positive
    prior's class logits against its ground truth's target row, summed and
    divided by the number of positives."""
    preds, boxes = head.decode(maps)
    sizes = [tuple(m.shape[-2:]) for m in maps]
    total, num_pos = 0., 0
    for b, gt in enumerate(gt_instances):
        assigned, _, _ = head.get_targets(boxes[b], gt, sizes)
        pos = assigned > 0
        rows = gt.labels
        if rows.dim() == 1:
            rows = F.one_hot(rows, NUM_CLASSES)
        target = rows[assigned[pos] - 1].float()
        total = total + sigmoid_focal_loss(
            preds[b, pos, 5:], target, alpha=0.25, gamma=2.0, reduction='sum')
        num_pos += int(pos.sum())
    return total / num_pos


def test_multi_hot_targets_match_torchvision_focal_loss():
    torch.manual_seed(0)
    head = build_head()
    maps = head(feats())
    gt_instances = gts([
        torch.tensor([[1., 0., 1.], [0., 1., 0.]]),  # person 1: 2 actions
        torch.tensor([[1., 1., 1.]]),
    ])
    losses = head.loss_by_feat(maps, gt_instances)
    torch.testing.assert_close(losses['loss_cls'],
                               expected_loss_cls(head, maps, gt_instances))


def test_single_label_losses_unchanged():
    """Integer labels give exactly the losses of their one-hot rows, and the
    class loss of the one-hot targets of eq. 9."""
    torch.manual_seed(1)
    head = build_head()
    maps = head(feats())
    labels = [torch.tensor([2, 0]), torch.tensor([1])]
    as_int = head.loss_by_feat(maps, gts(labels))
    as_rows = head.loss_by_feat(
        maps, gts([F.one_hot(x, NUM_CLASSES).float() for x in labels]))
    for key in as_int:
        assert torch.equal(as_int[key], as_rows[key]), key
    torch.testing.assert_close(as_int['loss_cls'],
                               expected_loss_cls(head, maps, gts(labels)))


def test_assignment_and_ignore_stay_per_box():
    """A box with two labels is one box: the box and confidence losses are
    those of the same box with one label."""
    torch.manual_seed(2)
    head = build_head()
    maps = head(feats())
    one = head.loss_by_feat(maps, gts([torch.tensor([0]), torch.tensor([1])]))
    two = head.loss_by_feat(
        maps, gts([torch.tensor([[1., 0., 1.]]),
                   torch.tensor([[0., 1., 0.]])]))
    assert torch.equal(one['loss_bbox'], two['loss_bbox'])
    assert torch.equal(one['loss_conf'], two['loss_conf'])
    assert not torch.equal(one['loss_cls'], two['loss_cls'])


def test_bad_label_shapes_are_refused():
    head = build_head()
    maps = head(feats())
    with pytest.raises(ValueError, match='4 columns.*3 classes'):
        head.loss_by_feat(maps, gts([torch.ones(2, 4), torch.ones(1, 4)]))
    with pytest.raises(ValueError, match='shape'):
        head.loss_by_feat(maps, gts([torch.ones(2, 3, 1),
                                     torch.ones(1, 3, 1)]))


def test_a_duplicate_box_adds_nothing_to_the_losses():
    """Two identical boxes of one label claim the same priors, which the
    assigner gives to the first: the datasets' merge of such duplicates
    (152 of UCF101-24's 478,863 annotated frames have one) leaves the
    losses as they were."""
    torch.manual_seed(3)
    head = build_head()
    maps = head(feats(batch=1))
    boxes = torch.tensor([[10., 12., 40., 50.], [30., 8., 60., 40.]])
    merged = head.loss_by_feat(
        maps, [InstanceData(bboxes=boxes, labels=torch.tensor([1, 2]))])
    twice = head.loss_by_feat(maps, [
        InstanceData(
            bboxes=torch.cat([boxes, boxes[:1]]),
            labels=torch.tensor([1, 2, 1]))
    ])
    for key in merged:
        assert torch.equal(merged[key], twice[key]), key
