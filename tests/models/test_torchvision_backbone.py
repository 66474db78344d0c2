"""TorchvisionBackbone: the stride-8/16/32 features of torchvision's own
forward, its freezing, and ImageNet weights loaded through YOWO the way a
user names them (``torchvision://ARCH``), from a stand-in checkpoint saved
in torchvision's format."""
import io
import logging
import os

import pytest
import torch
import torchvision
from mmaction.registry import MODELS
from mmengine.logging import MMLogger
from mmengine.registry import init_default_scope
from mmengine.runner import checkpoint as mmengine_checkpoint

from mmyowo.models.backbones import ARCHS, TorchvisionBackbone
from ._cfgs import small_yowo_cfg
from ._pretrained_ckpts import randomize


def torchvision_outputs(model, names, x):
    """Outputs of the named submodules during torchvision's own forward."""
    found = {}
    hooks = [
        model.get_submodule(name).register_forward_hook(
            lambda _m, _i, out, name=name: found.__setitem__(name, out))
        for name in names
    ]
    try:
        model(x)
    finally:
        for hook in hooks:
            hook.remove()
    return [found[name] for name in names]


@pytest.mark.parametrize('arch', sorted(ARCHS))
def test_levels_are_torchvision_intermediates(arch):
    source = randomize(torchvision.models.get_model(arch), seed=3).eval()
    net = TorchvisionBackbone(arch).eval()
    # Same names as torchvision's: its state dict loads without renaming,
    # and only the classifier side is left over.
    result = net.load_state_dict(source.state_dict(), strict=False)
    assert result.missing_keys == []
    assert result.unexpected_keys and all(
        k.startswith(('classifier.', 'fc.')) for k in result.unexpected_keys)
    x = torch.randn(2, 3, 96, 128)
    with torch.no_grad():
        outs = net(x)
        expected = torchvision_outputs(source, ARCHS[arch].outputs, x)
    for out, exp, stride, channels in zip(outs, expected, (8, 16, 32),
                                          net.out_channels):
        assert out.shape == (2, channels, 96 // stride, 128 // stride)
        torch.testing.assert_close(out, exp, rtol=0, atol=0)


def test_frozen_stages_and_norm_eval():
    net = TorchvisionBackbone('mobilenet_v3_small', frozen_stages=1)
    net.train()
    frozen = {'features.0', 'features.1', 'features.2', 'features.3'}
    for name, param in net.named_parameters():
        layer = '.'.join(name.split('.')[:2])
        assert param.requires_grad == (layer not in frozen), name
    assert not net.features[3].training and net.features[4].training
    net = TorchvisionBackbone('mobilenet_v3_small', norm_eval=True).train()
    bns = [m for m in net.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert bns and not any(m.training for m in bns)
    assert net.features[0][0].training  # the convs stay in training mode


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match="unknown arch 'resnet50'"):
        TorchvisionBackbone('resnet50')
    with pytest.raises(ValueError, match='frozen_stages must be in 0..3'):
        TorchvisionBackbone('mobilenet_v3_small', frozen_stages=4)


@pytest.fixture
def log():
    """Text logged at INFO and above to mmengine's current logger."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setLevel(logging.INFO)
    logger = MMLogger.get_current_instance()
    logger.addHandler(handler)
    yield stream
    logger.removeHandler(handler)


def test_imagenet_weights_load_through_the_torchvision_scheme(
        tmp_path, monkeypatch, log):
    # The user's config names torchvision://mobilenet_v3_small; mmyowo maps
    # it to torchvision's URL and reads the file from its own cache. The
    # stand-in is a random torchvision model saved as torchvision publishes
    # it (a plain state dict with the classifier), already in the cache
    # under a name without hash (the real name's SHA-256 prefix would not
    # match random weights), so nothing is downloaded.
    arch = 'mobilenet_v3_small'
    source = randomize(torchvision.models.get_model(arch), seed=5)
    cache = tmp_path / 'home' / 'checkpoints'
    cache.mkdir(parents=True)
    torch.save(source.state_dict(), cache / f'{arch}-standin.pth')
    monkeypatch.setenv('MMYOWO_HOME', str(tmp_path / 'home'))
    urls = dict(mmengine_checkpoint.get_torchvision_models())
    urls[arch] = f'https://download.pytorch.org/models/{arch}-standin.pth'
    monkeypatch.setattr(mmengine_checkpoint, 'get_torchvision_models',
                        lambda: urls)

    cfg = small_yowo_cfg()
    cfg['backbone_2d'] = dict(
        type='TorchvisionBackbone',
        arch=arch,
        init_cfg=dict(type='Pretrained', checkpoint=f'torchvision://{arch}'))
    cfg['neck']['in_channels_2d'] = ARCHS[arch].channels
    init_default_scope('mmaction')
    model = MODELS.build(cfg)
    model.init_weights()

    expected = source.state_dict()
    own = model.backbone_2d.state_dict()
    for key, value in own.items():
        assert torch.equal(value, expected[key]), key
    n = len(own)
    n_params = len(list(model.backbone_2d.parameters()))
    unexpected = len(expected) - n  # the classifier's tensors
    assert unexpected == 4
    assert (f'loaded {n}/{n} tensors ({n_params}/{n_params} parameters) of '
            f'backbone_2d from torchvision://{arch} (missing 0, unexpected '
            f'{unexpected}, shape-mismatched 0') in log.getvalue()
    assert os.listdir(cache) == [f'{arch}-standin.pth']
