import os
import pickle

import pytest
import torch
import torch.nn as nn
from mmengine.model import BaseModel
from mmengine.registry import DefaultScope
from mmengine.runner import Runner
from torch.utils.data import Dataset

from mmyowo.utils import compat


def test_mmaction_models_imports():
    import mmaction.models as models  # fails on the bare 1.2.0 wheel
    assert hasattr(models, 'ResNet3d')
    if compat.mmaction_lacks_drn():
        # The placeholder is not registered and refuses to be built.
        from mmaction.registry import MODELS
        assert MODELS.get('DRN') is None
        from mmaction.models.localizers import DRN
        with pytest.raises(ImportError, match='missing from the installed'):
            DRN()
    assert compat.patch_mmaction_drn() is False  # idempotent


class _Tiny(BaseModel):

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(2, 1)

    def forward(self, inputs, data_samples=None, mode='tensor'):
        x = inputs if torch.is_tensor(inputs) else torch.stack(inputs)
        out = self.fc(x)
        return dict(loss=out.mean()) if mode == 'loss' else out


class _Data(Dataset):

    def __len__(self):
        return 4

    def __getitem__(self, i):
        return dict(inputs=torch.full((2, ), float(i)))


class _Evil:

    def __reduce__(self):
        return (os.system, ('echo pwned',))


def test_runner_checkpoint_loads_with_weights_only(tmp_path):
    # The Runner makes 'mmengine' the process-wide default scope; restore the
    # previous one afterwards so later tests build from mmaction's registries.
    with DefaultScope.overwrite_default_scope('mmengine'):
        runner = Runner(
            model=_Tiny(), work_dir=str(tmp_path), default_scope='mmengine',
            train_dataloader=dict(
                dataset=_Data(), batch_size=2,
                collate_fn=dict(type='default_collate'),
                sampler=dict(type='DefaultSampler', shuffle=False)),
            optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.1)),
            train_cfg=dict(by_epoch=True, max_epochs=1))
        runner.train()
    ckpt = tmp_path / 'epoch_1.pth'
    # The message hub (HistoryBuffer + numpy) is what used to break loading.
    unsafe = torch.serialization.get_unsafe_globals_in_checkpoint(str(ckpt))
    assert unsafe == []
    loaded = torch.load(ckpt, weights_only=True)
    assert 'message_hub' in loaded and 'state_dict' in loaded
    # ... and mmengine's own loader (used by `mim test --checkpoint`) works.
    from mmengine.runner import load_checkpoint
    load_checkpoint(_Tiny(), str(ckpt))


def test_safe_loading_still_refuses_code(tmp_path):
    path = tmp_path / 'evil.pth'
    with open(path, 'wb') as f:
        pickle.dump({'state_dict': {}, 'x': _Evil()}, f)
    with pytest.raises(pickle.UnpicklingError):
        torch.load(path, weights_only=True)


@pytest.mark.parametrize('scope', ['mmaction', 'mmdet', None])
def test_mish_builds_under_any_scope(scope):
    from mmcv.cnn import build_activation_layer
    with DefaultScope.overwrite_default_scope(scope):
        act = build_activation_layer(dict(type='Mish'))
    x = torch.linspace(-3, 3, 7)
    mish = x * torch.tanh(torch.nn.functional.softplus(x))
    torch.testing.assert_close(act(x), mish)
