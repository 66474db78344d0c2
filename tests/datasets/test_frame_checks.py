"""Broken frame files and frame sizes that disagree with the annotation are
clear errors where clips are decoded (rawframes and videos)."""
import os
import os.path as osp

import cv2
import numpy as np
import pytest
from mmaction.datasets.transforms import RawFrameDecode
from mmengine.registry import init_default_scope

from mmyowo.datasets import SpatioTemporalActionDataset, save_annotations
from mmyowo.datasets.transforms.frame_io import (FrameDecodeError,
                                                 FrameSizeError)
from mmyowo.datasets.transforms.loading import VideoDecode
from mmyowo.datasets.transforms.rawframe_decode import RawFrameDecodeKeepBoxes
from mmyowo.preparation.media_probe import probe_rawframes
from .test_loading import MINI_VIDEO, MINI_VIDEOS, read_all_opencv

VIDEO = 'Walk/v_Walk_g01_c01'


def noise_frame(seed, h, w):
    """A textured frame, so that its JPEG has a real entropy-coded body."""
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, (h // 8 + 1, w // 8 + 1, 3), np.uint8)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)


def write_jpgs(frame_dir, num, h, w, tmpl='{:05d}.jpg', sizes=None):
    """``num`` JPEG frames of ``h x w``; ``sizes`` overrides some numbers."""
    os.makedirs(frame_dir, exist_ok=True)
    for i in range(1, num + 1):
        fh, fw = (sizes or {}).get(i, (h, w))
        cv2.imwrite(
            osp.join(frame_dir, tmpl.format(i)), noise_frame(i, fh, fw))


def decode(frame_dir, inds, ori_shape=None, tmpl='{:05d}.jpg', **kwargs):
    results = dict(
        frame_dir=frame_dir,
        filename_tmpl=tmpl,
        frame_inds=np.array(inds),
        modality='RGB')
    if ori_shape is not None:
        results.update(ori_shape=ori_shape, video_id=VIDEO)
    return RawFrameDecodeKeepBoxes(**kwargs).transform(results)


def encoded(ext, h=48, w=64):
    ok, data = cv2.imencode(ext, noise_frame(0, h, w))
    assert ok
    return data.tobytes()


# ---------------------------------------------------------------------- #
# broken frame files
# ---------------------------------------------------------------------- #
BROKEN = {
    'truncated jpeg': (lambda: encoded('.jpg')[:-400], 'truncated'),
    'jpeg without end marker': (lambda: encoded('.jpg')[:-2], 'truncated'),
    'truncated png': (lambda: encoded('.png')[:-100], 'truncated'),
    'empty': (lambda: b'', 'the file is empty'),
    'text named .jpg': (lambda: b'frame 2 lost\n', 'cannot decode'),
}


@pytest.mark.parametrize('backend', ['cv2', 'pillow'])
@pytest.mark.parametrize('case', list(BROKEN))
def test_broken_frame_file_names_the_file(tmp_path, case, backend):
    frame_dir = str(tmp_path / VIDEO)
    write_jpgs(frame_dir, 3, 48, 64)
    broken = osp.join(frame_dir, '00002.jpg')
    content, problem = BROKEN[case]
    with open(broken, 'wb') as file:
        file.write(content())
    with pytest.raises(FrameDecodeError, match=problem) as info:
        decode(frame_dir, [1, 2, 3], decoding_backend=backend)
    assert info.value.path == broken
    assert str(info.value).startswith(broken + ': ')
    # The probe decodes the first frame: make the broken one the first.
    os.remove(osp.join(frame_dir, '00001.jpg'))
    with pytest.raises(FrameDecodeError, match='00002.jpg'):
        probe_rawframes(frame_dir, '{:05d}.jpg', start_index=2)


@pytest.mark.parametrize('trailer', [b'\x00' * 16, b'CAMERA-TRAILER\x01'])
def test_data_after_the_end_marker_is_allowed(tmp_path, trailer):
    frame_dir = str(tmp_path / 'v')
    os.makedirs(frame_dir)
    jpg = encoded('.jpg')
    with open(osp.join(frame_dir, '00001.jpg'), 'wb') as file:
        file.write(jpg + trailer)
    expected = cv2.cvtColor(
        cv2.imdecode(np.frombuffer(jpg, np.uint8), cv2.IMREAD_COLOR),
        cv2.COLOR_BGR2RGB)
    np.testing.assert_array_equal(decode(frame_dir, [1])['imgs'][0], expected)


@pytest.mark.parametrize('backend', ['cv2', 'pillow'])
def test_decoding_matches_mmaction_raw_frame_decode(tmp_path, backend):
    """Same frames, order, copies and keys as mmaction's decoder."""
    frame_dir = str(tmp_path / 'v')
    write_jpgs(frame_dir, 6, 48, 64)

    def results():
        return dict(
            frame_dir=frame_dir,
            filename_tmpl='{:05d}.jpg',
            frame_inds=np.array([[2, 2, 5, 3]]),
            modality='RGB',
            offset=1)

    ours = RawFrameDecodeKeepBoxes(
        decoding_backend=backend).transform(results())
    theirs = RawFrameDecode(decoding_backend=backend).transform(results())
    assert len(ours['imgs']) == 4
    for a, b in zip(ours['imgs'], theirs['imgs']):
        assert a.dtype == b.dtype
        np.testing.assert_array_equal(a, b)
    # frame 2 (+ offset 1 = file 3) is decoded once and copied.
    np.testing.assert_array_equal(
        ours['imgs'][0],
        cv2.imread(osp.join(frame_dir, '00003.jpg'))[..., ::-1])
    assert not np.shares_memory(ours['imgs'][0], ours['imgs'][1])
    assert ours['img_shape'] == ours['original_shape'] == (48, 64)
    np.testing.assert_array_equal(ours['frame_inds'], [2, 2, 5, 3])


def test_flow_frames_match_mmaction(tmp_path):
    frame_dir = str(tmp_path / 'flow')
    os.makedirs(frame_dir)
    for i in (1, 2):
        for axis, seed in (('x', i), ('y', 10 + i)):
            cv2.imwrite(
                osp.join(frame_dir, f'{axis}_{i:05d}.jpg'),
                noise_frame(seed, 24, 32)[..., 0])

    def results():
        return dict(
            frame_dir=frame_dir,
            filename_tmpl='{}_{:05d}.jpg',
            frame_inds=np.array([1, 2, 1]),
            modality='Flow')

    ours = RawFrameDecodeKeepBoxes().transform(results())['imgs']
    theirs = RawFrameDecode().transform(results())['imgs']
    assert [img.shape for img in ours] == [(24, 32, 2)] * 3
    for a, b in zip(ours, theirs):
        np.testing.assert_array_equal(a, b)
    cv2.imwrite(
        osp.join(frame_dir, 'y_00002.jpg'),
        noise_frame(0, 24, 40)[..., 0])
    with pytest.raises(FrameSizeError, match='y_00002.jpg.*24x40'):
        RawFrameDecodeKeepBoxes().transform(results())


# ---------------------------------------------------------------------- #
# frame sizes
# ---------------------------------------------------------------------- #
@pytest.mark.parametrize('inds', [[1, 2, 3, 4], [3, 1, 2, 4]])
@pytest.mark.parametrize('with_ori_shape', [True, False])
def test_frame_of_another_size_names_the_frame(tmp_path, inds, with_ori_shape):
    """A 112x160 frame among 112x112 ones used to pass silently."""
    frame_dir = str(tmp_path / VIDEO)
    write_jpgs(frame_dir, 4, 112, 112, sizes={3: (112, 160)})
    odd = osp.join(frame_dir, '00003.jpg')
    with pytest.raises(
            FrameSizeError,
            match='frame of 112x160 .* among frames of 112x112') as info:
        decode(frame_dir, inds, (112, 112) if with_ori_shape else None)
    assert info.value.path == odd
    assert str(info.value).startswith(odd + ': ')
    # Frames 1, 2 and 4 alone agree.
    assert len(decode(frame_dir, [1, 2, 4], (112, 112))['imgs']) == 3


def make_dataset(root,
                 resolution,
                 frame_size,
                 pipeline,
                 nframes=4,
                 sizes=None):
    """A one-video ground truth and rawframes of ``frame_size``."""
    h, w = resolution
    tube = np.array([[f, 10, 20, w / 2, h / 2] for f in range(1, nframes + 1)],
                    np.float32)
    gt = dict(
        labels=['Walk'],
        gttubes={VIDEO: {
            0: [tube]
        }},
        nframes={VIDEO: nframes},
        resolution={VIDEO: resolution},
        train_videos=[[VIDEO]],
        test_videos=[[VIDEO]])
    save_annotations(gt, str(root / 'gt.pkl'))
    write_jpgs(
        str(root / 'rawframes' / VIDEO), nframes, *frame_size, sizes=sizes)
    init_default_scope('mmaction')
    return SpatioTemporalActionDataset(
        str(root / 'gt.pkl'),
        pipeline,
        data_prefix=dict(img=str(root / 'rawframes')),
        test_mode=True)


PIPELINE = [
    dict(type='KFRSampleFrames', clip_len=4, test_mode=True),
    dict(type='RawFrameDecodeKeepBoxes'),
]


def test_dataset_frames_of_another_size_than_the_annotation(tmp_path):
    """Boxes of 240x320 with frames of 256x340 (the ucf24-mini case) used to
    train and evaluate misaligned without a word."""
    dataset = make_dataset(tmp_path, (240, 320), (256, 340), PIPELINE)
    frame_dir = str(tmp_path / 'rawframes' / VIDEO)
    with pytest.raises(FrameSizeError) as info:
        dataset[2]
    message = str(info.value)
    assert message.startswith(frame_dir + ': ')
    for part in (VIDEO, 'frames are 256x340', 'resolution of video',
                 'is 240x320', '--frame-size'):
        assert part in message
    # Frames of the annotation's size decode, boxes untouched.
    good = make_dataset(tmp_path / 'good', (256, 340), (256, 340), PIPELINE)
    results = good[2]
    assert [img.shape for img in results['imgs']] == [(256, 340, 3)] * 4
    np.testing.assert_allclose(results['gt_bboxes'], [[10, 20, 170, 128]])


def test_dataset_frame_of_another_size_in_the_video(tmp_path):
    dataset = make_dataset(
        tmp_path, (112, 112), (112, 112),
        PIPELINE,
        nframes=6,
        sizes={5: (112, 160)})
    assert len(dataset[0]['imgs']) == 4  # clip 1..4 (padded) is fine
    with pytest.raises(FrameSizeError, match='00005.jpg: frame of 112x160'):
        dataset[5]


def test_video_decode_checks_the_annotation_size():
    """ucf24-mini videos are 340x256, their finalAnnots boxes 320x240."""
    reference = read_all_opencv(MINI_VIDEO)
    video_id = 'CliffDiving/v_CliffDiving_g03_c01'

    def results(ori_shape):
        return dict(
            filename=MINI_VIDEO,
            frame_inds=np.array([0, 3]),
            start_index=0,
            ori_shape=ori_shape,
            video_id=video_id)

    out = VideoDecode().transform(results((256, 340)))
    np.testing.assert_array_equal(out['imgs'][1], reference[3])
    assert out['img_shape'] == (256, 340)
    with pytest.raises(FrameSizeError) as info:
        VideoDecode().transform(results((240, 320)))
    message = str(info.value)
    assert info.value.path == MINI_VIDEO
    for part in (MINI_VIDEO, video_id, '256x340', '240x320', '--frame-size'):
        assert part in message
    # Without ori_shape (other datasets) only the frames are compared.
    out = VideoDecode().transform(
        dict(filename=MINI_VIDEO, frame_inds=np.array([1])))
    assert out['original_shape'] == (256, 340)


def test_video_dataset_with_annotation_size_of_the_mat(tmp_path):
    video_id = 'CliffDiving/v_CliffDiving_g03_c01'
    tube = np.array([[f, 10, 20, 100, 120] for f in (1, 2)], np.float32)
    gt = dict(
        labels=['CliffDiving'],
        gttubes={video_id: {
            0: [tube]
        }},
        nframes={video_id: 92},
        resolution={video_id: (240, 320)},
        train_videos=[[video_id]],
        test_videos=[[video_id]])
    save_annotations(gt, str(tmp_path / 'gt.pkl'))
    init_default_scope('mmaction')
    dataset = SpatioTemporalActionDataset(
        str(tmp_path / 'gt.pkl'), [
            dict(type='KFRSampleFrames', clip_len=2, test_mode=True),
            dict(type='VideoDecode')
        ],
        data_prefix=dict(video=MINI_VIDEOS),
        video_ext='.mp4',
        flat_video_dir=True,
        test_mode=True,
        key_frames='annotated')
    with pytest.raises(
            FrameSizeError,
            match='v_CliffDiving_g03_c01.mp4.*256x340.*240x320'):
        dataset[0]
