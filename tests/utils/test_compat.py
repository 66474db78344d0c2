import pytest
import torch
from mmengine.registry import DefaultScope

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


@pytest.mark.parametrize('scope', ['mmaction', 'mmdet', None])
def test_mish_builds_under_any_scope(scope):
    from mmcv.cnn import build_activation_layer
    with DefaultScope.overwrite_default_scope(scope):
        act = build_activation_layer(dict(type='Mish'))
    x = torch.linspace(-3, 3, 7)
    mish = x * torch.tanh(torch.nn.functional.softplus(x))
    torch.testing.assert_close(act(x), mish)
