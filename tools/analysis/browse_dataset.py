"""Write the clips of a dataset as its pipeline delivers them, with the GT.

Usage::

    python tools/analysis/browse_dataset.py CONFIG [--phase train|val|test] \\
        [--output-dir DIR] [--num-samples N] [--mode clip|keyframe] \\
        [--per-row 8] [--seed 0] [--cfg-options KEY=VALUE ...]

The OpenMMLab convention (mmdet / mmaction ``browse_dataset``): the dataset
of ``{phase}_dataloader`` is built from the config with its pipeline, and
``--num-samples`` samples spread evenly over it are run through it. The
packed inputs, still before the model's data preprocessor (``FormatShape``
+ ``PackActionInputs`` give uint8 or, after ``ColorJitter``, float RGB
``[C, T, H, W]``), are turned back into images. On the key frame (clip
position ``key_frame_index`` of the metainfo, the last frame when absent)
the ground-truth boxes are drawn in the colour of their class with the
class name, so one sees whether boxes still sit on the actors after zoom,
flip and resize.

``--mode keyframe`` writes the key frame at the network input size (boxes
drawn at their pixel coordinates) above a caption. ``--mode clip`` writes
the whole clip as a strip of frames, ``--per-row`` a row, the key frame
framed in red. Files go to ``{output-dir}/{phase}/`` as
``{Class}_{video}_{frame:05d}.png`` (video id and 1-based key-frame
number).
"""
import argparse
import os
import os.path as osp
import random
from typing import Dict, List, Optional, Sequence, Tuple

import cv2
import numpy as np
import torch
from mmaction.registry import DATASETS
from mmengine.config import Config, DictAction
from mmengine.registry import init_default_scope

import mmyowo  # noqa: F401
from mmyowo.utils.atomic_io import atomic_write_bytes

PHASES = ('train', 'val', 'test')
MODES = ('clip', 'keyframe')
# BGR colours, one per class (cycled): well apart in hue and bright enough
# for black text on them.
PALETTE = ((0, 200, 255), (255, 128, 0), (0, 255, 0), (255, 0, 255),
           (0, 255, 255), (255, 255, 0), (128, 128, 255), (0, 128, 255),
           (255, 0, 128), (128, 255, 128), (255, 128, 255), (160, 160, 0))
KEY_COLOUR = (0, 0, 255)  # red frame around the key frame of a strip
MARGIN = 4  # pixels around every frame of a strip
CAPTION_HEIGHT = 18
FONT = cv2.FONT_HERSHEY_SIMPLEX


def class_colour(label: int) -> Tuple[int, int, int]:
    """BGR colour of class ``label``."""
    return PALETTE[label % len(PALETTE)]


def clip_to_images(inputs: torch.Tensor, source: str) -> List[np.ndarray]:
    """The frames of a packed ``[C, T, H, W]`` clip as BGR uint8 images.

    Args:
        inputs (Tensor): ``PackActionInputs``' ``inputs``: RGB ``[C, T, H,
            W]`` (``FormatShape('NCTHW', collapse=True)``) or ``[N, C, T, H,
            W]`` (several clips or crops: the first is shown).
        source (str): Where the sample comes from, for error messages.

    Returns:
        list[np.ndarray]: ``T`` images ``(H, W, 3)``, values clipped to
        0..255 (``ColorJitter`` hands float frames on).

    Raises:
        ValueError: If the clip is not in that layout (e.g. a pipeline
            formatting ``NCHW``).
    """
    array = inputs.detach().cpu().numpy()
    if array.ndim == 5:
        array = array[0]
    if array.ndim != 4 or array.shape[0] != 3:
        raise ValueError(
            f'{source}: expected packed inputs [C=3, T, H, W] (FormatShape '
            f"input_format='NCTHW'), got shape {tuple(inputs.shape)}")
    frames = np.clip(np.rint(array.astype(np.float64)), 0, 255)
    frames = frames.astype(np.uint8).transpose(1, 2, 3, 0)  # T, H, W, RGB
    return [np.ascontiguousarray(f[..., ::-1]) for f in frames]


def draw_boxes(image: np.ndarray, bboxes: np.ndarray, labels: np.ndarray,
               class_names: Sequence[str]) -> np.ndarray:
    """Draw xyxy boxes (1 px outline) and class names on a copy of ``image``.

    ``labels`` are class indices, or multi-hot rows of a multi-label
    dataset: such a box shows its names joined by ``+`` in the colour of
    its first class.

    Each name sits in a filled tag of the box colour above the box (inside
    it when the box touches the top, shifted left to stay in the image).
    The outlines are drawn after every tag, so that a tag never hides
    another box.
    """
    out = image.copy()
    width = out.shape[1]
    outlines = []
    for box, label in zip(bboxes, labels):
        # A multi-label box (a multi-hot row) shows all its class names.
        ids = (
            np.flatnonzero(label).tolist() if np.ndim(label) else [int(label)])
        label = ids[0] if ids else -1
        colour = class_colour(label)
        x1, y1, x2, y2 = (int(round(float(v))) for v in box)
        outlines.append(((x1, y1), (x2, y2), colour))
        name = '+'.join(
            class_names[i] if 0 <= i < len(class_names) else f'class {i}'
            for i in ids)
        (tw, th), base = cv2.getTextSize(name, FONT, 0.35, 1)
        left = max(0, min(x1, width - tw - 2))
        top = y1 - th - base - 1 if y1 - th - base - 1 >= 0 else y1 + 1
        cv2.rectangle(out, (left, top), (left + tw + 2, top + th + base),
                      colour, -1)
        cv2.putText(out, name, (left + 1, top + th), FONT, 0.35, (0, 0, 0), 1,
                    cv2.LINE_AA)
    for corner1, corner2, colour in outlines:
        cv2.rectangle(out, corner1, corner2, colour, 1)
    return out


def with_caption(image: np.ndarray,
                 text: str,
                 colour: Tuple[int, int, int] = (255, 255, 255)) -> np.ndarray:
    """``image`` above a black caption row holding ``text``."""
    caption = np.zeros((CAPTION_HEIGHT, image.shape[1], 3), np.uint8)
    cv2.putText(caption, text, (2, CAPTION_HEIGHT - 5), FONT, 0.35, colour, 1,
                cv2.LINE_AA)
    return np.concatenate([image, caption])


def make_strip(frames: Sequence[np.ndarray],
               key_index: int,
               per_row: int,
               key_caption: str = 'KEY') -> np.ndarray:
    """Tile a clip ``per_row`` frames a row; every frame captioned with its
    0-based clip position, the key frame also with ``key_caption`` and framed
    in red."""
    tiles = []
    for index, frame in enumerate(frames):
        is_key = index == key_index
        tile = with_caption(frame,
                            f'{index} {key_caption}' if is_key else f'{index}',
                            KEY_COLOUR if is_key else (255, 255, 255))
        tiles.append(
            cv2.copyMakeBorder(
                tile,
                MARGIN,
                MARGIN,
                MARGIN,
                MARGIN,
                cv2.BORDER_CONSTANT,
                value=KEY_COLOUR if is_key else (0, 0, 0)))
    blank = np.zeros_like(tiles[0])
    rows = []
    for start in range(0, len(tiles), per_row):
        row = tiles[start:start + per_row]
        if start and len(row) < per_row:
            row = row + [blank] * (per_row - len(row))
        rows.append(np.concatenate(row, axis=1))
    return np.concatenate(rows)


def render_sample(packed: Dict,
                  class_names: Sequence[str],
                  mode: str,
                  per_row: int = 8,
                  source: str = 'sample') -> Tuple[np.ndarray, str]:
    """Render one packed sample; returns the image and its file stem."""
    sample = packed['data_samples']
    frames = clip_to_images(packed['inputs'], source)
    key_index = int(sample.metainfo.get('key_frame_index', len(frames) - 1))
    if not 0 <= key_index < len(frames):
        raise ValueError(f'{source}: key_frame_index {key_index} outside '
                         f'the clip of {len(frames)} frames')
    # PackActionInputs adds gt_instances only when the sample has boxes.
    instances = sample.get('gt_instances')
    if instances is not None and 'bboxes' in instances:
        bboxes = instances.bboxes.numpy()
        labels = instances.labels.numpy()
    else:
        bboxes, labels = np.zeros((0, 4)), np.zeros((0, ), np.int64)
    frames[key_index] = draw_boxes(frames[key_index], bboxes, labels,
                                   class_names)
    video = str(sample.metainfo.get('video_id', 'video'))
    frame_id = int(sample.metainfo.get('frame_id', 0))
    stem = f'{video.replace("/", "_")}_{frame_id:05d}'
    if mode == 'keyframe':
        # The video is in the file name; the caption fits 224 pixels.
        image = with_caption(
            frames[key_index], f'frame {frame_id}, key at {key_index + 1}/'
            f'{len(frames)}, {len(bboxes)} box(es)')
    else:
        image = make_strip(frames, key_index, per_row,
                           f'KEY = frame {frame_id}')
    return image, stem


def sample_indices(num_items: int, num_samples: int) -> List[int]:
    """``num_samples`` indices spread evenly over ``range(num_items)``."""
    if num_samples >= num_items:
        return list(range(num_items))
    return sorted(
        set(np.linspace(0, num_items - 1, num_samples).round().astype(int)))


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Write pipeline outputs of a dataset with their GT.')
    parser.add_argument('config', help='config file')
    parser.add_argument('--phase', choices=PHASES, default='train')
    parser.add_argument(
        '--output-dir', help='default: work_dirs/browse_dataset/{config}')
    parser.add_argument('--num-samples', type=int, default=8)
    parser.add_argument('--mode', choices=MODES, default='clip')
    parser.add_argument(
        '--per-row',
        type=int,
        default=8,
        help='frames per row of a clip strip')
    parser.add_argument(
        '--seed', type=int, default=0, help='seed of the random augmentations')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override config settings, key=value')
    args = parser.parse_args(argv)
    if args.num_samples < 1 or args.per_row < 1:
        parser.error('--num-samples and --per-row must be >= 1')
    return args


def main(argv: Optional[Sequence[str]] = None) -> List[str]:
    """Write the pictures; return their paths."""
    args = parse_args(argv)
    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    init_default_scope(cfg.get('default_scope', 'mmaction'))
    random.seed(args.seed)
    np.random.seed(args.seed)
    torch.manual_seed(args.seed)
    dataset = DATASETS.build(cfg[f'{args.phase}_dataloader'].dataset)
    if len(dataset) == 0:
        raise ValueError(f'{args.config}: the {args.phase} dataset is empty')
    class_names = dataset.metainfo.get('classes') or ()
    out_dir = osp.join(
        args.output_dir
        or osp.join('work_dirs', 'browse_dataset',
                    osp.splitext(osp.basename(args.config))[0]), args.phase)
    os.makedirs(out_dir, exist_ok=True)
    written = []
    for index in sample_indices(len(dataset), args.num_samples):
        image, stem = render_sample(dataset[index], class_names, args.mode,
                                    args.per_row,
                                    f'{args.phase} sample {index}')
        path = osp.join(out_dir, f'{stem}.png')
        ok, png = cv2.imencode('.png', image)
        if not ok:
            raise OSError(f'could not encode {path}')
        atomic_write_bytes(png.tobytes(), path)
        written.append(path)
    print(f'wrote {len(written)} picture(s) to {out_dir}')
    return written


if __name__ == '__main__':
    main()
