"""Shared inputs of the bad-input battery: the tiny synthetic set, one
training run of its config (its checkpoint serves every checkpoint case) and
the marker file that malicious inputs try to create."""
import os.path as osp

import pytest
from mmengine.config import Config
from mmengine.runner import Runner

from .._e2e import make_tiny_data, write_config
from ._inputs import ann_file

#: One short epoch without validation: the run exists to give the battery
#: a checkpoint in the real format (model, optimizer, message hub, meta).
SHORT_RUN = '''
train_cfg = dict(max_epochs=1, val_begin=2, val_interval=1)
train_dataloader = dict(batch_size=4, num_workers=0, persistent_workers=False,
                        dataset=dict(data, key_frame_stride=3))
'''


@pytest.fixture(scope='package')
def tiny_data(tmp_path_factory):
    """3 training and 2 test videos of 24 frames of 112x112, 4 classes."""
    return make_tiny_data(tmp_path_factory.mktemp('tiny_data'))


@pytest.fixture(scope='package')
def tiny_config(tiny_data, tmp_path_factory):
    """The synthetic config on the tiny set (see :data:`SHORT_RUN`)."""
    return write_config(
        tmp_path_factory.mktemp('tiny_config'), tiny_data, 1, extra=SHORT_RUN)


@pytest.fixture(scope='package')
def trained(tiny_data, tiny_config, tmp_path_factory):
    """Train once; returns the config, its annotation file and ``epoch_1.pth``.

    What ``mim train`` runs (mmaction's tools/train.py: ``Runner.from_cfg``
    then ``train()``), in this process: a ``mim`` subprocess costs another
    15 s of start-up; tests/test_end_to_end.py runs ``mim train`` itself.
    """
    work_dir = tmp_path_factory.mktemp('trained')
    cfg = Config.fromfile(tiny_config)
    cfg.work_dir = str(work_dir)
    Runner.from_cfg(cfg).train()
    checkpoint = osp.join(work_dir, 'epoch_1.pth')
    assert osp.isfile(checkpoint)
    return dict(
        config=tiny_config,
        checkpoint=checkpoint,
        work_dir=str(work_dir),
        ann_file=ann_file(tiny_data))


@pytest.fixture
def marker(tmp_path):
    """A file that a malicious input tries to create (``touch``)."""
    path = tmp_path / 'pwned'
    yield path
    assert not path.exists(), 'a malicious input ran code'
