"""Drawing people with a stack of ``label score`` lines."""
import cv2
import numpy as np
import torch
from mmengine.structures import InstanceData

from mmyowo.apis import person_actions
from mmyowo.visualization.action_labels import (FONT, PALETTE,
                                                action_label_lines,
                                                draw_person_actions)

NAMES = ['run', 'jump', 'wave', 'sit', 'talk']


def line_height():
    """One label line: the font's height and descent plus 2 px of padding
    (measured with OpenCV here, independently of the module)."""
    (_, h), base = cv2.getTextSize('Ag', FONT, 0.45, 1)
    return h + base + 2


def test_label_lines_list_every_class_above_the_threshold():
    pred = InstanceData(
        bboxes=torch.tensor([[0., 0., 10., 10.]]),
        scores=torch.tensor([[0.7, 0.1, 0.9, 0.3, 0.75]]))
    (person, ) = person_actions(pred, 0.3, NAMES)
    assert action_label_lines(person) == [
        'wave 0.90', 'talk 0.75', 'run 0.70', 'sit 0.30'
    ]


def test_four_labels_are_all_drawn():
    """A low box with four classes above the threshold: its stack of four
    lines runs below the box, each line a band of the best class's colour
    (the old demo drew at most three)."""
    image = np.zeros((120, 160, 3), np.uint8)
    pred = InstanceData(
        bboxes=torch.tensor([[20., 10., 90., 14.]]),
        scores=torch.tensor([[0.6, 0.0, 0.9, 0.7, 0.8]]))
    draw_person_actions(image, person_actions(pred, 0.5, NAMES))
    color = PALETTE[2]  # 'wave', the best class
    lh = line_height()
    column = image[:, 21]  # inside every label background, left of the text
    for row in range(4):
        middle = 10 + row * lh + lh // 2
        assert tuple(column[middle]) == color, row
    assert not column[10 + 4 * lh + 1:].any()


def test_stack_stays_inside_the_image():
    """A box at the bottom-right corner: the stack moves up and left so
    that its last line ends at the image's bottom edge."""
    image = np.zeros((60, 80, 3), np.uint8)
    pred = InstanceData(
        bboxes=torch.tensor([[70., 55., 79., 59.]]),
        scores=torch.tensor([[0.9, 0.8, 0.0, 0.0, 0.0]]))
    draw_person_actions(image, person_actions(pred, 0.5, NAMES))
    lh = line_height()
    color = PALETTE[0]
    rows = np.flatnonzero((image[:, :40] == color).all(-1).any(1))
    assert rows.min() == 60 - 2 * lh and rows.max() == 59
