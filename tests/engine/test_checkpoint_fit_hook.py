"""``CheckpointFitHook``: no testing or resuming with weights that do not fit.

mmengine's runner loads ``load_from`` with ``strict=False``; before this hook
a checkpoint trained for another number of classes "tested" with random head
weights and exit code 0.
"""
import pytest
import torch
import torch.nn as nn
from mmengine.evaluator import BaseMetric
from mmengine.model import BaseModel
from mmengine.registry import DefaultScope
from mmengine.runner import Runner
from torch.utils.data import Dataset

from mmyowo.engine.hooks import CheckpointFitHook
from mmyowo.utils import CheckpointMismatchError


class _Net(BaseModel):

    def __init__(self, classes: int = 3):
        super().__init__()
        self.body = nn.Linear(2, 8)
        self.head = nn.Linear(8, classes)

    def forward(self, inputs, data_samples=None, mode='tensor'):
        x = inputs if torch.is_tensor(inputs) else torch.stack(inputs)
        out = self.head(self.body(x))
        if mode == 'loss':
            return dict(loss=out.mean())
        return [dict(out=o) for o in out] if mode == 'predict' else out


class _Data(Dataset):

    def __len__(self):
        return 4

    def __getitem__(self, i):
        return dict(inputs=torch.full((2, ), float(i)))


class _Metric(BaseMetric):

    def process(self, data_batch, data_samples):
        self.results.extend(s['out'].sum().item() for s in data_samples)

    def compute_metrics(self, results):
        return dict(total=sum(results))


def _runner(tmp_path, classes, name, **kwargs):
    loader = dict(
        dataset=_Data(),
        batch_size=2,
        collate_fn=dict(type='default_collate'),
        sampler=dict(type='DefaultSampler', shuffle=False))
    return Runner(
        model=_Net(classes),
        work_dir=str(tmp_path / name),
        default_scope='mmengine',
        experiment_name=name,
        train_dataloader=loader,
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.1)),
        train_cfg=dict(by_epoch=True, max_epochs=1),
        test_dataloader=loader,
        test_cfg=dict(),
        test_evaluator=dict(type=_Metric),
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
