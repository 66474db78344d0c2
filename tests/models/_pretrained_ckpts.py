"""Locally made pretrained checkpoints in the formats users load.

* :func:`make_i3d_recognizer_checkpoint`: a randomly initialised mmaction
  ``Recognizer3D`` built from mmaction's own model-zoo config of the
  Kinetics-400 I3D-R50 (``i3d_imagenet-pretrained-r50_8xb8-32x2x1-100e_
  kinetics400-rgb``, shipped inside the mmaction2 package), saved as the zoo
  saves its checkpoints: ``{'state_dict': ..., 'meta': ...}`` with
  ``backbone.*`` / ``cls_head.*`` keys.
* :func:`make_timm_cspdarknet53_checkpoint`: a random timm ``cspdarknet53``
  saved in timm's format and converted by
  ``tools/model_converters/timm_cspdarknet53_to_mmyowo.py``; for a reduced
  width/depth (which timm cannot build) a random mmyowo ``CSPDarknet53`` of
  that size saved in the converter's output format (``{'state_dict': ...}``
  with backbone-level keys).
* :func:`make_torchvision_checkpoint`: a random torchvision classifier
  (e.g. ``mobilenet_v3_large``) saved as torchvision publishes its ImageNet
  weights: a plain state dict under torchvision's names, classifier
  included; :func:`serve_torchvision_checkpoint` makes
  ``torchvision://ARCH`` resolve to it without downloading.
* :func:`make_x3d_recognizer_checkpoint`: a random mmaction X3D-S
  ``Recognizer3D`` from mmaction's zoo config
  ``x3d_s_13x6x1_facebook-kinetics400-rgb`` (``backbone.*`` /
  ``cls_head.*``).

Weights and BN statistics are random (seeded, without touching the global
RNG) and ``num_batches_tracked`` is non-zero, so no tensor of a checkpoint
equals a freshly initialised module's by accident.
"""
import importlib.util
import os
import os.path as osp
from typing import Dict, Optional

import pytest
import timm
import torch
import torch.nn as nn
import torchvision
from mmaction.registry import MODELS
from mmengine.config import Config
from mmengine.registry import DefaultScope
from mmengine.runner import checkpoint as mmengine_checkpoint
from torch.nn.modules.batchnorm import _BatchNorm

from mmyowo.models.backbones import CSPDarknet53

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
TIMM_CONVERTER = osp.join(REPO, 'tools', 'model_converters',
                          'timm_cspdarknet53_to_mmyowo.py')
#: mmaction's model-zoo config of the Kinetics-400 I3D-R50 whose checkpoint
#: configs/_base_/models/yowo_plus_pretrained.py downloads.
I3D_ZOO_CONFIG = osp.join(
    'recognition', 'i3d',
    'i3d_imagenet-pretrained-r50_8xb8-32x2x1-100e_kinetics400-rgb.py')
#: mmaction's model-zoo config of the Kinetics-400 X3D-S whose checkpoint
#: configs/_base_/models/yowo_plus_tiny_pretrained.py downloads.
X3D_ZOO_CONFIG = osp.join('recognition', 'x3d',
                          'x3d_s_13x6x1_facebook-kinetics400-rgb.py')
#: ``num_batches_tracked`` written into every BN of the checkpoints.
NUM_BATCHES_TRACKED = 1234


def mmaction_zoo_config(relative: str) -> Config:
    """A config of mmaction's model zoo, read from the installed package."""
    spec = importlib.util.find_spec('mmaction')
    root = list(spec.submodule_search_locations)[0]
    return Config.fromfile(osp.join(root, '.mim', 'configs', relative))


def save_zoo_checkpoint(model: nn.Module, path: str, seed: int,
                        meta: dict) -> Dict[str, torch.Tensor]:
    """Randomise ``model`` and save it as the OpenMMLab model zoos do,
    ``{'state_dict': ..., 'meta': ...}``; return the state dict."""
    randomize(model, seed)
    state_dict = model.state_dict()
    torch.save({'state_dict': state_dict, 'meta': meta}, path)
    return state_dict


def randomize(module: nn.Module, seed: int = 0) -> nn.Module:
    """Give every parameter and BN buffer random values (in place).

    Conv weights get small normal values, BN weights ``U(0.5, 1.5)``,
    running variances ``U(0.5, 1.5)``, biases and means ``N(0, 0.1)``.
    """
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, param in module.named_parameters():
            if name.endswith('bias'):
                param.copy_(
                    torch.randn(param.shape, generator=generator) * 0.1)
            elif param.dim() == 1:
                param.copy_(torch.rand(param.shape, generator=generator) + 0.5)
            else:
                param.copy_(
                    torch.randn(param.shape, generator=generator) * 0.05)
        for sub in module.modules():
            if isinstance(sub, _BatchNorm):
                sub.running_mean.copy_(
                    torch.randn(sub.num_features, generator=generator) * 0.1)
                sub.running_var.copy_(
                    torch.rand(sub.num_features, generator=generator) + 0.5)
                sub.num_batches_tracked.fill_(NUM_BATCHES_TRACKED)
    return module


def make_i3d_recognizer_checkpoint(path: str,
                                   base_channels: int = 64,
                                   seed: int = 0,
                                   **resnet3d_overrides
                                   ) -> Dict[str, torch.Tensor]:
    """Save a random mmaction I3D recognizer checkpoint as the zoo does.

    The recognizer is mmaction's ``Recognizer3D`` with the zoo's I3D-R50
    backbone (``ResNet3d``, depth 50, ``conv1_kernel=(5, 7, 7)``, inflation
    pattern of the zoo config) and ``I3DHead(num_classes=400)``;
    ``pretrained``/``pretrained2d`` are switched off so nothing is
    downloaded.

    Args:
        path (str): Output file.
        base_channels (int): ``ResNet3d.base_channels`` (64 in the zoo). The
            head's input width follows (``base_channels * 32`` for depth 50).
        seed (int): Seed of the random values.
        **resnet3d_overrides: Further ``ResNet3d`` arguments, e.g.
            ``depth=18`` (the head's input width then follows, too).

    Returns:
        dict[str, Tensor]: The saved state dict (``backbone.*`` and
        ``cls_head.*`` keys).
    """
    model_cfg = mmaction_zoo_config(I3D_ZOO_CONFIG).model.to_dict()
    backbone = model_cfg['backbone']
    backbone.update(
        pretrained=None,
        pretrained2d=False,
        base_channels=base_channels,
        **resnet3d_overrides)
    expansion = 4 if backbone['depth'] >= 50 else 1
    num_stages = backbone.get('num_stages', 4)
    model_cfg['cls_head']['in_channels'] = \
        base_channels * 2**(num_stages - 1) * expansion
    # The recognizer builds its data preprocessor through mmengine's root
    # registry, which finds mmaction's only in mmaction's scope.
    with DefaultScope.overwrite_default_scope('mmaction'):
        recognizer = MODELS.build(model_cfg)
    return save_zoo_checkpoint(
        recognizer, path, seed,
        dict(
            mmaction_version='1.2.0', epoch=100, iter=0,
            config=I3D_ZOO_CONFIG))


def make_x3d_recognizer_checkpoint(path: str,
                                   seed: int = 0) -> Dict[str, torch.Tensor]:
    """Save a random mmaction X3D-S recognizer checkpoint as the zoo does.

    The recognizer is built from mmaction's zoo config of the Kinetics-400
    X3D-S (``X3D(gamma_w=1, gamma_b=2.25, gamma_d=2.2)`` and
    ``X3DHead(num_classes=400)``).

    Args:
        path (str): Output file.
        seed (int): Seed of the random values.

    Returns:
        dict[str, Tensor]: The saved state dict (``backbone.*`` and
        ``cls_head.*`` keys).
    """
    model_cfg = mmaction_zoo_config(X3D_ZOO_CONFIG).model.to_dict()
    with DefaultScope.overwrite_default_scope('mmaction'):
        recognizer = MODELS.build(model_cfg)
    return save_zoo_checkpoint(
        recognizer, path, seed,
        dict(mmaction_version='1.2.0', epoch=0, iter=0, config=X3D_ZOO_CONFIG))


def make_torchvision_checkpoint(path: str,
                                arch: str,
                                seed: int = 0) -> Dict[str, torch.Tensor]:
    """Save a random torchvision classifier as torchvision publishes its
    ImageNet weights: a plain state dict under torchvision's module names,
    classifier included.

    Args:
        path (str): Output file.
        arch (str): torchvision builder name, e.g. ``'mobilenet_v3_large'``.
        seed (int): Seed of the random values.

    Returns:
        dict[str, Tensor]: The saved state dict.
    """
    model = randomize(torchvision.models.get_model(arch, weights=None), seed)
    state_dict = model.state_dict()
    torch.save(state_dict, path)
    return state_dict


def serve_torchvision_checkpoint(monkeypatch: pytest.MonkeyPatch,
                                 home: str,
                                 arch: str,
                                 seed: int = 0) -> Dict[str, torch.Tensor]:
    """Make ``torchvision://ARCH`` resolve to a local random stand-in.

    mmengine maps the name to torchvision's URL and mmyowo reads the file
    from its cache, ``$MMYOWO_HOME/checkpoints/<URL basename>``. The stand-in
    (:func:`make_torchvision_checkpoint`) is put there under a name without
    hash (the real name's SHA-256 prefix would not match random weights),
    ``MMYOWO_HOME`` is set to ``home`` and mmengine's URL table is patched
    to that name, so nothing is downloaded.

    Returns:
        dict[str, Tensor]: The stand-in's state dict.
    """
    name = f'{arch}-standin.pth'
    cache = osp.join(home, 'checkpoints')
    os.makedirs(cache, exist_ok=True)
    state_dict = make_torchvision_checkpoint(osp.join(cache, name), arch, seed)
    monkeypatch.setenv('MMYOWO_HOME', home)
    urls = dict(mmengine_checkpoint.get_torchvision_models())
    urls[arch] = f'https://download.pytorch.org/models/{name}'
    monkeypatch.setattr(mmengine_checkpoint, 'get_torchvision_models',
                        lambda: urls)
    return state_dict


def make_timm_cspdarknet53_checkpoint(path_converted: str,
                                      widen_factor: float = 1.0,
                                      deepen_factor: float = 1.0,
                                      seed: int = 0,
                                      timm_path: Optional[str] = None
                                      ) -> Dict[str, torch.Tensor]:
    """Save a random CSPDarknet53 checkpoint as the timm converter writes it.

    At full size (both factors 1.0) a random timm ``cspdarknet53`` is saved
    in timm's format (a plain state dict, at ``timm_path`` or next to
    ``path_converted``) and converted by running the converter's ``main``.
    timm cannot build a reduced CSPDarknet53, so for other factors a random
    mmyowo ``CSPDarknet53(widen_factor, deepen_factor)`` is saved in the
    converter's output format, ``{'state_dict': ...}`` with backbone-level
    keys.

    Args:
        path_converted (str): Output file (the converter's ``DST``).
        widen_factor (float): ``CSPDarknet53.widen_factor``.
        deepen_factor (float): ``CSPDarknet53.deepen_factor``.
        seed (int): Seed of the random values.
        timm_path (str, optional): Where the timm-format file goes.

    Returns:
        dict[str, Tensor]: The converted state dict as saved.
    """
    if widen_factor == 1.0 and deepen_factor == 1.0:
        timm_model = randomize(
            timm.create_model('cspdarknet53', pretrained=False), seed)
        timm_path = timm_path or osp.splitext(path_converted)[0] + '_timm.pth'
        torch.save(timm_model.state_dict(), timm_path)
        spec = importlib.util.spec_from_file_location(
            'timm_cspdarknet53_to_mmyowo', TIMM_CONVERTER)
        converter = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(converter)
        converter.main([timm_path, path_converted])
    else:
        backbone = randomize(
            CSPDarknet53(
                widen_factor=widen_factor, deepen_factor=deepen_factor), seed)
        torch.save({'state_dict': backbone.state_dict()}, path_converted)
    return torch.load(
        path_converted, map_location='cpu', weights_only=True)['state_dict']
