"""A small synthetic spatio-temporal action dataset whose classes need motion.

Every video shows a few textured blobs (rectangles or ellipses) on a static,
noisy background. *Actors* perform one action for a while and stand still
before and after it; *distractors* never move. Only actors, and only while
they act, are annotated. The four classes differ in motion alone:

* ``move_left`` / ``move_right``: horizontal translation at constant speed;
* ``grow`` / ``shrink``: scaling about a fixed centre at a constant rate.

Within each pair the two classes are time reversals of each other: the
appearance and the path (positions or sizes visited) are drawn without
looking at the label, which only decides the direction of travel. So the
distribution of a single annotated frame is the same for ``move_left`` and
``move_right`` (and for ``grow`` and ``shrink``): one frame cannot tell them
apart, only the clip can, which is the "sit vs. stand" problem of paper §4.3.

The output has the on-disk format of the real datasets: rawframes
``{out}/rawframes/{video_id}/{:05d}.jpg`` (1-based) and the canonical ground
truth ``{out}/annotations/synthetic_gt.pkl`` (docs/architecture.md), and the
actors' track ids ``{out}/annotations/synthetic_tracks.json``
(:func:`build_tracks`, for the identity metrics of
``tools/analysis/eval_tracking.py``). Output is
a pure function of the arguments: every random stream is seeded from
``seed`` and the indices of the split, video and object, and OpenCV's JPEG
encoder is deterministic, so equal arguments give byte-identical files.
"""
import json
import os.path as osp
import shutil
from typing import Dict, List

import numpy as np

from ..datasets.annotations import save_annotations
from ..engine.atomic_io import atomic_write_text
from .synthetic_render import iter_split_videos, write_frames
from .synthetic_scene import (SYNTHETIC_CLASSES, SyntheticConfig,
                              SyntheticObject)

GT_FILENAME = 'synthetic_gt.pkl'
#: Actors' track ids, next to the ground truth (see :func:`build_tracks`).
TRACKS_FILENAME = 'synthetic_tracks.json'
SPLITS = ('train', 'test')


def build_ground_truth(videos: Dict[str, List[SyntheticObject]],
                       splits: Dict[str,
                                    List[str]], cfg: SyntheticConfig) -> dict:
    """Assemble the canonical GT dict (docs/architecture.md).

    Args:
        videos (dict): Video id -> its objects.
        splits (dict): ``'train'`` / ``'test'`` -> video ids.
        cfg (SyntheticConfig): Generator settings.

    Returns:
        dict: Canonical ground truth with one split.
    """
    gttubes = {}
    for video_id, objects in videos.items():
        tubes: Dict[int, List[np.ndarray]] = {}
        for obj in objects:
            if obj.label is None:
                continue
            if obj.action is None:
                raise ValueError(f'{video_id}: an actor of class {obj.label} '
                                 'has no action span')
            start, end = obj.action
            frames = np.arange(start, end + 1, dtype=np.float32)[:, None]
            tubes.setdefault(obj.label, []).append(
                np.concatenate([frames, obj.boxes[start - 1:end]], axis=1))
        gttubes[video_id] = tubes
    return {
        'labels': list(SYNTHETIC_CLASSES),
        'gttubes': gttubes,
        'nframes': {
            video_id: cfg.num_frames
            for video_id in videos
        },
        'resolution': {
            video_id: tuple(cfg.frame_size)
            for video_id in videos
        },
        'train_videos': [list(splits['train'])],
        'test_videos': [list(splits['test'])],
    }


def build_tracks(videos: Dict[str, List[SyntheticObject]]) -> dict:
    """The actors' track ids, for identity metrics (IDF1, ID switches).

    Returns:
        dict: ``{video_id: {str(label): [track_id, ...]}}``: the track id of
        each ground-truth tube of ``gttubes[video_id][label]``, in the same
        order; a track id is the actor's index among the video's objects,
        unique within its video.
    """
    tracks = {}
    for video_id, objects in videos.items():
        ids: Dict[str, List[int]] = {}
        for index, obj in enumerate(objects):
            if obj.label is not None:
                ids.setdefault(str(obj.label), []).append(index)
        tracks[video_id] = ids
    return tracks


def save_tracks(videos: Dict[str, List[SyntheticObject]], path: str) -> None:
    """Write :func:`build_tracks` as JSON, atomically."""
    atomic_write_text(json.dumps(build_tracks(videos), indent=1), path)


def generate_synthetic_dataset(out_dir: str,
                               num_train_videos: int = 200,
                               num_test_videos: int = 20,
                               seed: int = 0,
                               overwrite: bool = False,
                               **kwargs) -> str:
    """Write the synthetic dataset under ``out_dir``.

    Every class is present in a split as soon as the split has at least
    ``len(SYNTHETIC_CLASSES)`` videos: actors take their classes from a
    shuffled round-robin sequence.

    Args:
        out_dir (str): Output root; ``rawframes/`` and ``annotations/`` are
            created in it.
        num_train_videos (int): Videos in the training split.
        num_test_videos (int): Videos in the test split.
        seed (int): Seed of every random stream.
        overwrite (bool): Replace the ``rawframes/`` folder and the GT file
            of an earlier run; without it they must not exist, so that stale
            frames never mix with new ones.
        **kwargs: :class:`SyntheticConfig` fields (``num_frames``,
            ``frame_size``...), its defaults for the others.

    Returns:
        str: Path of the ground-truth file.
    """
    if seed < 0:
        raise ValueError(f'seed must be >= 0, got {seed}')
    if num_train_videos < 1 or num_test_videos < 1:
        raise ValueError('both splits need at least one video, got '
                         f'{num_train_videos} train / {num_test_videos} test')
    if 'frame_size' in kwargs:
        kwargs['frame_size'] = tuple(kwargs['frame_size'])
    cfg = SyntheticConfig(**kwargs)
    cfg.validate()
    frames_root = osp.join(out_dir, 'rawframes')
    gt_path = osp.join(out_dir, 'annotations', GT_FILENAME)
    for path in (frames_root, gt_path):
        if osp.exists(path) and not overwrite:
            raise FileExistsError(
                f'{path} exists: remove it or pass overwrite=True '
                '(--overwrite)')
    if osp.isdir(frames_root):
        shutil.rmtree(frames_root)
    counts = (num_train_videos, num_test_videos)
    videos: Dict[str, List[SyntheticObject]] = {}
    splits: Dict[str, List[str]] = {}
    for split_index, (split, count) in enumerate(zip(SPLITS, counts)):
        splits[split] = []
        for video_index, objects, frames in iter_split_videos(
                seed, split_index, count, cfg):
            video_id = f'{split}/{split}_{video_index:04d}'
            videos[video_id] = objects
            splits[split].append(video_id)
            write_frames(
                osp.join(frames_root, video_id), frames, '{:05d}.jpg',
                cfg.jpeg_quality)
    save_annotations(build_ground_truth(videos, splits, cfg), gt_path)
    save_tracks(videos, osp.join(out_dir, 'annotations', TRACKS_FILENAME))
    return gt_path
