"""Tests of the synthetic dataset generator and its CLI."""
import json
import multiprocessing
import os
import os.path as osp
import resource
import runpy
import signal
import sys

import cv2
import numpy as np
import pytest

from mmyowo.datasets.annotations import load_annotations
from mmyowo.preparation.synthetic import (build_ground_truth,
                                          generate_synthetic_dataset)
from mmyowo.preparation.synthetic_render import write_frames
from mmyowo.preparation.synthetic_scene import (SYNTHETIC_CLASSES,
                                                SyntheticConfig, sample_actor,
                                                sample_appearance,
                                                sample_distractor,
                                                sample_video_objects)

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
SMALL = dict(
    num_train_videos=4, num_test_videos=4, num_frames=16, frame_size=(96, 112))
MOVE_LEFT, MOVE_RIGHT, GROW, SHRINK = range(4)


@pytest.fixture(scope='module')
def dataset(tmp_path_factory):
    root = str(tmp_path_factory.mktemp('synthetic'))
    gt_path = generate_synthetic_dataset(root, seed=3, **SMALL)
    return root, gt_path


def read_tree(root: str) -> dict:
    files = {}
    for folder, _, names in os.walk(root):
        for name in names:
            path = osp.join(folder, name)
            with open(path, 'rb') as f:
                files[osp.relpath(path, root)] = f.read()
    return files


def test_same_seed_gives_identical_files(dataset, tmp_path):
    root, _ = dataset
    generate_synthetic_dataset(str(tmp_path / 'again'), seed=3, **SMALL)
    first, second = read_tree(root), read_tree(str(tmp_path / 'again'))
    assert set(first) == set(second)
    assert len(first) == 8 * 16 + 2  # frames, ground truth, track ids
    for name in first:
        assert first[name] == second[name], name
    generate_synthetic_dataset(str(tmp_path / 'other'), seed=4, **SMALL)
    other = read_tree(str(tmp_path / 'other'))
    assert other['annotations/synthetic_gt.pkl'] != first[
        'annotations/synthetic_gt.pkl']


def test_ground_truth_is_canonical_and_inside_frames(dataset):
    root, gt_path = dataset
    assert gt_path == osp.join(root, 'annotations', 'synthetic_gt.pkl')
    gt = load_annotations(gt_path)  # validates
    assert gt['labels'] == list(SYNTHETIC_CLASSES)
    assert len(gt['train_videos'][0]) == 4 and len(gt['test_videos'][0]) == 4
    for video, tubes in gt['gttubes'].items():
        h, w = gt['resolution'][video]
        assert (h, w) == (96, 112) and gt['nframes'][video] == 16
        frame = cv2.imread(osp.join(root, 'rawframes', video, '00016.jpg'))
        assert frame.shape == (96, 112, 3)
        assert not osp.exists(osp.join(root, 'rawframes', video, '00017.jpg'))
        assert tubes, f'{video} has no action'
        for tube_list in tubes.values():
            for tube in tube_list:
                assert tube.dtype == np.float32
                boxes = tube[:, 1:]
                assert (boxes[:, :2] >= 0).all()
                assert (boxes[:, 2] <= w).all() and (boxes[:, 3] <= h).all()
                assert (boxes[:, 2:] - boxes[:, :2] >= 4).all()
                # Consecutive frames: one uninterrupted action per tube.
                np.testing.assert_array_equal(
                    np.diff(tube[:, 0]), np.ones(len(tube) - 1))


def test_every_class_in_both_splits(dataset):
    _, gt_path = dataset
    gt = load_annotations(gt_path)
    for split in ('train_videos', 'test_videos'):
        present = {
            label
            for video in gt[split][0]
            for label in gt['gttubes'][video]
        }
        assert present == set(range(len(SYNTHETIC_CLASSES))), split


def test_actors_have_unannotated_periods(dataset):
    _, gt_path = dataset
    gt = load_annotations(gt_path)
    min_idle = SyntheticConfig().min_idle
    for video, tubes in gt['gttubes'].items():
        for tube_list in tubes.values():
            for tube in tube_list:
                assert len(tube) <= gt['nframes'][video] - min_idle


def chroma_mask(img: np.ndarray) -> np.ndarray:
    """Pixels of the saturated objects (the background is greyish)."""
    img = img.astype(np.int64)
    return img.max(axis=-1) - img.min(axis=-1) > 80


def test_pixels_agree_with_boxes_and_unannotated_objects_exist(dataset):
    root, gt_path = dataset
    gt = load_annotations(gt_path)
    frames_with_unannotated = frames = 0
    for video, tubes in gt['gttubes'].items():
        for number in range(1, gt['nframes'][video] + 1):
            mask = chroma_mask(
                cv2.imread(
                    osp.join(root, 'rawframes', video, f'{number:05d}.jpg')))
            annotated = np.zeros_like(mask)
            for tube_list in tubes.values():
                for tube in tube_list:
                    row = tube[tube[:, 0] == number]
                    if not len(row):
                        continue
                    x1, y1, x2, y2 = row[0, 1:].astype(int)
                    # An object fills its box (background alone: ~0).
                    assert mask[y1:y2, x1:x2].mean() > 0.3
                    annotated[max(y1 - 2, 0):y2 + 2, max(x1 - 2, 0):x2 + 2] = 1
            frames += 1
            # Idle actors and distractors: object pixels with no box.
            frames_with_unannotated += int(mask[~annotated].sum() > 40)
    assert frames_with_unannotated > 0.3 * frames


def test_actor_motion_and_idle_periods():
    cfg = SyntheticConfig(num_frames=40)
    for seed in range(20):
        look = sample_appearance(np.random.default_rng(seed), cfg)
        for label in range(4):
            actor = sample_actor(look, label,
                                 np.random.default_rng(seed + 100), cfg)
            start, end = actor.action
            assert actor.label == label and actor.boxes.shape == (40, 4)
            assert 1 <= start <= end <= 40 and end - start + 1 <= 36
            # Standing still (and unannotated) before and after acting.
            assert (actor.boxes[:start] == actor.boxes[start - 1]).all()
            assert (actor.boxes[end - 1:] == actor.boxes[end - 1]).all()
            acting = actor.boxes[start - 1:end]
            centre_x = (acting[:, 0] + acting[:, 2]) / 2
            width = acting[:, 2] - acting[:, 0]
            steps = len(acting) - 1
            if label in (MOVE_LEFT, MOVE_RIGHT):
                sign = -1 if label == MOVE_LEFT else 1
                # 2-3 px per frame, constant size.
                assert sign * (centre_x[-1] - centre_x[0]) >= 2 * steps - 1
                assert np.ptp(width) <= 1
            else:
                ratio = width[-1] / width[0]
                if label == SHRINK:
                    ratio = 1 / ratio
                # 2.5-3.5 % per frame, less the rounding to whole pixels.
                assert ratio >= 1 + 0.015 * steps
            assert (actor.boxes[:, :2] >= 0).all()
            assert (actor.boxes[:, 2] <= 112).all()
            assert (actor.boxes[:, 3] <= 112).all()


@pytest.mark.parametrize('pair', [(MOVE_LEFT, MOVE_RIGHT), (SHRINK, GROW)])
def test_paired_classes_are_time_reversals(pair):
    """A single frame cannot tell the classes of a pair apart.

    The appearance is drawn without the label and, for equal random streams,
    the two classes visit exactly the same boxes in opposite order over the
    same frames, so the law of (appearance, box) of an annotated frame is the
    same for both.
    """
    cfg = SyntheticConfig()
    for seed in range(20):
        look = sample_appearance(np.random.default_rng(seed), cfg)
        first, second = (
            sample_actor(look, label, np.random.default_rng(seed + 1), cfg)
            for label in pair)
        assert first.appearance is second.appearance
        assert first.action == second.action
        start, end = first.action
        np.testing.assert_array_equal(first.boxes[start - 1:end],
                                      second.boxes[start - 1:end][::-1])


def test_distractors_never_annotated():
    cfg = SyntheticConfig(distractors=(2, 2), actors=(1, 1))
    objects, used = sample_video_objects(0, 0, [GROW], 0, cfg)
    assert used == 1
    distractors = [obj for obj in objects if obj.label is None]
    assert distractors, 'no room for a distractor in this draw'
    for obj in distractors:
        assert obj.action is None
        assert (obj.boxes == obj.boxes[0]).all()
    gt = build_ground_truth({'v': objects}, {'train': ['v'], 'test': []}, cfg)
    tubes = [t for ts in gt['gttubes']['v'].values() for t in ts]
    assert len(tubes) == 1 and list(gt['gttubes']['v']) == [GROW]
    distractor = sample_distractor(
        sample_appearance(np.random.default_rng(0), cfg),
        np.random.default_rng(1), cfg)
    assert distractor.label is None
    gt = build_ground_truth({'d': [distractor]}, {
        'train': ['d'],
        'test': []
    }, cfg)
    assert gt['gttubes']['d'] == {}


def test_refuses_to_mix_with_an_earlier_run(tmp_path):
    args = dict(SMALL, num_frames=12)
    generate_synthetic_dataset(str(tmp_path), seed=0, **args)
    with pytest.raises(FileExistsError, match='overwrite'):
        generate_synthetic_dataset(str(tmp_path), seed=0, **args)
    # A longer earlier run must not leave frames 13.. behind.
    generate_synthetic_dataset(
        str(tmp_path), seed=0, overwrite=True, **dict(args, num_frames=10))
    frames = os.listdir(tmp_path / 'rawframes' / 'train' / 'train_0000')
    assert sorted(frames) == [f'{i:05d}.jpg' for i in range(1, 11)]


@pytest.mark.parametrize('kwargs,match', [
    (dict(seed=-1), 'seed'),
    (dict(num_test_videos=0), 'at least one video'),
    (dict(frame_size=(8, 80)), 'too small'),
    (dict(num_frames=4), 'num_frames'),
    (dict(actors=(0, 2)), 'at least one actor'),
    (dict(object_size=(0.3, 0.9)), 'no room'),
])
def test_bad_arguments(tmp_path, kwargs, match):
    args = dict(SMALL, **kwargs)
    with pytest.raises(ValueError, match=match):
        generate_synthetic_dataset(str(tmp_path), **args)


def test_cli(tmp_path, monkeypatch, capsys):
    out = str(tmp_path / 'cli')
    monkeypatch.setattr(sys, 'argv', [
        'generate_synthetic.py', out, '--num-train-videos', '1',
        '--num-test-videos', '1', '--num-frames', '12', '--frame-size', '48',
        '64', '--seed', '5'
    ])
    runpy.run_path(
        osp.join(REPO, 'tools', 'data', 'generate_synthetic.py'),
        run_name='__main__')
    gt_path = osp.join(out, 'annotations', 'synthetic_gt.pkl')
    assert gt_path in capsys.readouterr().out
    gt = load_annotations(gt_path)
    assert gt['nframes'] == {'train/train_0000': 12, 'test/test_0000': 12}
    assert set(gt['resolution'].values()) == {(48, 64)}


def test_actors_track_ids(dataset):
    """annotations/synthetic_tracks.json names the actor of every tube: ids
    unique within a video, the actor's index among the video's objects."""
    root, gt_path = dataset
    gt = load_annotations(gt_path)
    path = osp.join(root, 'annotations', 'synthetic_tracks.json')
    with open(path) as f:
        tracks = json.load(f)
    assert set(tracks) == set(gt['gttubes'])
    for video, tubes in gt['gttubes'].items():
        ids = tracks[video]
        assert {int(label) for label in ids} == set(tubes)
        assert all(
            len(ids[str(label)]) == len(t) for label, t in tubes.items())
        flat = [i for v in ids.values() for i in v]
        assert len(flat) == len(set(flat))


def test_frames_are_written_atomically(tmp_path):
    """A frame whose writer was killed half way used to stay under its final
    name, a truncated JPEG that a dataset would read."""
    limit = 8 * 1024  # bytes a killed write gets to disk
    rng = np.random.default_rng(0)
    # Noise: each JPEG is larger than the limit.
    frames = [rng.integers(0, 256, (120, 160, 3), np.uint8) for _ in range(2)]

    def run():
        signal.signal(signal.SIGXFSZ, signal.SIG_DFL)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
        write_frames(str(tmp_path / 'killed'), frames, '{:05d}.jpg', 95)

    child = multiprocessing.get_context('fork').Process(target=run)
    child.start()
    child.join(60)
    assert child.exitcode == -signal.SIGXFSZ
    folder = tmp_path / 'killed'
    assert [n for n in os.listdir(folder) if not n.startswith('.')] == []
    # Written whole, and the dead writer's temporary is gone.
    write_frames(str(folder), frames, '{:05d}.jpg', 95)
    assert sorted(os.listdir(folder)) == ['00001.jpg', '00002.jpg']
    for index, frame in enumerate(frames):
        read = cv2.imread(str(folder / f'{index + 1:05d}.jpg'))
        assert read.shape == frame.shape
