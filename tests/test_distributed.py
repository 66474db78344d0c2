"""Multi-process (DDP) training and testing with the stock tools.

Two ranks on the CPU (gloo backend) run mmaction's ``train.py`` and
``test.py`` under ``torchrun`` with ``--launcher pytorch``, as ``mim train /
test --launcher pytorch`` run them on GPUs, through ``tests/_ddp_harness.py``
(which only makes ``torch.cuda.set_device`` a no-op on a machine without
CUDA). Training uses the frozen-branch schedule of the paper (§4.1) with
``find_unused_parameters=True``: both branches frozen in epoch 1, trained in
epoch 2.
"""
import glob
import json
import math
import os.path as osp
import pickle

import numpy as np
import pytest
import torch
from mmengine.config import Config

from mmyowo.datasets.annotations import load_annotations
from mmyowo.evaluation.functional import frame_map, load_detection_results
from mmyowo.evaluation.metrics import FrameMAPMetric
from mmyowo.evaluation.metrics.frame_map_metric import VIDEO_PROTOCOLS
from mmyowo.utils import load_checkpoint_file
from ._e2e import PYTHON, REPO, make_tiny_data, mim, run_command, write_config

HARNESS = osp.join(REPO, 'tests', '_ddp_harness.py')
BATCH_SIZE = 4  # per rank, from write_config
# A CPU model: mmengine's DDP wrapper passes device_ids=[LOCAL_RANK], which
# torch accepts only for CUDA modules.
CPU_DDP = [
    '--launcher', 'pytorch', '--cfg-options', 'env_cfg.dist_cfg.backend=gloo',
    'model_wrapper_cfg.device_ids=None'
]
SCHEDULE = '''
custom_hooks = [
    dict(type='BranchUnfreezeHook',
         unfreeze_epochs=dict(backbone_3d=2, backbone_2d=2)),
    dict(type='DumpRankWeightsHook')]
train_cfg = dict(train_cfg, val_begin=2)  # validate after epoch 2 only
'''


@pytest.fixture(scope='module')
def tiny_data(tmp_path_factory):
    return make_tiny_data(tmp_path_factory.mktemp('synthetic'))


def torchrun(*args, cwd) -> str:
    return run_command([
        PYTHON, '-m', 'torch.distributed.run', '--standalone',
        '--nproc_per_node', '2', HARNESS, *args
    ],
                       cwd=cwd)


def num_train_key_frames(data_root: str) -> int:
    """Frames with at least one box in the training videos."""
    with open(osp.join(data_root, 'annotations', 'synthetic_gt.pkl'),
              'rb') as f:
        gt = pickle.load(f)
    return sum(
        len({
            int(row[0])
            for tubes in gt['gttubes'][video].values()
            for tube in tubes
            for row in tube
        }) for video in gt['train_videos'][0])


def bn_batches(state: dict, prefix: str) -> set:
    """The ``num_batches_tracked`` values of a branch's norm layers."""
    return {
        int(v)
        for k, v in state.items()
        if k.startswith(prefix) and k.endswith('num_batches_tracked')
    }


def read_test_metrics(work_dir: str) -> dict:
    """The metrics ``test.py`` dumped, at full precision.

    One file, valid JSON: mmengine's own ``LoggerHook`` wrote it from both
    ranks at once, which once gave one rank's JSON followed by the tail of
    the other's (``MainProcessLoggerHook``).
    """
    files = glob.glob(osp.join(work_dir, '*', '*.json'))
    assert len(files) == 1, files
    with open(files[0]) as f:
        return {k: v for k, v in json.load(f).items() if k.startswith('mAP')}


def metrics_of_results_file(path: str, config: str) -> dict:
    """The metrics of the config's test evaluator, computed anew from a results
    file's detections (every frame of the test videos predicted, as
    ``key_frames='all'`` tests them)."""
    cfg = {
        k: v
        for k, v in Config.fromfile(config).test_evaluator.items()
        if k not in ('type', '_scope_', 'results_file')
    }
    metric = FrameMAPMetric(**cfg)
    results = load_detection_results(path)
    detections, videos = results['detections'], results['videos']
    gt = load_annotations(results['ann_file'])
    frames = np.array([(i, f) for i, video in enumerate(videos)
                       for f in range(1, gt['nframes'][video] + 1)])
    metrics = {
        f'mAP/frame@{metric.iou_thr}':
        frame_map(
            detections,
            gt,
            videos,
            metric.iou_thr,
            metric.protocol,
            metric.pixel_plus_one,
            round_boxes=metric.round_boxes,
            frames=frames)['mAP']
    }
    for i, name in enumerate(metric.video_protocols):
        key = 'video' if i == 0 else f'video_{name}'
        maps = VIDEO_PROTOCOLS[name](
            detections,
            gt,
            videos,
            metric.video_iou_thrs,
            pixel_plus_one=metric.pixel_plus_one,
            link_cfg=metric.yowo_link_cfg
            if name == 'yowo' else metric.link_cfg)
        metrics.update({
            f'mAP/{key}@{thr}': result['mAP']
            for thr, result in maps.items()
        })
    return metrics


def test_two_rank_training_and_testing(tmp_path, tiny_data):
    work = tmp_path / 'train'
    train_cfg = write_config(
        tmp_path, tiny_data, 2, extra=SCHEDULE, name='_ddp')
    out = torchrun(
        'train', train_cfg, '--work-dir', str(work), *CPU_DDP, cwd=tmp_path)
    assert 'Distributed training: True' in out and 'GPU number: 2' in out
    assert "epoch 1: frozen branches = ['backbone_2d', 'backbone_3d']" in out
    assert 'epoch 2: frozen branches = none' in out

    # Each rank trained on its half of the data: ceil(54 / 2 / 4) = 7
    # iterations per epoch instead of 14 in one process.
    iters = math.ceil(
        math.ceil(num_train_key_frames(tiny_data) / 2) / BATCH_SIZE)
    ckpt1 = load_checkpoint_file(str(work / 'epoch_1.pth'))
    ckpt2 = load_checkpoint_file(str(work / 'epoch_2.pth'))
    assert ckpt2['meta']['iter'] == 2 * iters

    # The ranks end bitwise identical, and equal to the checkpoint.
    ranks = [
        torch.load(work / f'rank{r}_weights.pth', weights_only=True)
        for r in range(2)
    ]
    state = ckpt2['state_dict']
    assert set(ranks[0]) == set(ranks[1]) == set(state)
    for key, value in state.items():
        assert torch.equal(ranks[0][key], ranks[1][key]), key
        assert torch.equal(ranks[0][key], value), key

    # The schedule took effect: frozen branches kept their norm statistics
    # (eval mode) in epoch 1 and trained in epoch 2; the neck always did.
    first = ckpt1['state_dict']
    for branch in ('backbone_2d.', 'backbone_3d.'):
        assert bn_batches(first, branch) == {0}, branch
        assert bn_batches(state, branch) == {iters}, branch
        moved = [
            k for k in state if k.startswith(branch) and k.endswith('.weight')
            and not torch.equal(state[k], first[k])
        ]
        assert moved, f'{branch} did not train in epoch 2'
    assert bn_batches(first, 'neck.') == {iters}
    assert bn_batches(state, 'neck.') == {2 * iters}

    # Distributed testing of the checkpoint gives what one process gives.
    test_cfg = write_config(tmp_path, tiny_data, 2, name='_test')
    results = {}
    for mode in ('dist', 'single'):
        out_dir = str(tmp_path / f'test_{mode}')
        options = [f'test_evaluator.results_file={out_dir}/results.npz']
        if mode == 'dist':
            torchrun(
                'test',
                test_cfg,
                str(work / 'epoch_2.pth'),
                '--work-dir',
                out_dir,
                *CPU_DDP,
                *options,
                cwd=tmp_path)
        else:
            mim('test',
                'mmaction',
                test_cfg,
                '--checkpoint',
                str(work / 'epoch_2.pth'),
                '--work-dir',
                out_dir,
                '--cfg-options',
                *options,
                cwd=tmp_path)
        results[mode] = (read_test_metrics(out_dir),
                         load_detection_results(f'{out_dir}/results.npz'))
    (dist_metrics, dist_dets), (metrics, dets) = results['dist'], \
        results['single']
    assert 'mAP/frame@0.5' in metrics and 'mAP/video@0.2' in metrics
    assert dist_metrics.keys() == metrics.keys()
    # Every test frame once: no rank's padding or duplicate counted. The
    # ranks run other batches than one process, so the float32 features
    # differ in their last bits: boxes (pixels) and scores agree to 1e-3
    # (differences up to 6e-5 seen), the video, frame and class exactly ...
    assert len(dets['detections']) > 0
    np.testing.assert_array_equal(dist_dets['detections'][:, :3],
                                  dets['detections'][:, :3])
    np.testing.assert_allclose(
        dist_dets['detections'], dets['detections'], rtol=0, atol=1e-3)
    # ... and the metrics are checked against the detections each run
    # saved: this near-random model has near-tied scores whose order such
    # differences flip (frame-mAP 0.0049102 against 0.0049076 once).
    for mode, (logged, _) in results.items():
        recomputed = metrics_of_results_file(
            str(tmp_path / f'test_{mode}' / 'results.npz'), test_cfg)
        assert logged.keys() == recomputed.keys(), mode
        for key, value in recomputed.items():
            assert logged[key] == pytest.approx(
                value, rel=1e-12, abs=1e-15), (mode, key)
