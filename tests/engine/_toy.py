"""A toy model, dataset and metric for tests that run mmengine's ``Runner``
itself (in a few milliseconds) around one of our hooks."""
import torch
import torch.nn as nn
from mmengine.evaluator import BaseMetric
from mmengine.model import BaseModel
from torch.utils.data import Dataset


class ToyNet(BaseModel):
    """Two linear layers; ``predict`` gives one ``dict(out=...)`` a sample."""

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


class ToyData(Dataset):
    """Four samples, ``inputs`` filled with the sample index."""

    def __len__(self):
        return 4

    def __getitem__(self, i):
        return dict(inputs=torch.full((2, ), float(i)))


class SumMetric(BaseMetric):
    """The sum of all outputs (``total``) and the number of samples (``count``,
    an int)."""

    def process(self, data_batch, data_samples):
        self.results.extend(s['out'].sum().item() for s in data_samples)

    def compute_metrics(self, results):
        return dict(total=sum(results), count=len(results))
