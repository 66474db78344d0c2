"""``WindowTestLoop``: streaming evaluation under the stock runner.

Its detections equal :class:`~mmyowo.apis.YOWOVideoDetector`'s streaming
mode on the same weights; every frame of every test video is predicted
exactly once, the last partial window of a video included; and under DDP
(``mim test --launcher pytorch``) the ranks split the videos and the
metrics and results equal one process's.
"""
import os.path as osp
import pickle
import re

import mmcv
import numpy as np
import pytest
import torch
from mmaction.registry import MODELS
from mmengine.config import Config
from mmengine.hooks import Hook
from mmengine.registry import init_default_scope
from mmengine.runner import Runner

from mmyowo.apis import YOWOVideoDetector
from mmyowo.datasets.window_dataset import partition_videos, stream_windows
from mmyowo.evaluation.functional import load_detection_results
from mmyowo.preparation.synthetic import generate_synthetic_dataset
from .._e2e import PYTHON, REPO, mim, run_command, write_config

# 20 frames: windows of 8 + 8 + 4 (a partial last window).
NUM_FRAMES = 20
CLIP_LEN = 8
HARNESS = osp.join(REPO, 'tests', '_ddp_harness.py')
CPU_DDP = [
    '--launcher', 'pytorch', '--cfg-options', 'env_cfg.dist_cfg.backend=gloo',
    'model_wrapper_cfg.device_ids=None'
]
WINDOW = 'test_cfg.type=WindowTestLoop'
# A random model's scores are all low: keep its 10 best boxes per frame.
KEEP_BOXES = 'model = dict(test_cfg=dict(score_thr=0.0, max_per_img=10))\n'


@pytest.fixture(scope='module')
def data_root(tmp_path_factory):
    root = str(tmp_path_factory.mktemp('synthetic'))
    generate_synthetic_dataset(
        root,
        num_train_videos=1,
        num_test_videos=3,
        num_frames=NUM_FRAMES,
        seed=2)
    return root


@pytest.fixture(scope='module')
def checkpoint(tmp_path_factory, data_root):
    """A randomly initialised model's checkpoint (the loop's behaviour does not
    depend on training)."""
    folder = tmp_path_factory.mktemp('ckpt')
    cfg = Config.fromfile(write_config(folder, data_root, 1))
    torch.manual_seed(0)
    init_default_scope('mmaction')
    model = MODELS.build(cfg.model)
    model.init_weights()
    path = str(folder / 'random.pth')
    torch.save(dict(state_dict=model.state_dict(), meta=dict()), path)
    return path


class CaptureOutputs(Hook):
    """Keep every data sample the test loop hands the evaluator."""

    def __init__(self):
        self.outputs = []

    def after_test_iter(self,
                        runner,
                        batch_idx,
                        data_batch=None,
                        outputs=None):
        self.outputs.extend(outputs)


def run_window_test(tmp_path, data_root, checkpoint, extra=''):
    cfg = Config.fromfile(
        write_config(
            tmp_path,
            data_root,
            1,
            extra=KEEP_BOXES + "test_cfg = dict(type='WindowTestLoop')\n" +
            extra))
    cfg.work_dir = str(tmp_path / 'work')
    cfg.load_from = checkpoint
    runner = Runner.from_cfg(cfg)
    capture = CaptureOutputs()
    runner.register_hook(capture)
    metrics = runner.test()
    return runner, capture.outputs, metrics


def read_rgb_frames(data_root, video, num):
    return [
        mmcv.imread(
            osp.join(data_root, 'rawframes', video, f'{f:05d}.jpg'),
            channel_order='rgb') for f in range(1, num + 1)
    ]


def test_window_mode_equals_streaming_api(tmp_path, data_root, checkpoint):
    runner, outputs, metrics = run_window_test(tmp_path, data_root, checkpoint)
    assert 'mAP/frame@0.5' in metrics and 'mAP/video@0.2' in metrics
    by_frame = {(o.video_id, o.frame_id): o for o in outputs}
    model = runner.model
    model.cfg = runner.cfg
    detector = YOWOVideoDetector(model, mode='streaming', frame_batch=4)
    videos = sorted({o.video_id for o in outputs})
    assert len(videos) == 3
    compared = 0
    for video in videos:
        frames = read_rgb_frames(data_root, video, NUM_FRAMES)
        for t, expected in enumerate(detector(frames)):
            actual = by_frame[(video, t + 1)]
            assert actual.key_frame_index == t % CLIP_LEN
            pred = actual.pred_instances
            assert len(pred.bboxes) == len(expected.bboxes), (video, t)
            torch.testing.assert_close(
                pred.bboxes, expected.bboxes, atol=1e-3, rtol=1e-4)
            torch.testing.assert_close(
                pred.scores, expected.scores, atol=1e-5, rtol=1e-4)
            compared += len(expected.bboxes)
    assert compared > 0


def test_every_frame_once_with_partial_last_window(tmp_path, data_root,
                                                   checkpoint, capsys):
    runner, outputs, _ = run_window_test(tmp_path, data_root, checkpoint)
    with open(osp.join(data_root, 'annotations', 'synthetic_gt.pkl'),
              'rb') as f:
        gt = pickle.load(f)
    expected = sorted((v, f) for v in gt['test_videos'][0]
                      for f in range(1, gt['nframes'][v] + 1))
    seen = sorted((o.video_id, o.frame_id) for o in outputs)
    assert seen == expected  # each frame exactly once
    # 20 frames in windows of 8: 8 + 8 + 4, the last one partial.
    windows = stream_windows('v', NUM_FRAMES, CLIP_LEN, 1)
    assert [w.num_frames for w in windows] == [8, 8, 4]
    assert windows[-1].frames.tolist() == [17, 18, 19, 20, 20, 20, 20, 20]
    last = sorted((o.frame_id, o.key_frame_index) for o in outputs
                  if o.video_id == expected[0][0] and o.frame_id > 16)
    assert last == [(17, 0), (18, 1), (19, 2), (20, 3)]
    loop = runner.test_loop
    assert loop.total_windows == loop.num_3d_passes == 3 * 3
    # The padding repeats the window's last real frame.
    sample = loop.windows[2]
    clip = sample['inputs']
    assert clip.shape[-3] == CLIP_LEN
    for t in range(4, CLIP_LEN):
        assert torch.equal(clip[..., t, :, :], clip[..., 3, :, :])


def test_window_loop_settings_errors(tmp_path, data_root, checkpoint):
    with pytest.raises(ValueError, match='frame_batch must be an int >= 1'):
        run_window_test(
            tmp_path,
            data_root,
            checkpoint,
            extra='test_cfg = dict(type=\'WindowTestLoop\', frame_batch=0)\n')


def test_stream_windows_with_frame_interval():
    windows = stream_windows('v', 7, clip_len=2, frame_interval=2)
    frames = [f for w in windows for f in w.frames[:w.num_frames].tolist()]
    assert sorted(frames) == list(range(1, 8))
    assert [w.frames.tolist() for w in windows] == [[1, 3], [2, 4], [5, 7],
                                                    [6, 6]]


def test_partition_videos_is_contiguous_and_balanced():
    assert partition_videos([5] * 6, 2) == [range(0, 3), range(3, 6)]
    # A video goes to the part in which its middle frame falls.
    assert partition_videos(
        [5] * 6, 4) == [range(0, 1),
                        range(1, 3),
                        range(3, 4),
                        range(4, 6)]
    assert partition_videos([5], 3) == [range(0, 0), range(0, 1), range(1, 1)]
    parts = partition_videos([3, 9, 1, 1, 7, 2], 3)
    assert [i for p in parts for i in p] == list(range(6))


def test_mim_test_window_mode_single_and_ddp(tmp_path, data_root, checkpoint):
    """``mim test`` in window mode, then under torchrun with 2 ranks: the log
    names the mode and the 3D passes; the ranks split the 3 videos and the
    results equal one process's."""
    config = write_config(tmp_path, data_root, 1, extra=KEEP_BOXES)
    results = {}
    for mode in ('single', 'dist'):
        out_dir = str(tmp_path / mode)
        options = [WINDOW, f'test_evaluator.results_file={out_dir}/r.npz']
        if mode == 'single':
            out = mim(
                'test',
                'mmaction',
                config,
                '--checkpoint',
                checkpoint,
                '--work-dir',
                out_dir,
                '--cfg-options',
                *options,
                cwd=tmp_path)
        else:
            out = run_command([
                PYTHON, '-m', 'torch.distributed.run', '--standalone',
                '--nproc_per_node', '2', HARNESS, 'test', config, checkpoint,
                '--work-dir', out_dir, *CPU_DDP, *options
            ],
                              cwd=tmp_path)
            # 3 videos of equal length: 1 on rank 0 (which logs), 2 on
            # rank 1 (the other 6 of the 9 windows).
            assert 'rank 0/2: 1 videos, 3 windows' in out
            assert '9 3D passes for 60 frames (this rank: 3)' in out
        assert re.search(
            r'WindowTestLoop: streaming evaluation, one 3D pass per window '
            r'of clip_len=8 frames .*: 60 frames of 3 videos in 9 windows = '
            r'9 3D passes \(the per-frame TestLoop makes 60\)',
            out), out[-3000:]
        metrics = dict(
            (k, float(v))
            for k, v in re.findall(r'(mAP/[a-z_]+@[0-9.]+): ([0-9.na]+)',
                                   out.split('Epoch(test)')[-1]))
        assert 'mAP/frame@0.5' in metrics
        results[mode] = (metrics, load_detection_results(f'{out_dir}/r.npz'))
    (metrics, dets), (dist_metrics, dist_dets) = results['single'], \
        results['dist']
    assert dist_metrics == pytest.approx(metrics, nan_ok=True)
    assert len(dets['detections']) > 0
    np.testing.assert_array_equal(
        np.unique(dets['detections'][:, :2], axis=0),
        np.unique(dist_dets['detections'][:, :2], axis=0))
    np.testing.assert_allclose(
        dist_dets['detections'], dets['detections'], rtol=1e-6, atol=1e-5)
