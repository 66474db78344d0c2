"""The synthetic motion dataset written in MMAction2's AVA layout.

The videos are those of :mod:`.synthetic` (striped blobs; actors translate
or scale, distractors stand still), laid out and annotated
like AVA v2.2 as MMAction2's ``tools/data/ava`` prepares it, so that the AVA
path (``YOWOAVADataset``, ``AVARawFrameDecode``, ``YOWOAVAMetric``) runs end
to end on a few megabytes::

    {out}/rawframes/{video_id}/img_00001.jpg ...      # fps frames a second
    {out}/annotations/ava_{train,val}_v2.2.csv
    {out}/annotations/ava_{train,val}_excluded_timestamps_v2.2.csv
    {out}/annotations/ava_action_list_v2.2.pbtxt                   # all
    {out}/annotations/ava_action_list_v2.2_for_activitynet_2019.pbtxt

Frame ``i`` (1-based) shows second ``timestamp_start + (i - 1) / fps``.
Key frames are whole seconds ``timestamp_start + 1 .. timestamp_start +
seconds - 1``, one CSV row per (actor, action) with the box corners
normalised (3 decimals, as AVA). Every actor is annotated at every key
frame, as AVA annotates every person:

- its motion class (``move_left`` ... ``shrink``, ids 1-4) while it acts,
  ``stand`` (id 5) before and after;
- ``round`` (id 6) as well when it is an ellipse: a person doing two
  actions at once, one box with two labels.

The ``for_activitynet`` label map leaves ``shrink`` out (trained, not
evaluated, as AVA trains 80 actions and evaluates 60). The exclusion CSV of
each split lists the last key frame of its first video, which has rows.
"""
import os
import os.path as osp
import shutil
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from ..datasets.ava_files import AVA_FPS, AVA_TIMESTAMP_START
from ..utils.atomic_io import atomic_write_text
from .synthetic_render import iter_split_videos, write_frames
from .synthetic_scene import (SYNTHETIC_CLASSES, SyntheticConfig,
                              SyntheticObject)

#: Action ids (1-based) and names of the synthetic AVA set.
AVA_SYNTHETIC_ACTIONS = {
    **{
        i + 1: name
        for i, name in enumerate(SYNTHETIC_CLASSES)
    },
    len(SYNTHETIC_CLASSES) + 1: 'stand',
    len(SYNTHETIC_CLASSES) + 2: 'round',
}
STAND_ID = len(SYNTHETIC_CLASSES) + 1
ROUND_ID = len(SYNTHETIC_CLASSES) + 2
#: Ids of the evaluation label map (``shrink`` is trained only).
AVA_SYNTHETIC_EVALUATED = tuple(i for i, name in AVA_SYNTHETIC_ACTIONS.items()
                                if name != 'shrink')
AVA_SPLITS = ('train', 'val')
VERSION = 'v2.2'
# Slower motion than the default set: an action spans seconds at 30 fps.
AVA_MOTION_DEFAULTS = dict(
    frame_size=(90, 160),
    action_len=(40, 90),
    speed=(0.6, 1.0),
    growth=(0.006, 0.01))


def ava_file_names(out_dir: str) -> Dict[str, str]:
    """Paths of the files :func:`generate_synthetic_ava` writes."""
    ann = osp.join(out_dir, 'annotations')
    names = dict(
        rawframes=osp.join(out_dir, 'rawframes'),
        label_file=osp.join(ann, f'ava_action_list_{VERSION}.pbtxt'),
        eval_label_file=osp.join(
            ann, f'ava_action_list_{VERSION}_for_activitynet_2019.pbtxt'))
    for split in AVA_SPLITS:
        names[f'{split}_csv'] = osp.join(ann, f'ava_{split}_{VERSION}.csv')
        names[f'{split}_exclude'] = osp.join(
            ann, f'ava_{split}_excluded_timestamps_{VERSION}.csv')
    return names


def key_frame_actions(obj: SyntheticObject, frame: int) -> List[int]:
    """AVA action ids of an actor at a 1-based frame (see module doc)."""
    if obj.label is None or obj.action is None:
        raise ValueError('a distractor does no action')
    start, end = obj.action
    actions = [obj.label + 1 if start <= frame <= end else STAND_ID]
    if obj.appearance.shape == 'ellipse':
        actions.append(ROUND_ID)
    return actions


def csv_rows(video_id: str, objects: Sequence[SyntheticObject],
             timestamps: Sequence[int], timestamp_start: int, fps: int,
             frame_size: Tuple[int, int]) -> List[str]:
    """AVA ground-truth lines of one video."""
    h, w = frame_size
    scale = np.array([w, h, w, h], dtype=np.float64)
    lines = []
    for timestamp in timestamps:
        frame = (timestamp - timestamp_start) * fps + 1
        actors = [o for o in objects if o.label is not None]
        for person, obj in enumerate(actors):
            corners = ','.join(f'{v:.3f}'
                               for v in obj.boxes[frame - 1] / scale)
            for action in key_frame_actions(obj, frame):
                lines.append(f'{video_id},{timestamp},{corners},{action},'
                             f'{person}')
    return lines


def _write_label_map(path: str, ids: Sequence[int], activitynet: bool) -> None:
    """Write the label map of ``ids`` in one of AVA's two styles.

    ``ava_action_list_v2.2.pbtxt`` has ``label {name, label_id,
    label_type}`` blocks, the ActivityNet one ``item {name, id}`` blocks;
    mmaction's ``read_labelmap`` reads both.
    """
    blocks = []
    for i in ids:
        name = AVA_SYNTHETIC_ACTIONS[i]
        if activitynet:
            blocks.append(f'item {{\n  name: "{name}"\n  id: {i}\n}}\n')
        else:
            blocks.append(f'label {{\n  name: "{name}"\n  label_id: {i}\n'
                          '  label_type: PERSON_MOVEMENT\n}\n')
    atomic_write_text(''.join(blocks), path)


def generate_synthetic_ava(out_dir: str,
                           num_train_videos: int = 3,
                           num_val_videos: int = 2,
                           seconds: int = 6,
                           fps: int = AVA_FPS,
                           timestamp_start: int = AVA_TIMESTAMP_START,
                           seed: int = 0,
                           overwrite: bool = False,
                           **kwargs) -> Dict[str, str]:
    """Write the synthetic set in AVA layout under ``out_dir``.

    Args:
        out_dir (str): Output root (``rawframes/``, ``annotations/``).
        num_train_videos (int): Videos of ``ava_train_v2.2.csv``.
        num_val_videos (int): Videos of ``ava_val_v2.2.csv``.
        seconds (int): Length of each video; key frames are the whole
            seconds strictly inside it (``seconds - 1`` of them).
        fps (int): Frames per second.
        timestamp_start (int): Second of the first frame (AVA: 900).
        seed (int): Seed of every random stream.
        overwrite (bool): Replace the output of an earlier run (the
            ``rawframes/`` folder and the annotation files); without it
            none of them may exist.
        **kwargs: :class:`~.synthetic_scene.SyntheticConfig` fields;
            defaults are :data:`AVA_MOTION_DEFAULTS`, then the config's own.

    Returns:
        dict: The paths of :func:`ava_file_names`. A dataset on them takes
        ``timestamp_start`` and ``timestamp_end = timestamp_start +
        seconds``.
    """
    if seed < 0 or seconds < 2 or fps < 1:
        raise ValueError(f'need seed >= 0, seconds >= 2 and fps >= 1, got '
                         f'{seed}, {seconds}, {fps}')
    if num_train_videos < 1 or num_val_videos < 1:
        raise ValueError('both splits need at least one video, got '
                         f'{num_train_videos} / {num_val_videos}')
    options = dict(AVA_MOTION_DEFAULTS, **kwargs)
    options['frame_size'] = tuple(options['frame_size'])
    cfg = SyntheticConfig(num_frames=seconds * fps, **options)
    cfg.validate()
    files = ava_file_names(out_dir)
    for path in files.values():
        if osp.exists(path) and not overwrite:
            raise FileExistsError(
                f'{path} exists: remove it or pass overwrite=True '
                '(--overwrite)')
    # Only this generator's outputs go: stale frames must not mix with new
    # ones, and other files of out_dir stay.
    if osp.isdir(files['rawframes']):
        shutil.rmtree(files['rawframes'])
    os.makedirs(osp.dirname(files['label_file']), exist_ok=True)
    timestamps = list(range(timestamp_start + 1, timestamp_start + seconds))
    for split_index, (split, count) in enumerate(
            zip(AVA_SPLITS, (num_train_videos, num_val_videos))):
        lines: List[str] = []
        first_video: Optional[str] = None
        for video_index, objects, frames in iter_split_videos(
                seed, split_index, count, cfg):
            video_id = f'synth_{split}_{video_index:03d}'
            first_video = first_video or video_id
            lines += csv_rows(video_id, objects, timestamps, timestamp_start,
                              fps, cfg.frame_size)
            write_frames(
                osp.join(files['rawframes'], video_id), frames,
                'img_{:05d}.jpg', cfg.jpeg_quality)
        atomic_write_text('\n'.join(lines) + '\n', files[f'{split}_csv'])
        atomic_write_text(f'{first_video},{timestamps[-1]:04d}\n',
                          files[f'{split}_exclude'])
    _write_label_map(files['label_file'], list(AVA_SYNTHETIC_ACTIONS), False)
    _write_label_map(files['eval_label_file'], AVA_SYNTHETIC_EVALUATED, True)
    return files
