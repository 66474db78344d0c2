"""Paint and write the videos of the synthetic motion dataset.

The objects come from :mod:`.synthetic_scene`; both generators
(:mod:`.synthetic` for the canonical layout, :mod:`.synthetic_ava` for
AVA's) write their videos through :func:`iter_split_videos` and
:func:`write_frames`, so the two layouts hold the same pixels for the same
seed and settings.
"""
import math
import os
import os.path as osp
from typing import Iterator, List, Sequence, Tuple

import cv2
import numpy as np

from ..utils.atomic_io import remove_stale_temporaries
from ..utils.image_io import write_image
from .synthetic_scene import (_PIXELS, Appearance, SyntheticConfig,
                              SyntheticObject, _rng, sample_video_objects,
                              split_labels)


def render_object(frame: np.ndarray, appearance: Appearance,
                  box: np.ndarray) -> None:
    """Paint a striped rectangle / ellipse filling ``box`` into ``frame``.

    The stripes live in the object's own coordinates, so they move and
    scale with it.

    Args:
        frame (np.ndarray): ``uint8`` ``(h, w, 3)`` RGB frame, modified.
        appearance (Appearance): The object's look.
        box (np.ndarray): Integer-valued xyxy box inside the frame.
    """
    x1, y1, x2, y2 = (int(v) for v in box)
    u = (np.arange(x2 - x1) + 0.5) / (x2 - x1)
    v = (np.arange(y2 - y1) + 0.5) / (y2 - y1)
    uu, vv = np.meshgrid(u, v)
    phase = appearance.stripe_freq * (
        uu * math.cos(appearance.stripe_angle) +
        vv * math.sin(appearance.stripe_angle))
    stripes = (np.floor(2 * phase) % 2).astype(np.int64)
    patch = appearance.colours[stripes]
    if appearance.shape == 'ellipse':
        mask = (uu - 0.5)**2 + (vv - 0.5)**2 <= 0.25
    else:
        mask = np.ones(uu.shape, dtype=bool)
    frame[y1:y2, x1:x2][mask] = patch[mask]


def _background(rng: np.random.Generator,
                frame_size: Tuple[int, int]) -> np.ndarray:
    """A smooth, noisy, greyish background frame."""
    h, w = frame_size
    # Greyish blotches with a mild tint: textured, but less saturated than
    # the objects, so the task is about motion rather than finding objects.
    coarse = (rng.uniform(60, 180, size=(4, 4, 1)) +
              rng.uniform(-15, 15, size=(4, 4, 3))).astype(np.float32)
    smooth = cv2.resize(coarse, (w, h), interpolation=cv2.INTER_CUBIC)
    return smooth + rng.normal(0, 12, size=(h, w, 3)).astype(np.float32)


def render_video(objects: Sequence[SyntheticObject], rng: np.random.Generator,
                 cfg: SyntheticConfig) -> List[np.ndarray]:
    """Render the RGB frames of a video.

    Args:
        objects (Sequence[SyntheticObject]): Objects to paint.
        rng (np.random.Generator): Stream of the background and the
            per-frame sensor noise.
        cfg (SyntheticConfig): Generator settings.

    Returns:
        list[np.ndarray]: ``num_frames`` ``uint8`` ``(h, w, 3)`` frames.
    """
    background = _background(rng, cfg.frame_size)
    frames = []
    for index in range(cfg.num_frames):
        noise = rng.normal(0, 3, size=background.shape).astype(np.float32)
        frame = np.clip(background + noise, 0, 255).astype(np.uint8)
        for obj in objects:
            render_object(frame, obj.appearance, obj.boxes[index])
        frames.append(frame)
    return frames


def iter_split_videos(
    seed: int, split_index: int, count: int, cfg: SyntheticConfig
) -> Iterator[Tuple[int, List[SyntheticObject], List[np.ndarray]]]:
    """Draw and render the videos of one split, in order.

    The arguments are those of :func:`~.synthetic_scene.split_labels`.

    Yields:
        tuple: ``(video_index, objects, frames)`` of each video, frames as
        :func:`render_video` returns them.
    """
    for video_index, objects in iter_split_objects(seed, split_index, count,
                                                   cfg):
        frames = render_video(objects,
                              _rng(seed, _PIXELS, split_index, video_index),
                              cfg)
        yield video_index, objects, frames


def iter_split_objects(seed: int, split_index: int, count: int,
                       cfg: SyntheticConfig
                       ) -> Iterator[Tuple[int, List[SyntheticObject]]]:
    """The objects of the videos of one split, in order, without rendering (as
    :func:`iter_split_videos` draws them).

    Yields:
        tuple: ``(video_index, objects)``.
    """
    labels = split_labels(seed, split_index, count, cfg)
    for video_index in range(count):
        objects, used = sample_video_objects(split_index, video_index, labels,
                                             seed, cfg)
        # Labels an actor did not take pass on to the next video.
        labels = labels[used:]
        yield video_index, objects


def write_frames(frame_dir: str, frames: Sequence[np.ndarray],
                 filename_tmpl: str, jpeg_quality: int) -> None:
    """Write RGB frames as JPEG files numbered from 1, each atomically.

    Each frame's encoded bytes take its name only once whole, so a kill
    never leaves a truncated JPEG; they are not fsync'ed (milliseconds per
    frame, and the generator writes thousands of small ones).

    Args:
        frame_dir (str): Folder, created if needed.
        frames (Sequence[np.ndarray]): ``uint8`` ``(h, w, 3)`` RGB frames.
        filename_tmpl (str): File name of frame ``i``, formatted with ``i``.
        jpeg_quality (int): OpenCV JPEG quality.

    Raises:
        OSError: If a frame cannot be encoded or written (the message names
            it).
    """
    os.makedirs(frame_dir, exist_ok=True)
    encode = [cv2.IMWRITE_JPEG_QUALITY, jpeg_quality]
    for index, frame in enumerate(frames):
        path = osp.join(frame_dir, filename_tmpl.format(index + 1))
        write_image(path, frame[..., ::-1], encode)
    # Once per folder rather than after each frame: it lists the folder.
    remove_stale_temporaries(frame_dir)
