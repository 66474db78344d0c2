"""``CheckpointFitHook``: no testing or resuming with weights that do not fit.

mmengine's runner loads ``load_from`` with ``strict=False``; before this hook
a checkpoint trained for another number of classes "tested" with random head
weights and exit code 0.
"""
import pytest
import torch
from mmengine.registry import DefaultScope
from mmengine.runner import Runner

from mmyowo.engine.hooks import CheckpointFitHook
from mmyowo.utils import CheckpointMismatchError
from ._toy import SumMetric, ToyData, ToyNet


def _runner(tmp_path, classes, name, **kwargs):
    loader = dict(
        dataset=ToyData(),
        batch_size=2,
        collate_fn=dict(type='default_collate'),
        sampler=dict(type='DefaultSampler', shuffle=False))
    return Runner(
        model=ToyNet(classes),
        work_dir=str(tmp_path / name),
        default_scope='mmengine',
        experiment_name=name,
        train_dataloader=loader,
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.1)),
        train_cfg=dict(by_epoch=True, max_epochs=1),
        test_dataloader=loader,
        test_cfg=dict(),
        test_evaluator=dict(type=SumMetric),
        custom_hooks=[dict(type=CheckpointFitHook)],
        **kwargs)


@pytest.fixture
def trained(tmp_path):
    with DefaultScope.overwrite_default_scope('mmengine'):
        _runner(tmp_path, 3, 'train').train()
    return str(tmp_path / 'train' / 'epoch_1.pth')


def test_testing_with_a_fitting_checkpoint_works(tmp_path, trained):
    with DefaultScope.overwrite_default_scope('mmengine'):
        metrics = _runner(tmp_path, 3, 'ok', load_from=trained).test()
    assert 'total' in metrics


def test_testing_with_other_classes_fails_naming_the_file(tmp_path, trained):
    with DefaultScope.overwrite_default_scope('mmengine'):
        runner = _runner(tmp_path, 5, 'bad', load_from=trained)
        with pytest.raises(CheckpointMismatchError) as info:
            runner.test()
    text = str(info.value)
    assert trained in text and 'head.weight' in text and '2 mismatched' in text


def test_fine_tuning_from_other_classes_is_logged(tmp_path, trained):
    with DefaultScope.overwrite_default_scope('mmengine'):
        runner = _runner(tmp_path, 5, 'tune', load_from=trained)
        before = runner.model.head.weight.detach().clone()
        runner.train()
    log = open(runner.logger.log_file).read()
    assert 'fine-tuning from' in log and '2 mismatched' in log
    assert trained in log
    # The body came from the checkpoint (then one SGD epoch), the head not.
    assert runner.model.head.weight.shape == before.shape


def test_fine_tuning_from_another_model_fails(tmp_path):
    other = tmp_path / 'other.pth'
    torch.save({'state_dict': {'x.weight': torch.zeros(1)}}, other)
    with DefaultScope.overwrite_default_scope('mmengine'):
        runner = _runner(tmp_path, 3, 'other', load_from=str(other))
        with pytest.raises(CheckpointMismatchError, match='another model'):
            runner.train()


def test_min_fit_is_checked():
    with pytest.raises(ValueError):
        CheckpointFitHook(min_fit=1.5)
