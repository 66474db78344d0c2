"""VideoReader on truncated files: containers that announce a frame count
(AVI) warn where decoding stops; raw streams (ucf24-mini) cannot be checked;
an MP4 cut before its index does not open."""
import os.path as osp
import warnings

import cv2
import numpy as np
import pytest

from mmyowo.apis import VideoReader, VideoTruncatedWarning, YOWOVideoDetector
from mmyowo.datasets.transforms.loading import VideoDecodeError
from .._paths import UCF24_MINI_VIDEOS as UCF24_MINI
from .test_inference import SIZE, make_model

#: A real ucf24-mini stream (92 frames) and the fraction of it kept.
MINI_VIDEO = 'v_CliffDiving_g03_c01.mp4'
KEEP = 0.3


def write_video(path, num, fourcc='MJPG', hw=(48, 80), seed=0):
    """Write ``num`` random frames with OpenCV's writer."""
    writer = cv2.VideoWriter(
        str(path), cv2.VideoWriter_fourcc(*fourcc), 10.0, (hw[1], hw[0]))
    assert writer.isOpened()
    rng = np.random.default_rng(seed)
    for _ in range(num):
        writer.write(rng.integers(0, 256, (*hw, 3), dtype=np.uint8))
    writer.release()
    return str(path)


def truncate(src, dst, keep=KEEP):
    """Copy the first ``keep`` fraction of the bytes of ``src``."""
    with open(src, 'rb') as f:
        data = f.read()
    with open(dst, 'wb') as f:
        f.write(data[:int(len(data) * keep)])
    return str(dst)


def opencv_counts(path):
    """Independent of VideoReader: (announced, decodable) frame counts."""
    capture = cv2.VideoCapture(path)
    announced = capture.get(cv2.CAP_PROP_FRAME_COUNT)
    decoded = 0
    while capture.read()[0]:
        decoded += 1
    capture.release()
    return announced, decoded


def write_truncated_avi(tmp_path, num=20, keep=KEEP):
    """An MJPG AVI of ``num`` frames cut at ``keep`` of its bytes; its header
    still announces ``num`` frames.

    Returns (path, decodable).
    """
    full = write_video(tmp_path / 'full.avi', num)
    path = truncate(full, tmp_path / 'cut.avi', keep)
    announced, decoded = opencv_counts(path)
    assert announced == num and 0 < decoded < num
    return path, decoded


def test_complete_avi_reads_silently(tmp_path):
    path = write_video(tmp_path / 'full.avi', 12)
    reader = VideoReader(path)
    assert reader.frame_count == 12
    with warnings.catch_warnings():
        warnings.simplefilter('error', VideoTruncatedWarning)
        assert len(list(reader)) == 12
    assert reader.exhausted and not reader.truncated
    assert reader.frames_read == 12


def test_truncated_avi_warns_with_file_and_frame(tmp_path):
    path, decoded = write_truncated_avi(tmp_path)
    reader = VideoReader(path)
    assert reader.frame_count == 20
    frames = iter(reader)
    with warnings.catch_warnings():
        # No warning while frames remain: only the end can tell.
        warnings.simplefilter('error', VideoTruncatedWarning)
        first = [next(frames) for _ in range(decoded)]
        assert not reader.truncated
    with pytest.warns(VideoTruncatedWarning) as record:
        assert list(frames) == []
    record = [w for w in record if w.category is VideoTruncatedWarning]
    assert len(record) == 1
    assert str(record[0].message) == (
        f'{path}: decoding stopped at frame {decoded} (0-based) of the 20 '
        'frames the container announces: the file is truncated or corrupt; '
        f'only frames 0..{decoded - 1} were read')
    assert len(first) == decoded and reader.frames_read == decoded
    assert reader.truncated


@pytest.mark.parametrize('mode', ['per-frame', 'streaming'])
def test_detector_on_truncated_avi(tmp_path, mode):
    """The inference API warns and returns the decoded frames' results; a
    VideoReader passed in tells the caller afterwards."""
    path, decoded = write_truncated_avi(tmp_path)
    detector = YOWOVideoDetector(
        make_model(), mode=mode, clip_len=3, input_size=SIZE)
    with pytest.warns(
            VideoTruncatedWarning,
            match=rf'cut\.avi: decoding '
            rf'stopped at frame {decoded} \(0-based\) of the 20'):
        preds = detector(path)
    assert len(preds) == decoded
    reader = VideoReader(path)
    with pytest.warns(VideoTruncatedWarning):
        results = list(detector.iter_video(reader))
    assert [r.index for r in results] == list(range(decoded))
    assert reader.truncated and reader.frames_read == decoded


def test_truncated_mp4_does_not_open(tmp_path):
    """OpenCV's MP4 writer puts the index (moov) last: a cut file cannot be
    opened at all, which is an error naming the file."""
    full = write_video(tmp_path / 'full.mp4', 12, fourcc='mp4v')
    path = truncate(full, tmp_path / 'cut.mp4')
    with pytest.raises(VideoDecodeError, match='cut.mp4: cannot open'):
        VideoReader(path)


def test_truncated_raw_stream_cannot_be_checked(tmp_path):
    """Documented limit: a raw MPEG-4 stream (ucf24-mini) announces no frame
    count, so a truncated copy reads as a shorter video, without warning;
    ``frame_count`` 0 says that nothing could be checked."""
    source = osp.join(UCF24_MINI, MINI_VIDEO)
    path = truncate(source, tmp_path / MINI_VIDEO)
    announced, decoded = opencv_counts(path)
    assert announced < 0  # OpenCV's meaningless count for raw streams
    assert 0 < decoded < opencv_counts(source)[1]
    reader = VideoReader(path)
    assert reader.frame_count == 0
    with warnings.catch_warnings():
        warnings.simplefilter('error', VideoTruncatedWarning)
        assert len(list(reader)) == decoded
    assert reader.exhausted and not reader.truncated


def test_unfinished_reading_is_not_truncation(tmp_path):
    path, _ = write_truncated_avi(tmp_path)
    reader = VideoReader(path)
    with warnings.catch_warnings():
        warnings.simplefilter('error', VideoTruncatedWarning)
        frames = iter(reader)
        next(frames)
        frames.close()  # the consumer stops early, e.g. --max-frames
    assert not reader.exhausted and not reader.truncated
    assert reader.frames_read == 1
