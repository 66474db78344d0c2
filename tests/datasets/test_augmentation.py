"""Tests of clip-consistent augmentation (paper §4.1)."""
import numpy as np
import pytest
import torch
from mmaction.registry import DATASETS, TRANSFORMS
from mmengine.dataset import Compose

from mmyowo.datasets.transforms.augmentation import (RandomZoomJitter,
                                                     boxes_in_window,
                                                     crop_and_pad, zoom_window)
from mmyowo.preparation.synthetic import generate_synthetic_dataset

H, W = 48, 64


def random_clip(num_frames: int = 4, seed: int = 0) -> list:
    rng = np.random.default_rng(seed)
    return [
        rng.integers(0, 256, size=(H, W, 3), dtype=np.uint8)
        for _ in range(num_frames)
    ]


def reference_crop(img: np.ndarray, window, fill) -> np.ndarray:
    """Crop through a padded copy: independent of ``crop_and_pad``."""
    border = max(H, W) * 3
    padded = np.empty(
        (H + 2 * border, W + 2 * border) + img.shape[2:], dtype=img.dtype)
    padded[...] = fill
    padded[border:border + H, border:border + W] = img
    x1, y1, x2, y2 = (int(v) + border for v in window)
    return padded[y1:y2, x1:x2]


def test_zoom_window():
    np.testing.assert_array_equal(
        zoom_window((H, W), 2., (0., 0.)), [16, 12, 48, 36])
    np.testing.assert_array_equal(
        zoom_window((H, W), 0.5, (0., 0.)), [-32, -24, 96, 72])
    np.testing.assert_array_equal(
        zoom_window((H, W), 1., (0.25, -0.5)), [16, -24, 80, 24])
    with pytest.raises(ValueError, match='zoom'):
        zoom_window((H, W), 0., (0., 0.))


@pytest.mark.parametrize('window',
                         [[16, 12, 48, 36], [-32, -24, 96, 72],
                          [40, -10, 90, 20], [-100, 0, -70, 10], [0, 0, W, H]])
def test_crop_and_pad_matches_reference(window):
    img = random_clip(1)[0]
    fill = np.array([10., 20., 30.])
    out = crop_and_pad(img, np.array(window), fill)
    assert out.dtype == np.uint8 and out.flags['C_CONTIGUOUS']
    np.testing.assert_array_equal(out, reference_crop(img, window, fill))


@pytest.mark.parametrize('shape', [(H, W), (H, W, 1), (H, W, 6)])
def test_crop_and_pad_other_channel_counts(shape):
    img = np.random.default_rng(0).integers(0, 256, shape, dtype=np.uint8)
    window = np.array([-10, 5, 30, 60])
    out = crop_and_pad(img, window, 7.)
    np.testing.assert_array_equal(out, reference_crop(img, window, 7.))


def test_boxes_in_window():
    boxes = np.array([[10, 10, 20, 30], [0, 0, 5, 5], [60, 40, 64, 48]],
                     dtype=np.float32)
    moved, keep = boxes_in_window(boxes, np.array([8, 2, 40, 42]), 2.)
    np.testing.assert_array_equal(moved[0], [2, 8, 12, 28])
    np.testing.assert_array_equal(keep, [True, False, False])
    assert moved.dtype == np.float32
    # A box cut by the window is clipped to it.
    moved, keep = boxes_in_window(boxes[:1], np.array([15, 0, 64, 20]), 2.)
    np.testing.assert_array_equal(moved[0], [0, 10, 5, 20])
    assert keep.all()


def painted_clip(box, num_frames=3):
    """Black frames with a white box: the box is where the pixels are."""
    imgs = []
    for _ in range(num_frames):
        img = np.zeros((H, W, 3), dtype=np.uint8)
        x1, y1, x2, y2 = box
        img[y1:y2, x1:x2] = 255
        imgs.append(img)
    return imgs


@pytest.mark.parametrize('seed', range(8))
def test_zoom_moves_boxes_with_pixels(seed):
    np.random.seed(seed)
    box = (20, 14, 40, 34)
    clip = painted_clip(box)
    results = dict(
        imgs=clip,
        img_shape=(H, W),
        gt_bboxes=np.array([box], dtype=np.float32),
        gt_labels=np.array([3]))
    out = RandomZoomJitter(
        zoom_range=(0.5, 1.5), jitter=0.2, pad_val=0)(
            results)
    window = out['zoom_window']
    win_w, win_h = window[2] - window[0], window[3] - window[1]
    # Zoom in [0.5, 1.5] -> window 1/1.5 .. 2 times the frame, same aspect.
    assert round(W / 1.5) <= win_w <= 2 * W
    assert round(H / 1.5) <= win_h <= 2 * H
    centre = (window[:2] + window[2:]) / 2
    assert abs(centre[0] - W / 2) <= 0.2 * W + 1
    assert abs(centre[1] - H / 2) <= 0.2 * H + 1
    assert out['img_shape'] == (win_h, win_w)
    # Every frame is cut with the same window.
    for img in out['imgs']:
        np.testing.assert_array_equal(img, out['imgs'][0])
        assert img.shape == (win_h, win_w, 3)
    # The only box is never lost (redraws, then the whole frame).
    assert len(out['gt_bboxes']) == 1
    ys, xs = np.nonzero(out['imgs'][0][..., 0])
    np.testing.assert_array_equal(
        out['gt_bboxes'][0],
        [xs.min(), ys.min(), xs.max() + 1,
         ys.max() + 1])
    np.testing.assert_array_equal(out['gt_labels'], [3])


def test_zoom_clip_consistency_on_distinct_frames():
    np.random.seed(3)
    clip = random_clip(5)
    fill = (10, 200, 30)
    out = RandomZoomJitter(
        zoom_range=(0.6, 0.6), jitter=0.1, pad_val=fill)(
            dict(imgs=list(clip), img_shape=(H, W)))
    window = out['zoom_window']
    for src, dst in zip(clip, out['imgs']):
        np.testing.assert_array_equal(dst, reference_crop(src, window, fill))


def test_zoom_out_pads_with_clip_mean():
    colours = [(0, 0, 0), (100, 50, 250), (200, 100, 50)]
    clip = [np.full((H, W, 3), c, dtype=np.uint8) for c in colours]
    out = RandomZoomJitter(
        zoom_range=(0.5, 0.5), jitter=0.)(
            dict(imgs=clip, img_shape=(H, W)))
    np.testing.assert_array_equal(out['zoom_window'], [-32, -24, 96, 72])
    for img, colour in zip(out['imgs'], colours):
        np.testing.assert_array_equal(img[0, 0], [100, 50, 100])
        np.testing.assert_array_equal(img[24 + H // 2, 32 + W // 2], colour)


def test_degenerate_boxes_dropped_with_labels():
    np.random.seed(0)
    boxes = np.array([[0, 0, 10, 8], [20, 15, 40, 30], [60, 44, 64, 48],
                      [15, 11, 17.5, 30]],
                     dtype=np.float32)
    out = RandomZoomJitter(
        zoom_range=(2., 2.), jitter=0., min_size=2)(
            dict(
                imgs=random_clip(2),
                img_shape=(H, W),
                gt_bboxes=boxes,
                gt_labels=np.array([0, 1, 2, 3])))
    # Window [16, 12, 48, 36]: box 0 and 2 fall outside, box 3 keeps a
    # 1.5 px wide sliver (< min_size).
    np.testing.assert_array_equal(out['gt_bboxes'], [[4, 3, 24, 18]])
    np.testing.assert_array_equal(out['gt_labels'], [1])
    assert out['gt_bboxes'].dtype == np.float32


def test_falls_back_to_whole_frame_instead_of_losing_every_box():
    np.random.seed(0)
    boxes = np.array([[0, 0, 10, 8]], dtype=np.float32)
    clip = random_clip(2)
    out = RandomZoomJitter(
        zoom_range=(2., 2.), jitter=0., max_attempts=3)(
            dict(
                imgs=list(clip),
                img_shape=(H, W),
                gt_bboxes=boxes.copy(),
                gt_labels=np.array([1])))
    np.testing.assert_array_equal(out['zoom_window'], [0, 0, W, H])
    np.testing.assert_array_equal(out['gt_bboxes'], boxes)
    np.testing.assert_array_equal(out['imgs'][1], clip[1])


def test_zoom_without_boxes_and_empty_boxes():
    np.random.seed(1)
    out = RandomZoomJitter(
        zoom_range=(2., 2.), jitter=0.)(
            dict(
                imgs=random_clip(1),
                img_shape=(H, W),
                gt_bboxes=np.zeros((0, 4), np.float32),
                gt_labels=np.zeros((0, ), np.int64)))
    assert out['gt_bboxes'].shape == (0, 4)
    assert out['gt_labels'].shape == (0, )
    assert out['img_shape'] == (24, 32)


@pytest.mark.parametrize('kwargs,match', [
    (dict(zoom_range=(1.5, 0.5)), 'zoom_range'),
    (dict(zoom_range=(0., 1.)), 'zoom_range'),
    (dict(jitter=-0.1), 'jitter'),
    (dict(pad_val='median'), 'pad_val'),
    (dict(max_attempts=0), 'max_attempts'),
    (dict(min_size=0), 'min_size'),
])
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        RandomZoomJitter(**kwargs)


def test_mmaction_flip_is_clip_consistent_and_flips_boxes():
    clip = random_clip(4)
    boxes = np.array([[5, 6, 20, 30]], dtype=np.float32)
    flipped_once = False
    for seed in range(6):
        np.random.seed(seed)
        out = TRANSFORMS.build(dict(type='Flip', flip_ratio=0.5))(
            dict(
                imgs=[img.copy() for img in clip],
                img_shape=(H, W),
                modality='RGB',
                gt_bboxes=boxes.copy()))
        expected = [img[:, ::-1] if out['flip'] else img for img in clip]
        for got, want in zip(out['imgs'], expected):
            np.testing.assert_array_equal(got, want)
        if out['flip']:
            flipped_once = True
            np.testing.assert_array_equal(out['gt_bboxes'],
                                          [[W - 20, 6, W - 5, 30]])
    assert flipped_once


def test_mmaction_color_jitter_draws_once_per_clip():
    np.random.seed(0)
    frame = random_clip(1)[0]
    out = TRANSFORMS.build(
        dict(
            type='ColorJitter',
            brightness=0.3,
            contrast=0.3,
            saturation=0.3,
            hue=0))(
                dict(imgs=[frame.copy()] * 4))
    for img in out['imgs']:
        np.testing.assert_array_equal(img, out['imgs'][0])
    assert not np.array_equal(out['imgs'][0], frame)


def test_mmaction_resize_scales_boxes_and_sets_scale_factor():
    out = TRANSFORMS.build(
        dict(type='Resize', scale=(224, 224), keep_ratio=False))(
            dict(
                imgs=random_clip(2),
                img_shape=(H, W),
                gt_bboxes=np.array([[8, 12, 32, 48]], dtype=np.float32)))
    np.testing.assert_allclose(out['scale_factor'], [224 / W, 224 / H])
    np.testing.assert_allclose(out['gt_bboxes'],
                               [[8 * 3.5, 12 * 224 / 48, 32 * 3.5, 224]])
    assert out['imgs'][0].shape == (224, 224, 3)


def fake_decode(results: dict) -> dict:
    """Stand-in decoder: frame ``i`` is filled with the value ``i``."""
    results['imgs'] = [
        np.full((H, W, 3), int(i), dtype=np.uint8)
        for i in results['frame_inds']
    ]
    results['img_shape'] = (H, W)
    results['original_shape'] = (H, W)
    return results


META_KEYS = ('video_id', 'frame_id', 'key_frame_index', 'img_shape',
             'ori_shape', 'scale_factor', 'clip_len')


def sample_info() -> dict:
    return dict(
        video_id='a/b',
        frame_id=5,
        total_frames=30,
        start_index=1,
        modality='RGB',
        ori_shape=(H, W),
        gt_bboxes=np.array([[8, 8, 40, 40], [30, 10, 60, 44]],
                           dtype=np.float32),
        gt_labels=np.array([2, 0], dtype=np.int64))


def test_train_pipeline_packs_clip_and_boxes():
    np.random.seed(0)
    pipeline = Compose([
        TRANSFORMS.build(dict(type='KFRSampleFrames', clip_len=8)),
        fake_decode,
        *[
            TRANSFORMS.build(cfg) for cfg in [
                dict(type='RandomZoomJitter'),
                dict(type='Resize', scale=(224, 224), keep_ratio=False),
                dict(type='Flip', flip_ratio=0.5),
                dict(
                    type='ColorJitter',
                    brightness=0.3,
                    contrast=0.3,
                    saturation=0.3,
                    hue=0),
                dict(type='FormatShape', input_format='NCTHW', collapse=True),
                dict(type='PackActionInputs', meta_keys=META_KEYS),
            ]
        ],
    ])
    for _ in range(5):
        packed = pipeline(sample_info())
        inputs, sample = packed['inputs'], packed['data_samples']
        assert inputs.shape == (3, 8, 224, 224) and inputs.dtype == torch.uint8
        bboxes = sample.gt_instances.bboxes
        assert bboxes.shape[0] >= 1
        # float32 scaling may leave a box edge 1e-5 px past the border.
        assert bboxes.min() >= -1e-3 and bboxes.max() <= 224 + 1e-3
        assert (bboxes[:, 2:] > bboxes[:, :2]).all()
        assert sample.gt_instances.labels.dtype == torch.int64
        assert sample.metainfo['img_shape'] == (224, 224)
        assert 0 <= sample.metainfo['key_frame_index'] < 8


def test_test_pipeline_maps_back_exactly():
    pipeline = Compose([
        TRANSFORMS.build(
            dict(type='KFRSampleFrames', clip_len=8, test_mode=True)),
        fake_decode,
        *[
            TRANSFORMS.build(cfg) for cfg in [
                dict(type='Resize', scale=(224, 224), keep_ratio=False),
                dict(type='FormatShape', input_format='NCTHW', collapse=True),
                dict(type='PackActionInputs', meta_keys=META_KEYS),
            ]
        ],
    ])
    packed = pipeline(sample_info())
    inputs, sample = packed['inputs'], packed['data_samples']
    assert inputs.shape == (3, 8, 224, 224) and inputs.dtype == torch.uint8
    # Key frame 5 with L = 8: KFRS puts it at j_max = 5, frames 1..8.
    assert sample.metainfo['key_frame_index'] == 4
    np.testing.assert_array_equal(inputs[0, :, 0, 0].numpy(), np.arange(1, 9))
    meta = sample.metainfo
    assert meta['ori_shape'] == (H, W) and meta['frame_id'] == 5
    restored = sample.gt_instances.bboxes.numpy() / np.tile(
        meta['scale_factor'], 2)
    np.testing.assert_allclose(restored, sample_info()['gt_bboxes'], rtol=1e-5)
    np.testing.assert_array_equal(sample.gt_instances.labels.numpy(), [2, 0])


def test_synthetic_dataset_boxes_follow_pixels_through_augmentation(tmp_path):
    """Integration: generator -> dataset -> KFRS, decode, zoom, resize, flip.

    After augmentation the key frame's boxes must still frame the saturated
    synthetic objects (the background is greyish).
    """
    gt_path = generate_synthetic_dataset(
        str(tmp_path),
        num_train_videos=2,
        num_test_videos=1,
        num_frames=16,
        frame_size=(96, 128))
    pipeline = [
        TRANSFORMS.build(cfg) for cfg in [
            dict(type='KFRSampleFrames', clip_len=4, frame_interval=2),
            dict(type='RawFrameDecodeKeepBoxes'),
            dict(type='RandomZoomJitter'),
            dict(type='Resize', scale=(224, 224), keep_ratio=False),
            dict(type='Flip', flip_ratio=0.5),
            dict(type='FormatShape', input_format='NCTHW', collapse=True),
            dict(type='PackActionInputs', meta_keys=META_KEYS),
        ]
    ]
    dataset = DATASETS.build(
        dict(
            type='SpatioTemporalActionDataset',
            ann_file=gt_path,
            data_prefix=dict(img=str(tmp_path / 'rawframes')),
            pipeline=pipeline))
    np.random.seed(0)
    for index in range(0, len(dataset), 3):
        packed = dataset[index]
        sample = packed['data_samples']
        key = packed['inputs'][:, sample.metainfo['key_frame_index']]
        frame = key.permute(1, 2, 0).numpy().astype(np.int64)
        saturated = frame.max(axis=-1) - frame.min(axis=-1) > 80
        assert len(sample.gt_instances.bboxes) >= 1
        for x1, y1, x2, y2 in sample.gt_instances.bboxes.round().int():
            assert saturated[y1:y2, x1:x2].mean() > 0.3
