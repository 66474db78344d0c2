"""Tests of tools/analysis/browse_dataset.py on a tiny synthetic set."""
import importlib.util
import os.path as osp

import cv2
import numpy as np
import pytest
import torch

from mmyowo.datasets.annotations import group_boxes_by_frame, load_annotations
from mmyowo.preparation.synthetic import generate_synthetic_dataset

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
TOOL = osp.join(ROOT, 'tools', 'analysis', 'browse_dataset.py')
CONFIG = osp.join(ROOT, 'configs', 'yowo_plus_synthetic.py')
spec = importlib.util.spec_from_file_location('tool_browse_dataset', TOOL)
browse = importlib.util.module_from_spec(spec)
spec.loader.exec_module(browse)

FRAME_SIZE = 112  # generator default
INPUT_SIZE = 128  # the synthetic config's Resize
CLIP_LEN = 8  # the synthetic config's clip


@pytest.fixture(scope='module')
def tiny_set(tmp_path_factory):
    root = str(tmp_path_factory.mktemp('synthetic'))
    gt_path = generate_synthetic_dataset(
        root, num_train_videos=2, num_test_videos=2, num_frames=16, seed=4)
    return root, gt_path


def run(tiny_set, out_dir, phase, *extra):
    root, gt_path = tiny_set
    frames = osp.join(root, 'rawframes')
    options = [
        f'{phase}_dataloader.dataset.ann_file={gt_path}',
        f'{phase}_dataloader.dataset.data_prefix.img={frames}'
    ]
    return browse.main([
        CONFIG, '--phase', phase, '--output-dir',
        str(out_dir), *extra, '--cfg-options', *options
    ])


def expected_pictures(gt, split_key):
    """``{file stem: (video, frame)}`` of every annotated frame."""
    stems = {}
    for video in gt[split_key][0]:
        for frame in group_boxes_by_frame(gt['gttubes'][video]):
            stems[f'{video.replace("/", "_")}_{frame:05d}'] = (video, frame)
    return stems


def outline_has_colour(image, box, colour):
    """Whether most of the left, right and bottom edges of ``box`` (within one
    pixel of the rounded position) are drawn in ``colour``."""
    x1, y1, x2, y2 = (int(round(v)) for v in box)
    h, w = image.shape[:2]
    hits = []

    def near(ys, xs):
        for dy in (-1, 0, 1):
            for dx in (-1, 0, 1):
                y, x = min(max(ys + dy, 0), h - 1), min(max(xs + dx, 0), w - 1)
                if (image[y, x] == colour).all():
                    return True
        return False

    for y in range(y1 + 2, y2 - 1):
        hits += [near(y, x1), near(y, x2)]
    for x in range(x1 + 2, x2 - 1):
        hits.append(near(y2, x))
    return np.mean(hits) > 0.9


def test_keyframes_show_the_boxes_at_the_gt_position(tiny_set, tmp_path):
    gt = load_annotations(tiny_set[1])
    paths = run(tiny_set, tmp_path, 'val', '--mode', 'keyframe',
                '--num-samples', '4')
    assert len(paths) == 4
    expected = expected_pictures(gt, 'test_videos')
    scale = INPUT_SIZE / FRAME_SIZE
    for path in paths:
        assert osp.dirname(path) == str(tmp_path / 'val')
        stem = osp.splitext(osp.basename(path))[0]
        video, frame = expected[stem]
        image = cv2.imread(path)
        # The key frame at the input size above a caption row.
        assert image.shape == (INPUT_SIZE + browse.CAPTION_HEIGHT, INPUT_SIZE,
                               3)
        boxes, labels = group_boxes_by_frame(gt['gttubes'][video])[frame]
        assert len(boxes) > 0
        for box, label in zip(boxes, labels):
            assert outline_has_colour(image, box * scale,
                                      browse.class_colour(int(label)))
        # And not where no box is: the image corners are frame pixels.
        corner = image[INPUT_SIZE - 1, 0]
        assert not any((corner == browse.class_colour(int(label))).all()
                       for label in labels)


def test_clip_strip_marks_the_key_frame(tiny_set, tmp_path):
    gt = load_annotations(tiny_set[1])
    keyframes = run(tiny_set, tmp_path / 'k', 'val', '--mode', 'keyframe',
                    '--num-samples', '3')
    strips = run(tiny_set, tmp_path / 's', 'val', '--mode', 'clip',
                 '--num-samples', '3', '--per-row', '3')
    assert [osp.basename(p)
            for p in keyframes] == [osp.basename(p) for p in strips]
    expected = expected_pictures(gt, 'test_videos')
    tile_h = INPUT_SIZE + browse.CAPTION_HEIGHT + 2 * browse.MARGIN
    tile_w = INPUT_SIZE + 2 * browse.MARGIN
    for key_path, strip_path in zip(keyframes, strips):
        _, frame = expected[osp.splitext(osp.basename(strip_path))[0]]
        strip = cv2.imread(strip_path)
        # 8 frames, 3 a row: 3 rows.
        assert strip.shape == (3 * tile_h, 3 * tile_w, 3)
        # Test-mode KFRS puts the key frame at the latest position whose
        # clip starts in the video (paper eq. 2-3 with j = j_max).
        key = min(CLIP_LEN, frame) - 1
        row, col = divmod(key, 3)
        top, left = row * tile_h, col * tile_w
        tile = strip[top + browse.MARGIN:top + browse.MARGIN + INPUT_SIZE,
                     left + browse.MARGIN:left + browse.MARGIN + INPUT_SIZE]
        key_image = cv2.imread(key_path)[:INPUT_SIZE]
        np.testing.assert_array_equal(tile, key_image)
        # The red frame is around that tile only.
        assert (strip[top, left + tile_w // 2] == browse.KEY_COLOUR).all()
        others = [k for k in range(CLIP_LEN) if k != key]
        for other in others:
            r, c = divmod(other, 3)
            assert (strip[r * tile_h, c * tile_w + tile_w // 2] == 0).all()


def test_train_phase_writes_augmented_clips(tiny_set, tmp_path):
    gt = load_annotations(tiny_set[1])
    paths = run(tiny_set, tmp_path, 'train', '--num-samples', '3')
    assert len(paths) == 3
    expected = expected_pictures(gt, 'train_videos')
    for path in paths:
        assert osp.splitext(osp.basename(path))[0] in expected
        assert cv2.imread(path).shape[1] == 8 * (
            INPUT_SIZE + 2 * browse.MARGIN)


def test_clip_to_images_layout_and_errors():
    clip = torch.zeros(3, 2, 4, 5)
    clip[0] = 300.0  # red channel, past 255 after colour jitter
    clip[2, 1] = 7.6
    frames = browse.clip_to_images(clip, 'x')
    assert len(frames) == 2 and frames[0].shape == (4, 5, 3)
    assert frames[0].dtype == np.uint8
    # RGB -> BGR, clipped and rounded.
    assert frames[0][0, 0].tolist() == [0, 0, 255]
    assert frames[1][0, 0].tolist() == [8, 0, 255]
    with pytest.raises(ValueError, match=r"sample 3: .*'NCTHW'"):
        browse.clip_to_images(torch.zeros(3, 8, 8), 'sample 3')


def test_sample_indices_spread_over_the_dataset():
    assert browse.sample_indices(5, 10) == [0, 1, 2, 3, 4]
    assert browse.sample_indices(101, 5) == [0, 25, 50, 75, 100]


def test_multi_label_boxes_show_every_class():
    """A multi-hot row (multi-label datasets, AVA) is drawn like its first
    class, with a longer tag naming all of them."""
    image = np.zeros((60, 120, 3), np.uint8)
    box = np.array([[10., 30., 60., 55.]])
    names = ['stand', 'talk', 'wave']
    single = browse.draw_boxes(image, box, np.array([1]), names)
    multi = browse.draw_boxes(image, box, np.array([[0., 1., 1.]]), names)
    colour = browse.class_colour(1)
    # Same outline (bottom edge, below the tag) in the first class's colour.
    assert tuple(multi[55, 30]) == tuple(single[55, 30]) == colour
    # The tag 'talk+wave' is wider than 'talk'.
    tag_width = [
        int((img[:30] == colour).all(axis=2).any(axis=0).sum())
        for img in (single, multi)
    ]
    assert tag_width[1] > tag_width[0] > 0
