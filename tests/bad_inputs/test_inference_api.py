"""Bad checkpoints and videos through the inference API:
``init_detector(config, checkpoint)`` and ``YOWOVideoDetector(model)(video)``
(README, "Inference on video"), with the checkpoint of the battery's
``mim train`` run."""
import os.path as osp
import warnings

import numpy as np
import pytest
from mmengine.config import Config
from mmengine.logging.history_buffer import HistoryBuffer

from mmyowo.apis import VideoTruncatedWarning, YOWOVideoDetector, init_detector
from mmyowo.datasets.transforms.loading import VideoDecodeError
from mmyowo.utils import CheckpointLoadError, CheckpointMismatchError
from ._inputs import (DAMAGE, UNREADABLE_VIDEOS, damaged_copy, frames_of,
                      other_classes_copy, payloads, poisoned_copy,
                      truncated_avi, truncated_mp4, write_avi)

#: Prediction convs of the head, whose shape depends on the classes.
CLASS_TENSORS = 2 * 3


@pytest.fixture(scope='module')
def config(trained):
    return Config.fromfile(trained['config'])


@pytest.fixture(scope='module')
def model(config, trained):
    return init_detector(config, trained['checkpoint'])


@pytest.fixture(scope='module')
def video(tiny_data, tmp_path_factory):
    """A test video of the tiny set as an MJPG AVI (24 frames announced)."""
    frames = frames_of(osp.join(tiny_data, 'rawframes', 'test', 'test_0000'))
    return write_avi(
        str(tmp_path_factory.mktemp('video') / 'test_0000.avi'), frames)


# --------------------------------------------------------------------- #
# checkpoints
# --------------------------------------------------------------------- #
def test_the_trained_checkpoint_loads(model):
    assert model.dataset_meta['classes'] == ('move_left', 'move_right', 'grow',
                                             'shrink')


@pytest.mark.parametrize('attack', list(payloads('x')))
def test_malicious_checkpoint_is_refused(config, trained, tmp_path, marker,
                                         attack):
    statistics = dict(HistoryBuffer._statistics_methods)
    bad = poisoned_copy(trained['checkpoint'],
                        payloads(marker)[attack], tmp_path / 'evil.pth')
    with pytest.raises(CheckpointLoadError) as info:
        init_detector(config, bad)
    # The payload is never built: the file holds no checkpoint (or, for
    # the planted HistoryBuffer, no weights of this model).
    assert str(info.value).startswith(f'{bad}: ')
    # Nothing planted in the table every HistoryBuffer of the process uses.
    assert HistoryBuffer._statistics_methods == statistics


@pytest.mark.parametrize('damage', list(DAMAGE))
def test_damaged_checkpoint_names_the_file(config, trained, tmp_path, damage):
    bad = damaged_copy(trained['checkpoint'], damage, tmp_path / 'bad.pth')
    with pytest.raises(CheckpointLoadError) as info:
        init_detector(config, bad)
    assert str(info.value).startswith(f'{bad}: ')
    expected = {
        'empty':
        'the checkpoint file is empty',
        'text':
        'not a torch checkpoint (neither a zip archive nor the '
        'legacy format)'
    }.get(
        damage, 'a damaged zip archive (no central directory: truncated '
        'or half-written)')
    assert expected in str(info.value)


def test_missing_checkpoint(config, tmp_path):
    path = str(tmp_path / 'epoch_9.pth')
    with pytest.raises(FileNotFoundError, match=f'not found: {path}'):
        init_detector(config, path)


def test_checkpoint_of_other_classes(config, trained, tmp_path):
    other = other_classes_copy(trained['checkpoint'], 3,
                               tmp_path / 'three.pth')
    with pytest.raises(CheckpointMismatchError) as info:
        init_detector(config, other)
    text = str(info.value)
    assert text.startswith(f'{other}: the checkpoint does not fit the model')
    assert f'{CLASS_TENSORS} mismatched (bbox_head.head_module.preds.0.' \
        'weight' in text
    # 3 anchors x (5 + C) output channels: 24 in the file, 27 in the model;
    # the finest level reads 2 x 16 channels (head in_channels (16, ...)).
    assert 'bbox_head.head_module.preds.0.weight: (24, 32, 1, 1) in the ' \
        'file, (27, 32, 1, 1) in the model' in text


# --------------------------------------------------------------------- #
# videos
# --------------------------------------------------------------------- #
def test_intact_video_gives_one_result_per_frame(model, video):
    with warnings.catch_warnings():
        warnings.simplefilter('error', VideoTruncatedWarning)
        assert len(YOWOVideoDetector(model)(video)) == 24


@pytest.mark.parametrize('kind', list(UNREADABLE_VIDEOS))
def test_unreadable_video(model, tmp_path, kind):
    path = tmp_path / f'{kind}.avi'
    path.write_bytes(UNREADABLE_VIDEOS[kind])
    with pytest.raises(VideoDecodeError) as info:
        YOWOVideoDetector(model)(str(path))
    assert str(info.value).startswith(f'{path}: ')
    assert 'empty, corrupt' in str(info.value)


def test_missing_video(model, tmp_path):
    path = str(tmp_path / 'none.avi')
    with pytest.raises(FileNotFoundError, match=f'not found: {path}'):
        YOWOVideoDetector(model)(path)


@pytest.mark.parametrize('mode', ['per-frame', 'streaming'])
def test_truncated_avi_warns_and_keeps_the_decoded_frames(
        model, video, tmp_path, mode):
    path, announced, decoded = truncated_avi(video, tmp_path / 'cut.avi')
    with pytest.warns(VideoTruncatedWarning) as record:
        results = YOWOVideoDetector(model, mode=mode)(path)
    assert len(results) == decoded
    (warning, ) = [w for w in record if w.category is VideoTruncatedWarning]
    assert str(warning.message).startswith(
        f'{path}: decoding stopped at frame {decoded} (0-based) of the '
        f'{announced} frames the container announces')


def test_mp4_cut_before_its_index(model, tmp_path):
    path = truncated_mp4(tmp_path)
    with pytest.raises(VideoDecodeError, match=f'^{path}: cannot open'):
        YOWOVideoDetector(model)(path)


@pytest.mark.parametrize('frames, problem', [
    ([np.zeros((112, 112, 3), np.float32)] * 2,
     'frame 0 has shape (112, 112, 3) and dtype float32'),
    ([np.zeros((112, 112), np.uint8)] * 2,
     'frame 0 has shape (112, 112) and dtype uint8'),
    ([np.zeros((112, 112, 3), np.uint8), 'frame'], 'frame 1 is a str'),
    ([], 'the video has no frames'),
])
def test_malformed_frames(model, frames, problem):
    with pytest.raises(ValueError) as info:
        YOWOVideoDetector(model)(frames)
    assert str(info.value) == f'<list of frames>: {problem}' or \
        str(info.value).startswith(f'<list of frames>: {problem},')


def test_input_size_not_a_multiple_of_32(model):
    with pytest.raises(
            ValueError,
            match=r'input_size \(100, 96\) must be '
            r'\(h, w\) with multiples of the largest stride 32'):
        YOWOVideoDetector(model, input_size=(100, 96))
