"""The objects of the synthetic motion dataset: settings, looks, motion.

What the videos show and why is in :mod:`mmyowo.preparation.synthetic`;
this module draws the objects of one video (their look and per-frame
boxes), :mod:`.synthetic_render` paints and writes them. Every draw takes a
random stream of :func:`_rng`, named by the seed and the indices of the
split, video and object, so output is a pure function of the arguments.
"""
import math
from dataclasses import dataclass
from typing import List, Optional, Sequence, Tuple

import cv2
import numpy as np

#: The four motion classes, each pair a time reversal of the other.
SYNTHETIC_CLASSES = ('move_left', 'move_right', 'grow', 'shrink')
# Second member of each pair travels its path backwards.
_REVERSED = (True, False, False, True)
_TRANSLATES = (True, True, False, False)
# Tags of the independent random streams, see :func:`_rng`.
_LABELS, _VIDEO, _APPEARANCE, _MOTION, _PIXELS = 1, 2, 3, 4, 5


@dataclass(frozen=True)
class SyntheticConfig:
    """Knobs of the generator; lengths in pixels, durations in frames.

    Args:
        num_frames (int): Frames per video.
        frame_size (tuple[int, int]): ``(h, w)`` of the frames.
        actors (tuple[int, int]): Inclusive range of actors per video.
        distractors (tuple[int, int]): Inclusive range of static
            distractors per video.
        object_size (tuple[float, float]): Range of the resting side length
            of an object as a fraction of ``min(h, w)``.
        aspect (tuple[float, float]): Range of width / height of an object.
        speed (tuple[float, float]): Range of the translation speed
            (pixels / frame).
        growth (tuple[float, float]): Range of the relative growth per
            frame of grow / shrink.
        action_len (tuple[int, int]): Range of the action duration.
        min_idle (int): Minimum number of frames in which an actor does not
            act (and is not annotated).
        margin (int): Minimum distance of objects to the frame border and
            to each other.
        jpeg_quality (int): OpenCV JPEG quality.
    """

    num_frames: int = 40
    frame_size: Tuple[int, int] = (112, 112)
    actors: Tuple[int, int] = (1, 3)
    distractors: Tuple[int, int] = (0, 2)
    object_size: Tuple[float, float] = (0.16, 0.26)
    aspect: Tuple[float, float] = (0.6, 1.4)
    speed: Tuple[float, float] = (2.0, 3.0)
    growth: Tuple[float, float] = (0.025, 0.035)
    action_len: Tuple[int, int] = (12, 28)
    min_idle: int = 4
    margin: int = 2
    jpeg_quality: int = 90

    def validate(self) -> None:
        """Raise ``ValueError`` on settings that cannot be generated."""
        h, w = self.frame_size
        if min(h, w) < 16:
            raise ValueError(f'frame_size {self.frame_size} is too small '
                             '(both sides must be >= 16)')
        if self.num_frames < self.min_idle + 2:
            raise ValueError(f'num_frames ({self.num_frames}) must be >= '
                             f'min_idle + 2 = {self.min_idle + 2}')
        for name in ('actors', 'distractors', 'object_size', 'aspect', 'speed',
                     'growth', 'action_len'):
            low, high = getattr(self, name)
            if not 0 <= low <= high:
                raise ValueError(f'{name} must be (low, high) with 0 <= low '
                                 f'<= high, got {(low, high)}')
        if self.actors[0] < 1:
            raise ValueError('every video needs at least one actor, got '
                             f'actors={self.actors}')
        if (self.action_len[0] < 2 or self.speed[0] <= 0
                or self.growth[0] <= 0):
            raise ValueError('action_len must be >= 2 frames and speed, '
                             'growth > 0 so that actors visibly move')
        if self.object_size[0] * min(h, w) < 4:
            raise ValueError(f'object_size {self.object_size} makes objects '
                             f'smaller than 4 pixels in {self.frame_size}')
        if self.aspect[0] <= 0:
            raise ValueError(f'aspect must be > 0, got {self.aspect}')
        longest_side = self.object_size[1] * min(h, w) * math.sqrt(
            max(self.aspect[1], 1 / self.aspect[0]))
        if longest_side > min(h, w) - 2 * self.margin - 8:
            raise ValueError(f'object_size {self.object_size} and aspect '
                             f'{self.aspect} leave no room to move in '
                             f'{self.frame_size}')


@dataclass(frozen=True)
class Appearance:
    """What an object looks like; drawn independently of its class.

    Args:
        shape (str): ``'rect'`` or ``'ellipse'``.
        colours (np.ndarray): ``uint8`` ``(2, 3)`` RGB colours of the stripes.
        stripe_freq (float): Stripes per object width.
        stripe_angle (float): Stripe orientation in radians.
        size (tuple[float, float]): Resting ``(w, h)`` in pixels (the
            smallest size of a grow / shrink actor).
    """

    shape: str
    colours: np.ndarray
    stripe_freq: float
    stripe_angle: float
    size: Tuple[float, float]


@dataclass(frozen=True)
class SyntheticObject:
    """An object of one video.

    Args:
        appearance (Appearance): Its look.
        boxes (np.ndarray): ``float32`` ``(num_frames, 4)`` integer-valued
            xyxy box per frame (row ``i`` is frame ``i + 1``).
        label (int, optional): Class index of an actor, None for a
            distractor.
        action (tuple[int, int], optional): 1-based first and last frame of
            the action (annotated frames) of an actor.
    """

    appearance: Appearance
    boxes: np.ndarray
    label: Optional[int] = None
    action: Optional[Tuple[int, int]] = None

    def union_box(self) -> np.ndarray:
        """Smallest box holding the object in every frame."""
        return np.concatenate(
            [self.boxes[:, :2].min(axis=0), self.boxes[:, 2:].max(axis=0)])


def _rng(seed: int,
         stream: int,
         split: int = 0,
         video: int = 0,
         obj: int = 0) -> np.random.Generator:
    """Independent random stream named by ``stream`` and indices.

    Keys have a fixed length and end with the non-zero stream tag because
    ``SeedSequence`` ignores trailing zeros (``[s, 1]`` == ``[s, 1, 0]``).
    """
    return np.random.default_rng([seed, split, video, obj, stream])


def sample_appearance(rng: np.random.Generator,
                      cfg: SyntheticConfig) -> Appearance:
    """Draw an object's look; the same law for every class and distractors.

    Args:
        rng (np.random.Generator): Random stream of this object's look.
        cfg (SyntheticConfig): Generator settings.

    Returns:
        Appearance: The drawn look.
    """
    shape = ('rect', 'ellipse')[int(rng.integers(2))]
    # Saturated, clearly different stripe colours so objects stand out of
    # the greyish background.
    hues = rng.uniform(0, 180, size=2)
    hues[1] = (hues[0] + rng.uniform(45, 135)) % 180
    hsv = np.stack([hues,
                    rng.uniform(170, 255, 2),
                    rng.uniform(150, 255, 2)],
                   axis=1)
    colours = cv2.cvtColor(hsv.astype(np.uint8)[None], cv2.COLOR_HSV2RGB)[0]
    side = rng.uniform(*cfg.object_size) * min(cfg.frame_size)
    aspect = rng.uniform(*cfg.aspect)
    size = (side * math.sqrt(aspect), side / math.sqrt(aspect))
    return Appearance(
        shape=shape,
        colours=colours,
        stripe_freq=float(rng.uniform(1.0, 2.5)),
        stripe_angle=float(rng.uniform(0, math.pi)),
        size=size)


def _round_boxes(boxes: np.ndarray) -> np.ndarray:
    """Boxes rounded to whole pixels, as float32."""
    # Rendering works on whole pixels, so the GT is the rendered extent.
    return np.round(boxes).astype(np.float32)


def sample_actor(appearance: Appearance, label: int, rng: np.random.Generator,
                 cfg: SyntheticConfig) -> SyntheticObject:
    """Draw the motion of an actor of class ``label``.

    The path (duration, start, speed or growth, positions) is drawn the
    same way for both classes of a pair; ``label`` only picks the direction
    of travel, so ``move_left`` is ``move_right`` played backwards (and
    ``shrink`` is ``grow`` backwards). Before and after the action the actor
    stands still at the ends of its path.

    Args:
        appearance (Appearance): The actor's look.
        label (int): Index into :data:`SYNTHETIC_CLASSES`.
        rng (np.random.Generator): Random stream of this actor's motion.
        cfg (SyntheticConfig): Generator settings.

    Returns:
        SyntheticObject: The actor with its per-frame boxes and action span.
    """
    h, w = cfg.frame_size
    m = cfg.margin
    obj_w, obj_h = appearance.size
    translates = _TRANSLATES[label]
    if translates:
        rate = rng.uniform(*cfg.speed)
        fit = (w - 2 * m - obj_w) / rate
    else:
        rate = rng.uniform(*cfg.growth)
        fit = math.log(
            (min(w, h) - 2 * m) / max(obj_w, obj_h)) / math.log1p(rate)
    # A path of T frames spans T - 1 steps of motion.
    longest = min(cfg.action_len[1], cfg.num_frames - cfg.min_idle,
                  int(math.floor(fit)) + 1)
    shortest = min(cfg.action_len[0], longest)
    if longest < 2:
        raise ValueError(f'frame_size {cfg.frame_size} and num_frames '
                         f'{cfg.num_frames} leave no room for an action')
    duration = int(rng.integers(shortest, longest + 1))
    start = int(rng.integers(1, cfg.num_frames - duration + 2))
    steps = np.arange(duration, dtype=np.float64)
    if translates:
        span = rate * (duration - 1)
        x1 = rng.uniform(m, w - m - obj_w - span) + rate * steps
        y1 = np.full(duration, rng.uniform(m, h - m - obj_h))
        path = np.stack([x1, y1, x1 + obj_w, y1 + obj_h], axis=1)
    else:
        scale = np.power(1 + rate, steps)
        big_w, big_h = obj_w * scale[-1], obj_h * scale[-1]
        cx = rng.uniform(m + big_w / 2, w - m - big_w / 2)
        cy = rng.uniform(m + big_h / 2, h - m - big_h / 2)
        half_w, half_h = obj_w * scale / 2, obj_h * scale / 2
        path = np.stack([cx - half_w, cy - half_h, cx + half_w, cy + half_h],
                        axis=1)
    if _REVERSED[label]:
        path = path[::-1]
    end = start + duration - 1
    boxes = np.concatenate([
        np.repeat(path[:1], start - 1, axis=0), path,
        np.repeat(path[-1:], cfg.num_frames - end, axis=0)
    ])
    return SyntheticObject(
        appearance=appearance,
        boxes=_round_boxes(boxes),
        label=label,
        action=(start, end))


def sample_distractor(appearance: Appearance, rng: np.random.Generator,
                      cfg: SyntheticConfig) -> SyntheticObject:
    """Place a static, never annotated object.

    Args:
        appearance (Appearance): Its look.
        rng (np.random.Generator): Random stream of its position.
        cfg (SyntheticConfig): Generator settings.

    Returns:
        SyntheticObject: The distractor (``label`` and ``action`` None).
    """
    h, w = cfg.frame_size
    m = cfg.margin
    obj_w, obj_h = appearance.size
    x1 = rng.uniform(m, w - m - obj_w)
    y1 = rng.uniform(m, h - m - obj_h)
    box = np.array([[x1, y1, x1 + obj_w, y1 + obj_h]])
    return SyntheticObject(
        appearance=appearance,
        boxes=_round_boxes(np.repeat(box, cfg.num_frames, axis=0)))


def _overlaps(box: np.ndarray, others: Sequence[np.ndarray],
              gap: float) -> bool:
    """Whether ``box`` comes within ``gap`` of any other box."""
    return any(box[0] < o[2] + gap and o[0] < box[2] + gap and box[1] < o[3] +
               gap and o[1] < box[3] + gap for o in others)


def sample_video_objects(split_index: int, video_index: int,
                         labels: Sequence[int], seed: int, cfg: SyntheticConfig
                         ) -> Tuple[List[SyntheticObject], int]:
    """Draw the objects of one video.

    Objects do not overlap at any time (their union boxes are ``margin``
    apart); one that finds no free place in 50 tries is left out, and an
    actor left out passes its label on to the next one.

    Args:
        split_index (int): Index of the split in :data:`SPLITS`.
        video_index (int): Index of the video in its split.
        labels (Sequence[int]): Labels for the actors, used in order.
        seed (int): Seed of the dataset.
        cfg (SyntheticConfig): Generator settings.

    Returns:
        tuple[list[SyntheticObject], int]: The objects (actors first) and
        the number of labels used.
    """
    rng = _rng(seed, _VIDEO, split_index, video_index)
    num_actors = int(rng.integers(cfg.actors[0], cfg.actors[1] + 1))
    num_distractors = int(
        rng.integers(cfg.distractors[0], cfg.distractors[1] + 1))
    objects: List[SyntheticObject] = []
    used = 0
    for index in range(num_actors + num_distractors):
        look = sample_appearance(
            _rng(seed, _APPEARANCE, split_index, video_index, index), cfg)
        motion_rng = _rng(seed, _MOTION, split_index, video_index, index)
        is_actor = index < num_actors
        for _ in range(50):
            if is_actor:
                obj = sample_actor(look, labels[used], motion_rng, cfg)
            else:
                obj = sample_distractor(look, motion_rng, cfg)
            if not _overlaps(obj.union_box(), [o.union_box()
                                               for o in objects], cfg.margin):
                objects.append(obj)
                used += int(is_actor)
                break
        # An object that finds no free place is left out; the first actor
        # of a video always fits, so every video has an action.
    return objects, used


def split_labels(seed: int, split_index: int, count: int,
                 cfg: SyntheticConfig) -> List[int]:
    """Labels for every actor of a split, in shuffled round-robin order.

    Every class is present in the split as soon as it has at least
    ``len(SYNTHETIC_CLASSES)`` videos; :func:`sample_video_objects` takes
    them in order.

    Args:
        seed (int): Seed of the dataset.
        split_index (int): Index of the split.
        count (int): Videos in the split.
        cfg (SyntheticConfig): Generator settings.

    Returns:
        list[int]: At least ``count * cfg.actors[1]`` class indices.
    """
    label_rng = _rng(seed, _LABELS, split_index)
    rounds = count * cfg.actors[1] // len(SYNTHETIC_CLASSES) + 1
    return np.concatenate([
        label_rng.permutation(len(SYNTHETIC_CLASSES)) for _ in range(rounds)
    ]).tolist()
