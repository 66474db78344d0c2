"""TorchvisionBackbone: the stride-8/16/32 features of torchvision's own
forward, its freezing, and ImageNet weights loaded through YOWO the way a
user names them (``torchvision://ARCH``), from a stand-in checkpoint saved
in torchvision's format."""
import os

import pytest
import torch
import torchvision
from mmaction.registry import MODELS
from mmengine.registry import init_default_scope

from mmyowo.models.backbones import ARCHS, TorchvisionBackbone
from ._cfgs import small_yowo_cfg
from ._pretrained_ckpts import randomize, serve_torchvision_checkpoint


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
    # Left over: the classifier, and MobileNetV3's 1x1 widening conv after
    # its last block (features.16 / features.12).
    widening = {
        'mobilenet_v3_large': 'features.16.',
        'mobilenet_v3_small': 'features.12.'
    }.get(arch, 'fc.')
    assert result.unexpected_keys and all(
        k.startswith(('classifier.', 'fc.', widening))
        for k in result.unexpected_keys)
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


def test_imagenet_weights_load_through_the_torchvision_scheme(
        tmp_path, monkeypatch, log):
    # The user's config names torchvision://mobilenet_v3_small; mmyowo maps
    # it to torchvision's URL and reads the file from its own cache, where a
    # random torchvision model saved as torchvision publishes it (a plain
    # state dict with the classifier) already is, so nothing is downloaded.
    arch = 'mobilenet_v3_small'
    home = str(tmp_path / 'home')
    expected = serve_torchvision_checkpoint(monkeypatch, home, arch, seed=5)

    cfg = small_yowo_cfg()
    cfg['backbone_2d'] = dict(
        type='TorchvisionBackbone',
        arch=arch,
        init_cfg=dict(type='Pretrained', checkpoint=f'torchvision://{arch}'))
    cfg['neck']['in_channels_2d'] = ARCHS[arch].channels
    init_default_scope('mmaction')
    model = MODELS.build(cfg)
    model.init_weights()

    own = model.backbone_2d.state_dict()
    for key, value in own.items():
        assert torch.equal(value, expected[key]), key
    n = len(own)
    n_params = len(list(model.backbone_2d.parameters()))
    # The classifier's 4 tensors and the widening conv + BN (features.12).
    unexpected = len(expected) - n
    assert unexpected == 4 + 6
    assert (f'loaded {n}/{n} tensors ({n_params}/{n_params} parameters) of '
            f'backbone_2d from torchvision://{arch} (missing 0, unexpected '
            f'{unexpected}, shape-mismatched 0') in log.getvalue()
    assert os.listdir(os.path.join(home,
                                   'checkpoints')) == [f'{arch}-standin.pth']
