"""Draw detected people with a stack of ``label score`` lines (AVA style).

Every class of a person scoring at least the threshold gets a line, highest
first (:func:`~mmyowo.apis.person_actions`), since the classes are
independent sigmoids and one person may do several actions at once (paper
§3.3). OpenCV only: no display, no matplotlib.
"""
from typing import List, Sequence, Tuple

import cv2
import numpy as np

from mmyowo.apis.results import PersonActions

#: BGR colours cycled over the classes; a person's box and labels take the
#: colour of its best class.
PALETTE = ((0, 255, 0), (255, 128, 0), (0, 128, 255), (255, 0, 255),
           (0, 255, 255), (255, 255, 0), (128, 0, 255), (0, 0, 255))
FONT = cv2.FONT_HERSHEY_SIMPLEX
#: Pixels between a label's background edge and its text.
TEXT_PAD = 2


def action_label_lines(person: PersonActions) -> List[str]:
    """The text lines of one person: ``'name score'``, highest first."""
    return [f'{action.name} {action.score:.2f}' for action in person.actions]


def label_line_height(font_scale: float = 0.45, thickness: int = 1) -> int:
    """Height in pixels of one label line, background included: the font's cap
    height and descent, and :data:`TEXT_PAD`."""
    (_, text_h), baseline = cv2.getTextSize('Ag', FONT, font_scale, thickness)
    return text_h + baseline + TEXT_PAD


def draw_person_actions(image: np.ndarray,
                        persons: Sequence[PersonActions],
                        palette: Sequence[Tuple[int, int, int]] = PALETTE,
                        font_scale: float = 0.45,
                        thickness: int = 1) -> np.ndarray:
    """Draw, in place on a BGR image, each person's box and its label stack.

    The stack starts at the box's top-left corner and grows downwards, one
    line per action; where it would leave the image it is moved up (or
    left) so that every line stays visible.

    Args:
        image: ``(H, W, 3)`` BGR ``uint8`` image.
        persons: Output of :func:`~mmyowo.apis.person_actions`.
        palette: BGR colours, indexed by class modulo their number.
        font_scale: OpenCV font scale of the labels.
        thickness: Text stroke width.

    Returns:
        ``image``.
    """
    height, width = image.shape[:2]
    line_h = label_line_height(font_scale, thickness)
    # putText places the baseline: one pixel of padding above the caps.
    ascent = cv2.getTextSize('Ag', FONT, font_scale, thickness)[0][1] + 1
    for person in persons:
        color = tuple(palette[person.actions[0].label % len(palette)])
        x1, y1, x2, y2 = (int(round(float(v))) for v in person.bbox)
        cv2.rectangle(image, (x1, y1), (x2, y2), color, 2)
        lines = action_label_lines(person)
        text_w = [
            cv2.getTextSize(t, FONT, font_scale, thickness)[0][0]
            for t in lines
        ]
        top = max(min(y1, height - line_h * len(lines)), 0)
        left = max(min(x1, width - max(text_w) - 2 * TEXT_PAD), 0)
        for row, (text, text_width) in enumerate(zip(lines, text_w)):
            y = top + row * line_h
            cv2.rectangle(image, (left, y),
                          (left + text_width + 2 * TEXT_PAD - 1,
                           y + line_h - 1), color, -1)
            cv2.putText(image, text, (left + TEXT_PAD, y + ascent), FONT,
                        font_scale, (0, 0, 0), thickness, cv2.LINE_AA)
    return image
