"""Tests for frame decoding from rawframes and video files."""
import os
import os.path as osp

import cv2
import numpy as np
import pytest
from mmaction.datasets.transforms import RawFrameDecode
from mmaction.registry import TRANSFORMS
from mmengine.registry import init_default_scope

from mmyowo.datasets.transforms.loading import (VideoDecode, VideoDecodeError,
                                                read_video_frames, video_path)
from mmyowo.datasets.transforms.rawframe_decode import RawFrameDecodeKeepBoxes
from mmyowo.preparation.media_probe import (parse_frame_number, probe_media,
                                            probe_rawframes, probe_video)
from .._paths import UCF24_MINI_VIDEOS as MINI_VIDEOS

# The shortest ucf24-mini video: 92 frames of 340x256.
MINI_VIDEO = osp.join(MINI_VIDEOS, 'v_CliffDiving_g03_c01.mp4')


def frame_image(index, h=24, w=32):
    """A frame whose pixels encode its number (exact through PNG)."""
    img = np.zeros((h, w, 3), np.uint8)
    img[..., 0] = index
    img[..., 1] = np.arange(w, dtype=np.uint8)[None]
    img[..., 2] = 255 - index
    return img


def write_rawframes(frame_dir, num, tmpl='{:05d}.png', h=24, w=32):
    os.makedirs(frame_dir, exist_ok=True)
    for i in range(1, num + 1):
        # cv2 writes BGR: store the RGB frame reversed so it reads back RGB.
        cv2.imwrite(
            osp.join(frame_dir, tmpl.format(i)),
            frame_image(i, h, w)[..., ::-1])


def write_mjpg_video(path, num, h=32, w=64):
    """A short MJPG .avi (decord can open it) with flat grey frames."""
    writer = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*'MJPG'), 25, (w, h))
    for i in range(num):
        writer.write(np.full((h, w, 3), 20 + 30 * i, np.uint8))
    writer.release()


def read_all_opencv(path):
    capture = cv2.VideoCapture(path)
    frames = []
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        frames.append(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB))
    capture.release()
    return frames


def rawframe_results(frame_dir, frame_inds, tmpl='{:05d}.png'):
    boxes = np.array([[1.5, 2.5, 10, 20]], np.float32)
    return dict(
        frame_dir=frame_dir,
        filename_tmpl=tmpl,
        frame_inds=np.array(frame_inds),
        modality='RGB',
        start_index=1,
        gt_bboxes=boxes.copy(),
        gt_labels=np.array([0]))


def test_rawframe_decode_keeps_pixel_boxes(tmp_path):
    frame_dir = str(tmp_path / 'Walk' / 'v1')
    write_rawframes(frame_dir, 5)
    # frame_inds already include start_index = 1: file numbers.
    results = RawFrameDecodeKeepBoxes().transform(
        rawframe_results(frame_dir, [2, 2, 3, 5]))
    assert len(results['imgs']) == 4
    for img, number in zip(results['imgs'], [2, 2, 3, 5]):
        np.testing.assert_array_equal(img, frame_image(number))
    assert results['img_shape'] == (24, 32)
    assert results['original_shape'] == (24, 32)
    np.testing.assert_array_equal(results['gt_bboxes'], [[1.5, 2.5, 10, 20]])
    # Why the subclass exists: mmaction's decoder rescales the boxes as if
    # they were normalised.
    scaled = RawFrameDecode().transform(rawframe_results(frame_dir,
                                                         [2]))['gt_bboxes']
    np.testing.assert_allclose(scaled, [[1.5 * 32, 2.5 * 24, 320, 480]])


def test_rawframe_decode_missing_frame_names_file(tmp_path):
    frame_dir = str(tmp_path / 'v1')
    write_rawframes(frame_dir, 3)
    with pytest.raises(FileNotFoundError, match='00004.png'):
        RawFrameDecodeKeepBoxes().transform(
            rawframe_results(frame_dir, [2, 4]))


def test_transforms_are_registered():
    init_default_scope('mmaction')
    assert isinstance(TRANSFORMS.build(dict(type='VideoDecode')), VideoDecode)
    assert isinstance(
        TRANSFORMS.build(dict(type='RawFrameDecodeKeepBoxes')),
        RawFrameDecodeKeepBoxes)
    with pytest.raises(ValueError, match='backend'):
        VideoDecode(backend='pyav')


def test_video_decode_raw_stream_falls_back_to_opencv():
    reference = read_all_opencv(MINI_VIDEO)
    assert len(reference) == 92
    inds = np.array([0, 0, 5, 91, 40])
    boxes = np.array([[3, 4, 50, 60]], np.float32)
    results = VideoDecode().transform(
        dict(
            filename=MINI_VIDEO,
            frame_inds=inds,
            start_index=0,
            gt_bboxes=boxes.copy()))
    assert len(results['imgs']) == 5
    for img, i in zip(results['imgs'], inds):
        assert img.dtype == np.uint8 and img.shape == (256, 340, 3)
        np.testing.assert_array_equal(img, reference[i])
    assert not np.shares_memory(results['imgs'][0], results['imgs'][1])
    assert results['img_shape'] == (256, 340)
    assert results['original_shape'] == (256, 340)
    np.testing.assert_array_equal(results['gt_bboxes'], boxes)
    # frame_inds = position + start_index.
    shifted = VideoDecode().transform(
        dict(filename=MINI_VIDEO, frame_inds=inds[2:4] + 1, start_index=1))
    np.testing.assert_array_equal(shifted['imgs'][1], reference[91])


def test_video_decode_errors_on_mini_video():
    with pytest.raises(IndexError, match='v_CliffDiving_g03_c01.mp4.*92'):
        read_video_frames(MINI_VIDEO, [3, 92])
    with pytest.raises(VideoDecodeError, match='decord cannot open'):
        read_video_frames(MINI_VIDEO, [0], backend='decord')
    assert probe_video(MINI_VIDEO) == (92, 256, 340)


@pytest.mark.parametrize('backend', ['auto', 'decord', 'opencv'])
def test_video_decode_backends_agree(tmp_path, backend):
    path = str(tmp_path / 'clip.avi')
    write_mjpg_video(path, 6)
    imgs = read_video_frames(path, [5, 1, 1], backend=backend)
    reference = read_all_opencv(path)
    assert len(reference) == 6
    assert not np.shares_memory(imgs[1], imgs[2])
    for img, i in zip(imgs, [5, 1, 1]):
        assert img.shape == (32, 64, 3)
        # JPEG decoders may differ by a level; flat frames are 30 apart.
        assert np.abs(img.astype(int) - reference[i].astype(int)).max() <= 2
    with pytest.raises(IndexError, match='clip.avi.*past the end'):
        read_video_frames(path, [6], backend=backend)
    with pytest.raises(IndexError, match='negative'):
        read_video_frames(path, [-1], backend=backend)


def test_auto_backend_falls_back_when_decord_cannot_decode(
        tmp_path, monkeypatch):
    # decord 0.6 opens some videos it then fails to decode (e.g. MJPG
    # 48 px wide); simulate that for any video.
    import decord

    def broken_get_batch(self, indices):
        raise decord.DECORDError('Check failed: from_size == to_size')

    monkeypatch.setattr(decord.VideoReader, 'get_batch', broken_get_batch)
    path = str(tmp_path / 'clip.avi')
    write_mjpg_video(path, 4)
    with pytest.raises(VideoDecodeError, match='clip.avi: decord cannot'):
        read_video_frames(path, [1], backend='decord')
    imgs = read_video_frames(path, [3, 1])
    reference = read_all_opencv(path)
    np.testing.assert_array_equal(imgs[0], reference[3])
    np.testing.assert_array_equal(imgs[1], reference[1])


@pytest.mark.parametrize('backend', ['auto', 'opencv'])
@pytest.mark.parametrize('content', [b'', b'random'])
def test_video_decode_bad_files_name_the_file(tmp_path, backend, content):
    path = tmp_path / 'broken.avi'
    if content == b'random':
        content = np.random.default_rng(0).bytes(4096)
    path.write_bytes(content)
    with pytest.raises(VideoDecodeError, match='broken.avi'):
        VideoDecode(backend=backend).transform(
            dict(filename=str(path), frame_inds=np.array([0])))
    with pytest.raises(VideoDecodeError, match='broken.avi'):
        probe_video(str(path))
    with pytest.raises(FileNotFoundError, match='missing.avi'):
        VideoDecode(backend=backend).transform(
            dict(
                filename=str(tmp_path / 'missing.avi'),
                frame_inds=np.array([0])))


def test_probe_rawframes(tmp_path):
    frame_dir = str(tmp_path / 'v')
    write_rawframes(frame_dir, 4, tmpl='{:05d}.jpg', h=10, w=14)
    open(osp.join(frame_dir, 'notes.txt'), 'w').close()
    assert probe_rawframes(frame_dir) == (4, 10, 14)
    os.remove(osp.join(frame_dir, '00003.jpg'))
    with pytest.raises(
            ValueError, match='00003.jpg is missing but '
            '00004.jpg exists'):
        probe_rawframes(frame_dir)
    with pytest.raises(FileNotFoundError, match='00001.png'):
        probe_rawframes(frame_dir, '{:05d}.png')
    with pytest.raises(FileNotFoundError, match='nothere'):
        probe_rawframes(str(tmp_path / 'nothere'))


def test_parse_frame_number_and_video_path():
    assert parse_frame_number('{:05d}.jpg', '00012.jpg') == 12
    assert parse_frame_number('img_{:05d}.jpg', 'img_00012.jpg') == 12
    assert parse_frame_number('{:05d}.jpg', '12.jpg') is None
    assert parse_frame_number('{:05d}.jpg', '00012.png') is None
    assert parse_frame_number('{:05d}.jpg', 'abcde.jpg') is None
    assert video_path('root', 'Walk/v1') == osp.join('root', 'Walk/v1.avi')
    assert video_path(
        'root', 'Walk/v1', '.mp4', flat=True) == osp.join('root', 'v1.mp4')


def test_probe_media(tmp_path):
    write_rawframes(str(tmp_path / 'A' / 'v1'), 3, tmpl='{:05d}.jpg')
    found, absent = probe_media(['A/v1', 'A/v2'], frames_root=str(tmp_path))
    assert found == {'A/v1': (3, 24, 32)} and absent == ['A/v2']
    (tmp_path / 'A' / 'v3').mkdir()
    with pytest.raises(ValueError, match='cannot be measured'):
        probe_media(['A/v3'], frames_root=str(tmp_path))
    with pytest.raises(ValueError, match='exactly one'):
        probe_media(['A/v1'])
