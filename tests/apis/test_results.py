"""Per-person action lists (AVA style) of the inference API."""
import numpy as np
import pytest
import torch
from mmengine.structures import InstanceData

from mmyowo.apis import ActionScore, FrameResult, person_actions

NAMES = ['run', 'jump', 'wave', 'sit']


def make_pred():
    # Box 0: jump 0.8 and wave 0.55 reach 0.5; box 1: nothing does;
    # box 2: sit 0.5 exactly (the threshold is inclusive) and run 0.5 too,
    # a tie that keeps the lower index first.
    return InstanceData(
        bboxes=torch.tensor([[1., 2., 30., 40.], [5., 5., 9., 9.],
                             [10., 0., 20., 20.]]),
        scores=torch.tensor([[0.1, 0.8, 0.55, 0.2], [0.3, 0.49, 0.0, 0.1],
                             [0.5, 0.2, 0.1, 0.5]]),
        labels=torch.tensor([1, 1, 0]))


def test_every_class_above_the_threshold_per_person():
    persons = person_actions(make_pred(), 0.5, NAMES)
    assert len(persons) == 2
    np.testing.assert_array_equal(persons[0].bbox, [1, 2, 30, 40])
    np.testing.assert_array_equal(persons[1].bbox, [10, 0, 20, 20])
    assert [(a.label, a.name) for a in persons[0].actions] == [(1, 'jump'),
                                                               (2, 'wave')]
    assert [a.score for a in persons[0].actions] == pytest.approx([0.8, 0.55])
    assert [(a.label, a.name) for a in persons[1].actions] == [(0, 'run'),
                                                               (3, 'sit')]
    # Without names the indices stand in; a lower threshold lists more.
    (first, *_) = person_actions(make_pred(), 0.15)
    assert first.actions == [
        ActionScore(1, '1', pytest.approx(0.8)),
        ActionScore(2, '2', pytest.approx(0.55)),
        ActionScore(3, '3', pytest.approx(0.2))
    ]


def test_frame_result_actions():
    result = FrameResult(7, np.zeros((40, 40, 3), np.uint8), make_pred())
    persons = result.actions(0.5, NAMES)
    assert [p.actions for p in persons
            ] == [p.actions for p in person_actions(make_pred(), 0.5, NAMES)]
    assert [p.bbox.tolist() for p in persons] == [[1, 2, 30, 40],
                                                  [10, 0, 20, 20]]
    assert result.actions(0.9) == []
    # The fields are unchanged: unpacking like before still works.
    index, frame, pred = result
    assert index == 7 and pred.bboxes.shape == (3, 4)


def test_person_actions_errors():
    with pytest.raises(ValueError, match='3 class names for 4 class scores'):
        person_actions(make_pred(), 0.5, NAMES[:3])
    pred = InstanceData(bboxes=torch.zeros(2, 4), scores=torch.zeros(2))
    with pytest.raises(
            ValueError,
            match=r'scores \(N, C\) for N = 2 boxes, '
            r'got shape \(2,\)'):
        person_actions(pred, 0.5)
