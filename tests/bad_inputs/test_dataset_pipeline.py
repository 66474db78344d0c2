"""Bad annotations, frames and videos through the dataset and pipeline of the
synthetic config, built with mmengine's registries as ``mim train`` / ``mim
test`` build them (``Runner.build_dataloader``), one batch fetched.

Each case asserts the exception type, the offending file in the message and the
problem; every table is preceded by a check that the intact input loads (so
that a failure is the bad input's, not the setup's).
"""
import copy
import os
import os.path as osp
import pickle

import numpy as np
import pytest
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmengine.runner import Runner

from mmyowo.datasets import load_annotations
from mmyowo.datasets.transforms.frame_io import (FrameDecodeError,
                                                 FrameSizeError)
from mmyowo.datasets.transforms.loading import VideoDecodeError
from ._inputs import (UNREADABLE_VIDEOS, ann_file, copy_tree, frames_of,
                      jpeg_bytes, payloads, truncated_avi, write_avi)

TEST_VIDEO = 'test/test_0000'  # first video of the test split: sample 0
OTHER_TEST_VIDEO = 'test/test_0001'
FRAMES = 24  # per video of the tiny set, 112x112


@pytest.fixture(scope='module')
def cfg(tiny_config):
    init_default_scope('mmaction')
    return Config.fromfile(tiny_config)


def first_batch(cfg, **dataset):
    """Build the test dataloader of ``cfg`` with ``dataset`` overrides and
    fetch its first batch."""
    loader = copy.deepcopy(cfg.test_dataloader).to_dict()
    loader['dataset'].update(dataset)
    return next(iter(Runner.build_dataloader(loader)))


# --------------------------------------------------------------------- #
# annotation files
# --------------------------------------------------------------------- #
def _first_tube(gt):
    tubes = gt['gttubes'][TEST_VIDEO]
    return tubes[sorted(tubes)[0]][0]


def _set_box(column, value):
    """Set ``column`` (0: frame, 1-4: x1 y1 x2 y2) of a tube's first row."""

    def mutate(gt):
        _first_tube(gt)[0, column] = value

    return mutate


def _zero_area(gt):
    tube = _first_tube(gt)
    tube[0, 3] = tube[0, 1]


def _move_label(new):

    def mutate(gt):
        tubes = gt['gttubes'][TEST_VIDEO]
        tubes[new] = tubes.pop(sorted(tubes)[0])

    return mutate


def _set(key, value):
    return lambda gt: gt.update({key: value})


def _set_in(key, item, value):
    return lambda gt: gt[key].update({item: value})


FOUR_COLUMNS = np.ones((3, 4), np.float32)


def _replace_tubes(tubes):
    return lambda gt: gt['gttubes'][TEST_VIDEO].update({0: tubes})


#: name -> (mutation of the canonical dict, fragment of the message).
GT_CASES = dict([
    ('missing key', (lambda gt: gt.pop('nframes'), "missing key 'nframes'")),
    ('gttubes not a dict', (_set('gttubes', []), "'gttubes' must be a dict")),
    ('fractional frame count',
     (_set_in('nframes', TEST_VIDEO, 23.5),
      f"nframes of video '{TEST_VIDEO}' must be an integer, got 23.5")),
    ('labels as one string', (_set('labels', 'move_left'),
                              "'labels' must be a list, got str")),
    ('flat split list', (_set('test_videos', [TEST_VIDEO, OTHER_TEST_VIDEO]),
                         'test_videos[0] must be a list, got str')),
    ('tubes not a list',
     (_replace_tubes(None),
      'label 0: the tubes must be a list of (n, 5) arrays, got NoneType')),
    ('tube of 4 columns', (_replace_tubes([FOUR_COLUMNS]),
                           'a tube has shape (3, 4), expected (n, 5)')),
    ('box out of frame', (_set_box(3, 150.), 'outside the 112x112 frame')),
    ('NaN box', (_set_box(2, np.nan), 'contains NaN or infinite values')),
    ('zero-area box', (_zero_area, 'has zero or negative area (x2 <= x1)')),
    ('frame past the video', (_set_box(0, 99.0),
                              f'frame 99 outside [1, nframes={FRAMES}]')),
    ('label out of range', (_move_label(7), 'label 7 outside [0, 4)')),
    ('negative label', (_move_label(-1), 'label -1 outside [0, 4)')),
    ('split video without gttubes entry',
     (lambda gt: gt['gttubes'].pop(TEST_VIDEO),
      f"1 split video(s) have no gttubes entry, e.g. '{TEST_VIDEO}' "
      '(test_videos[0])')),
    ('split video unknown to nframes',
     (lambda gt: gt['test_videos'][0].append('test/ghost'),
      "video 'test/ghost' in test_videos[0] is unknown to nframes")),
    ('empty test split', (_set('test_videos', [[]]),
                          'the test split 0 is empty: test_videos[0] lists '
                          'no video')),
])


def test_intact_annotation_loads(cfg, tiny_data):
    batch = first_batch(cfg, ann_file=ann_file(tiny_data))
    assert len(batch['inputs']) == 4
    assert batch['data_samples'][0].video_id == TEST_VIDEO


@pytest.mark.parametrize('case', list(GT_CASES))
def test_malformed_annotation(cfg, tiny_data, tmp_path, case):
    mutate, message = GT_CASES[case]
    gt = load_annotations(ann_file(tiny_data))
    mutate(gt)
    path = str(tmp_path / 'gt.pkl')
    with open(path, 'wb') as f:  # as another tool would write it
        pickle.dump(gt, f)
    with pytest.raises(ValueError) as info:
        first_batch(cfg, ann_file=path)
    assert str(info.value).startswith(f'{path}: '), str(info.value)
    assert message in str(info.value)


def test_malicious_annotation_pickle_runs_nothing(cfg, tmp_path, marker):
    path = tmp_path / 'gt.pkl'
    path.write_bytes(payloads(marker)['os.system'])
    with pytest.raises(
            ValueError,
            match=rf'^{path}: refusing to read the pickle: it names '
            r'os\.system'):
        first_batch(cfg, ann_file=str(path))


@pytest.mark.parametrize('name, content, message', [
    ('gt.pkl', 'truncated', 'not a valid pickle'),
    ('gt.pkl', b'labels: [a, b]\n', 'not a valid pickle'),
    ('gt.json', b'{"labels": ["a", ', 'invalid JSON'),
    ('gt.yaml', b'labels: [a]\n', "unknown annotation format '.yaml'"),
])
def test_unreadable_annotation_file(cfg, tiny_data, tmp_path, name, content,
                                    message):
    path = tmp_path / name
    if content == 'truncated':
        with open(ann_file(tiny_data), 'rb') as f:
            content = f.read()[:300]
    path.write_bytes(content)
    with pytest.raises(ValueError) as info:
        first_batch(cfg, ann_file=str(path))
    assert str(info.value).startswith(f'{path}: ') and \
        message in str(info.value), str(info.value)


def test_missing_annotation_file(cfg, tmp_path):
    path = str(tmp_path / 'nothing.pkl')
    with pytest.raises(FileNotFoundError, match=f'not found: {path}'):
        first_batch(cfg, ann_file=path)


# --------------------------------------------------------------------- #
# rawframes
# --------------------------------------------------------------------- #
@pytest.fixture
def frames_root(tiny_data, tmp_path):
    """A private copy of the tiny set's rawframes."""
    return copy_tree(osp.join(tiny_data, 'rawframes'), tmp_path / 'frames')


def _frame(root, number):
    return osp.join(root, TEST_VIDEO, f'{number:05d}.jpg')


FRAME_CASES = {
    # name: (bytes of frame 1 from its bytes, error type, message)
    'empty': (lambda data: b'', FrameDecodeError, 'the file is empty'),
    'truncated': (lambda data: data[:len(data) // 2], FrameDecodeError,
                  'truncated image file'),
    'text': (lambda data: b'frame lost\n', FrameDecodeError,
             'cannot decode the file as an image'),
    'other size': (lambda data: jpeg_bytes(112, 160), FrameSizeError,
                   'frame of 112x160 (h x w) among frames of 112x112'),
}


def test_intact_frames_load(cfg, tiny_data, frames_root):
    batch = first_batch(
        cfg, ann_file=ann_file(tiny_data), data_prefix=dict(img=frames_root))
    assert tuple(batch['inputs'][0].shape[-2:]) == (128, 128)


@pytest.mark.parametrize('case', list(FRAME_CASES))
def test_broken_frame_file(cfg, tiny_data, frames_root, case):
    damage, error, message = FRAME_CASES[case]
    path = _frame(frames_root, 1)
    with open(path, 'rb') as f:
        data = f.read()
    with open(path, 'wb') as f:
        f.write(damage(data))
    with pytest.raises(error) as info:
        first_batch(
            cfg,
            ann_file=ann_file(tiny_data),
            data_prefix=dict(img=frames_root))
    assert str(info.value).startswith(f'{path}: ')
    assert message in str(info.value)


def test_missing_frame_file(cfg, tiny_data, frames_root):
    path = _frame(frames_root, 1)
    os.remove(path)
    with pytest.raises(FileNotFoundError, match=path):
        first_batch(
            cfg,
            ann_file=ann_file(tiny_data),
            data_prefix=dict(img=frames_root))


def test_annotation_resolution_differs_from_frames(cfg, tiny_data, frames_root,
                                                   tmp_path):
    """Boxes of 120x160 frames for frames of 112x112 on disk."""
    gt = load_annotations(ann_file(tiny_data))
    gt['resolution'][TEST_VIDEO] = (120, 160)
    path = str(tmp_path / 'gt.pkl')
    with open(path, 'wb') as f:
        pickle.dump(gt, f)
    with pytest.raises(FrameSizeError) as info:
        first_batch(cfg, ann_file=path, data_prefix=dict(img=frames_root))
    folder = osp.join(frames_root, TEST_VIDEO)
    assert str(info.value).startswith(
        f"{folder}: the frames are 112x112 (h x w) but the annotation "
        f"resolution of video '{TEST_VIDEO}' is 120x160")


# --------------------------------------------------------------------- #
# video files (VideoDecode)
# --------------------------------------------------------------------- #
@pytest.fixture
def video_root(tiny_data, tmp_path):
    """The test videos of the tiny set as MJPG AVIs."""
    root = tmp_path / 'videos'
    for video in (TEST_VIDEO, OTHER_TEST_VIDEO):
        write_avi(
            str(root / f'{video}.avi'),
            frames_of(osp.join(tiny_data, 'rawframes', video)))
    return str(root)


def video_dataset(cfg, tiny_data, video_root):
    pipeline = [
        dict(type='VideoDecode')
        if t['type'] == 'RawFrameDecodeKeepBoxes' else t
        for t in cfg.test_dataloader.dataset.pipeline
    ]
    loader = copy.deepcopy(cfg.test_dataloader).to_dict()
    loader['dataset'].update(
        ann_file=ann_file(tiny_data),
        data_prefix=dict(video=video_root),
        video_ext='.avi',
        pipeline=pipeline)
    return Runner.build_dataloader(loader).dataset


def test_intact_video_loads(cfg, tiny_data, video_root):
    dataset = video_dataset(cfg, tiny_data, video_root)
    assert dataset[FRAMES - 1]['inputs'].shape[-2:] == (128, 128)


@pytest.mark.parametrize('kind', list(UNREADABLE_VIDEOS))
def test_unreadable_video_file(cfg, tiny_data, video_root, kind):
    path = osp.join(video_root, f'{TEST_VIDEO}.avi')
    with open(path, 'wb') as f:
        f.write(UNREADABLE_VIDEOS[kind])
    dataset = video_dataset(cfg, tiny_data, video_root)
    with pytest.raises(VideoDecodeError) as info:
        dataset[0]
    assert str(info.value).startswith(f'{path}: ')
    assert 'empty, corrupt or not a video file' in str(info.value)


def test_missing_video_file(cfg, tiny_data, video_root):
    path = osp.join(video_root, f'{OTHER_TEST_VIDEO}.avi')
    os.remove(path)
    dataset = video_dataset(cfg, tiny_data, video_root)
    with pytest.raises(FileNotFoundError, match=f'not found: {path}'):
        dataset[FRAMES]


def test_truncated_video_file(cfg, tiny_data, video_root, tmp_path):
    """Frames before the cut decode; a clip reaching past it names the file and
    the number of decodable frames."""
    path = osp.join(video_root, f'{TEST_VIDEO}.avi')
    full = str(tmp_path / 'full.avi')
    os.replace(path, full)
    _, announced, decoded = truncated_avi(full, path, keep=0.5)
    assert announced == FRAMES
    dataset = video_dataset(cfg, tiny_data, video_root)
    assert dataset[0]['inputs'].shape[-2:] == (128, 128)
    with pytest.raises(IndexError) as info:
        dataset[FRAMES - 1]
    # decord opens this AVI and counts its frames; OpenCV would say
    # "decodable frames".
    assert str(info.value).startswith(
        f'{path}: frame index {FRAMES - 1} is past the end of the video '
        f'({decoded} ')
