"""End to end through the stock OpenMMLab tools: ``mim train`` (with
``--resume``) and ``mim test`` on a tiny generated synthetic set."""
import re

import pytest

from mmyowo.utils import load_checkpoint_file
from ._e2e import make_tiny_data, mim, write_config


@pytest.fixture(scope='module')
def tiny_data(tmp_path_factory):
    return make_tiny_data(tmp_path_factory.mktemp('synthetic'))


def test_mim_train_resume_and_test(tmp_path, tiny_data):
    work_dir = tmp_path / 'work'
    out = mim(
        'train',
        'mmaction',
        write_config(tmp_path, tiny_data, 1),
        '--work-dir',
        str(work_dir),
        cwd=tmp_path)
    assert (work_dir / 'epoch_1.pth').is_file()
    assert 'mAP/frame@0.5' in out

    # "Interrupted" after epoch 1: resume to epoch 2 from the last checkpoint.
    out = mim(
        'train',
        'mmaction',
        write_config(tmp_path, tiny_data, 2),
        '--work-dir',
        str(work_dir),
        '--resume',
        cwd=tmp_path)
    assert re.search(r'resumed epoch: 1, iter: \d+', out), out[-3000:]
    assert 'Epoch(train) [2]' in out and 'Epoch(train) [1]' not in out
    ckpt = load_checkpoint_file(str(work_dir / 'epoch_2.pth'))
    assert ckpt['meta']['epoch'] == 2
    iters_per_epoch = ckpt['meta']['iter'] // 2
    assert iters_per_epoch > 0

    out = mim(
        'test',
        'mmaction',
        write_config(tmp_path, tiny_data, 2),
        '--checkpoint',
        str(work_dir / 'epoch_2.pth'),
        '--work-dir',
        str(tmp_path / 'test'),
        cwd=tmp_path)
    for key in ('mAP/frame@0.5', 'mAP/video@0.2', 'mAP/video@0.5',
                'mAP/video@0.75'):
        assert re.search(re.escape(key) + r': [0-9.]+', out), key
