"""The real-data path end to end, as a UCF101-24 user takes it.

Four real ucf24-mini videos go through the converters (videos -> rawframes,
``finalAnnots.mat`` -> canonical GT); then the *real* UCF101-24 config
``configs/yowo_plus_ucf24.py`` is trained and tested with the stock tools
(``mim train`` / ``mim test``), overriding on the command line only what
must change here: the data location, a small model width, a few
iterations, and pretrained checkpoints made locally in the formats of the
real ones (an mmaction I3D recognizer and a converted CSPDarknet53).
Pretrained initialisation, staged unfreezing, the real augmentation
pipeline, strided validation and the every-frame test with video-mAP all
run. Finally the demo runs on one of the videos.
"""
import os.path as osp
import re

import pytest

from ._e2e import PYTHON, REPO, mim, run_command
from ._paths import UCF24_MINI, UCF24_MINI_VIDEOS
from .models._pretrained_ckpts import (make_i3d_recognizer_checkpoint,
                                       make_timm_cspdarknet53_checkpoint)

TRAIN = [
    'Basketball/v_Basketball_g07_c04', 'HorseRiding/v_HorseRiding_g01_c03'
]
TEST = ['CliffDiving/v_CliffDiving_g03_c01']  # 92 frames, boxes on 24-78
TEST_ANNOTATED, TEST_FRAMES = 55, 92
CONFIG = osp.join(REPO, 'configs', 'yowo_plus_ucf24.py')


@pytest.fixture(scope='module')
def ucf_mini(tmp_path_factory):
    """Rawframes + canonical GT of four real videos, made by the tools."""
    root = tmp_path_factory.mktemp('ucf24')
    lists = {}
    for name, videos in (('all', TRAIN + TEST), ('train', TRAIN), ('test',
                                                                   TEST)):
        lists[name] = root / f'{name}.txt'
        lists[name].write_text('\n'.join(videos) + '\n')
    run_command([
        PYTHON, 'tools/data/videos_to_rawframes.py', UCF24_MINI_VIDEOS,
        str(root / 'rawframes'), '--video-list',
        str(lists['all']), '--ext', '.mp4', '--flat-video-dir'
    ],
                cwd=REPO)
    out = run_command([
        PYTHON, 'tools/data/convert_ucf24.py',
        osp.join(UCF24_MINI, 'finalAnnots.mat'), '--out',
        str(root / 'annotations' / 'ucf24_gt.pkl'), '--train-list',
        str(lists['train']), '--test-list',
        str(lists['test']), '--frames-root',
        str(root / 'rawframes')
    ],
                      cwd=REPO)
    assert (root / 'annotations' / 'ucf24_gt.pkl').is_file(), out
    return root


@pytest.fixture(scope='module')
def pretrained(tmp_path_factory):
    """Small-width stand-ins of the Kinetics I3D and ImageNet CSPDarknet53."""
    root = tmp_path_factory.mktemp('pretrained')
    i3d = root / 'i3d_r50_kinetics400.pth'
    csp = root / 'cspdarknet53_imagenet.pth'
    make_i3d_recognizer_checkpoint(str(i3d), base_channels=8)
    make_timm_cspdarknet53_checkpoint(
        str(csp), widen_factor=0.125, deepen_factor=0.33)
    return str(i3d), str(csp)


def cfg_options(data_root, i3d: str, csp: str) -> list:
    """What must change here; everything else is the real UCF config."""
    ann = osp.join(data_root, 'annotations', 'ucf24_gt.pkl')
    frames = osp.join(data_root, 'rawframes')
    data = []
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        data += [
            f'{loader}.dataset.ann_file={ann}',
            f'{loader}.dataset.data_prefix.img={frames}',
            f'{loader}.batch_size=2', f'{loader}.num_workers=0',
            f'{loader}.persistent_workers=False'
        ]
    small = [
        'model.backbone_2d.widen_factor=0.125',
        'model.backbone_2d.deepen_factor=0.33',
        'model.backbone_3d.base_channels=8',
        'model.neck_3d.in_channels=256',
        'model.neck.in_channels_2d=(32,64,128)',
        'model.neck.in_channels_3d=256',
        'model.neck.out_channels=(16,32,64)',
        'model.bbox_head.head_module.in_channels=(16,32,64)',
        'model.bbox_head.head_module.se_ratio=4',
    ]
    short = [
        # 3 epochs of 4 iterations; the 3D branch unfreezes in epoch 2,
        # the 2D branch in epoch 3 (the real schedule's 5 and 15).
        'train_dataloader.dataset.indices=8',
        'train_cfg.max_epochs=3',
        'train_cfg.val_interval=3',
        'custom_hooks.0.unfreeze_epochs.backbone_3d=2',
        'custom_hooks.0.unfreeze_epochs.backbone_2d=3',
        'default_hooks.logger.interval=1',
    ]
    weights = [
        f'model.backbone_3d.init_cfg.checkpoint={i3d}',
        f'model.backbone_2d.init_cfg.checkpoint={csp}',
    ]
    evaluators = [
        f'val_evaluator.ann_file={ann}', f'test_evaluator.ann_file={ann}'
    ]
    return data + small + short + weights + evaluators


def metric(out: str, key: str) -> float:
    found = re.findall(re.escape(key) + r': ([0-9.]+)', out)
    assert found, f'{key} not logged:\n{out[-3000:]}'
    value = float(found[-1])
    assert 0.0 <= value <= 1.0, (key, value)
    return value


def test_real_ucf24_config_trains_tests_and_demos(tmp_path, ucf_mini,
                                                  pretrained):
    i3d, csp = pretrained
    options = cfg_options(ucf_mini, i3d, csp)
    work = tmp_path / 'work'
    out = mim(
        'train',
        'mmaction',
        CONFIG,
        '--work-dir',
        str(work),
        '--cfg-options',
        *options,
        cwd=tmp_path)

    # Pretrained initialisation: every tensor of both branches came from the
    # files (the loader logs its counts, see mmyowo.models.utils).
    for path in (i3d, csp):
        assert re.search(r'loaded (\d+)/\1 .*' + re.escape(path), out) or \
            re.search(re.escape(path) + r'.*loaded (\d+)/\1', out), \
            f'pretrained {path} not loaded in full:\n{out[-4000:]}'
    # Staged unfreezing happened at the configured epochs.
    assert 'backbone_3d' in out and 'backbone_2d' in out
    # Strided validation: every 4th of the 55 annotated test frames, each
    # scored against its own ground truth only.
    assert 'Epoch(val) [3]' in out
    metric(out, 'mAP/frame@0.5')
    assert re.search(rf'\b{-(-TEST_ANNOTATED // 4)} frames', out), \
        out[-3000:]

    ckpt = work / 'epoch_3.pth'
    assert ckpt.is_file()
    out = mim(
        'test',
        'mmaction',
        CONFIG,
        '--checkpoint',
        str(ckpt),
        '--work-dir',
        str(tmp_path / 'test'),
        '--cfg-options',
        *options,
        cwd=tmp_path)
    metric(out, 'mAP/frame@0.5')
    for thr in ('0.2', '0.5', '0.75'):
        metric(out, f'mAP/video@{thr}')
    assert re.search(rf'\b{TEST_ANNOTATED} frames', out), out[-3000:]

    video = osp.join(UCF24_MINI_VIDEOS, 'v_CliffDiving_g03_c01.mp4')
    demo_out = tmp_path / 'demo.mp4'
    # The config mim train dumped into the work dir (overrides applied).
    dumped = work / 'yowo_plus_ucf24.py'
    out = run_command([
        PYTHON, 'tools/demo.py',
        str(dumped),
        str(ckpt), video,
        str(demo_out), '--device', 'cpu', '--max-frames', '30'
    ],
                      cwd=REPO)
    assert demo_out.is_file() and demo_out.stat().st_size > 0, out
