"""Pretrained loading: ``load_pretrained`` on hand-made modules, the branch
config handling of ``YOWO`` and the user path (model-zoo style I3D
recognizer and converted timm CSPDarknet53 checkpoints loaded through the
real UCF101-24 / J-HMDB-21 configs)."""
import copy
import os.path as osp

import pytest
import torch
import torch.nn as nn
from mmaction.registry import MODELS
from mmengine.config import Config
from mmengine.model import BaseModule
from mmengine.registry import init_default_scope

from mmyowo.models.backbones import CSPStage, DarkBlock
from mmyowo.models.utils import load_pretrained, pop_pretrained_cfg
from ._cfgs import small_yowo_cfg
from ._pretrained_ckpts import (make_i3d_recognizer_checkpoint,
                                make_timm_cspdarknet53_checkpoint)

CONFIGS = osp.join(osp.dirname(__file__), '..', '..', 'configs')
REAL_CONFIGS = ('yowo_plus_ucf24.py', 'yowo_plus_8f_ucf24.py',
                'yowo_plus_jhmdb21.py', 'yowo_plus_8f_jhmdb21.py')
BUFFER_SUFFIXES = ('running_mean', 'running_var', 'num_batches_tracked')
# ResNet3d arguments of the small test model (tests/models/_cfgs.py).
SMALL_I3D = dict(
    depth=18,
    base_channels=8,
    conv1_kernel=(3, 7, 7),
    conv1_stride_t=1,
    pool1_stride_t=1,
    inflate=(1, 1, 1, 1))


class Net(nn.Module):
    """Conv + BN + linear: 5 parameters, 3 BN buffers (8 state entries)."""

    def __init__(self, width=4):
        super().__init__()
        self.conv = nn.Conv2d(3, width, 3, bias=False)
        self.bn = nn.BatchNorm2d(width)
        self.fc = nn.Linear(width, 2)


def random_state(width=4, seed=1):
    g = torch.Generator().manual_seed(seed)
    return {
        k: (torch.randint(1, 99, v.shape, generator=g)
            if k.endswith('num_batches_tracked') else torch.randn(
                v.shape, generator=g))
        for k, v in Net(width).state_dict().items()
    }


def assert_loaded(module, state, prefix=''):
    own = module.state_dict()
    for key, value in state.items():
        assert torch.equal(own[key[len(prefix):]], value), key


# --------------------------------------------------------------------- #
# load_pretrained on hand-made modules
# --------------------------------------------------------------------- #
def test_exact_copy_with_wrapper_and_log_counts(tmp_path, log):
    state = random_state()
    path = tmp_path / 'net.pth'
    torch.save({'state_dict': state, 'meta': {'epoch': 3}}, path)
    net = Net()
    report = load_pretrained(net, str(path), name='net')
    assert_loaded(net, state)
    assert sorted(report.loaded) == sorted(state)
    assert f'loaded 8/8 tensors (5/5 parameters) of net from {path} ' \
        '(missing 0, unexpected 0, shape-mismatched 0' in log.getvalue()


def test_prefix_selects_and_module_prefix_is_stripped(tmp_path, log):
    state = random_state()
    other = random_state(seed=2)
    ckpt = {f'module.backbone.{k}': v for k, v in state.items()}
    # ``backbone_2d.*`` must not be taken for prefix ``backbone``.
    ckpt.update({f'module.backbone_2d.{k}': v for k, v in other.items()})
    ckpt['module.cls_head.fc.weight'] = torch.zeros(3, 3)
    torch.save(ckpt, tmp_path / 'ddp.pth')
    net = Net()
    load_pretrained(net, str(tmp_path / 'ddp.pth'), prefix='backbone')
    assert_loaded(net, state)
    assert '9 keys outside it ignored' in log.getvalue()


def test_shape_mismatch_is_counted_and_skipped(tmp_path, log):
    state = random_state()
    state['fc.weight'] = torch.randn(5, 4)  # the module's is (2, 4)
    torch.save(state, tmp_path / 'ckpt.pth')
    net = Net()
    before = net.fc.weight.detach().clone()
    report = load_pretrained(net, str(tmp_path / 'ckpt.pth'))
    assert report.mismatched == ['fc.weight']
    assert torch.equal(net.fc.weight, before)
    assert_loaded(net, {k: v for k, v in state.items() if k != 'fc.weight'})
    text = log.getvalue()
    assert 'loaded 7/8 tensors (4/5 parameters)' in text
    assert 'shape-mismatched 1' in text and 'shape-mismatched: fc.weight' \
        in text


def test_non_finite_values_are_refused(tmp_path):
    state = random_state()
    state['bn.running_var'][1] = float('nan')
    state['fc.weight'][0, 0] = float('inf')
    torch.save(state, tmp_path / 'diverged.pth')
    net = Net()
    before = net.conv.weight.detach().clone()
    with pytest.raises(
            ValueError,
            match=r'diverged.pth has NaN or infinite'
            r' values in .*(bn.running_var, fc.weight|fc.weight,'
            r' bn.running_var)'):
        load_pretrained(net, str(tmp_path / 'diverged.pth'))
    assert torch.equal(net.conv.weight, before)


def test_below_threshold_raises_naming_file_and_changes_nothing(tmp_path):
    state = random_state()
    # 2 of 5 parameter tensors (plus all BN buffers) fit.
    partial = {
        k: v
        for k, v in state.items()
        if not k.startswith(('conv.', 'fc.')) or k == 'fc.bias'
    }
    partial['bn.bias'] = torch.randn(7)
    path = tmp_path / 'partial.pth'
    torch.save(partial, path)
    net = Net()
    before = copy.deepcopy(net.state_dict())
    with pytest.raises(ValueError) as info:
        load_pretrained(net, str(path), prefix=None, name='net')
    msg = str(info.value)
    assert str(path) in msg and 'prefix=None' in msg
    assert '2 of its 5 parameter tensors' in msg
    assert 'missing 2, unexpected 0, shape-mismatched 1' in msg
    for key, value in net.state_dict().items():
        assert torch.equal(value, before[key]), key
    # The same file passes a lower threshold.
    load_pretrained(net, str(path), min_fraction=0.4)
    assert torch.equal(net.fc.bias, partial['fc.bias'])


def test_buffers_alone_do_not_count(tmp_path):
    buffers = {
        k: v
        for k, v in random_state().items() if k.endswith(BUFFER_SUFFIXES)
    }
    torch.save(buffers, tmp_path / 'stats.pth')
    with pytest.raises(ValueError, match='only 0 of its 5 parameter'):
        load_pretrained(Net(), str(tmp_path / 'stats.pth'))


def test_wrong_prefix_hints_at_the_checkpoint_prefixes(tmp_path):
    ckpt = {f'backbone.{k}': v for k, v in random_state().items()}
    torch.save({'state_dict': ckpt}, tmp_path / 'rec.pth')
    with pytest.raises(ValueError, match=r"rec.pth.*start with \['backbone.'"):
        load_pretrained(Net(), str(tmp_path / 'rec.pth'))
    with pytest.raises(ValueError, match="no key starts with prefix 'head.'"):
        load_pretrained(Net(), str(tmp_path / 'rec.pth'), prefix='head.')


def test_missing_and_unreadable_files_are_named(tmp_path):
    missing = tmp_path / 'nowhere.pth'
    with pytest.raises(FileNotFoundError, match='nowhere.pth'):
        load_pretrained(Net(), str(missing))
    garbage = tmp_path / 'garbage.pth'
    garbage.write_bytes(b'not a checkpoint at all' * 10)
    with pytest.raises(ValueError, match='garbage.pth'):
        load_pretrained(Net(), str(garbage))
    listed = tmp_path / 'list.pth'
    torch.save([torch.zeros(1)], listed)
    with pytest.raises(ValueError, match='list.pth holds a list'):
        load_pretrained(Net(), str(listed))
    with pytest.raises(ValueError, match='min_fraction'):
        load_pretrained(Net(), str(listed), min_fraction=0)


# --------------------------------------------------------------------- #
# branch configs
# --------------------------------------------------------------------- #
def test_pop_pretrained_cfg_forms():
    pretrained = dict(type='Pretrained', checkpoint='a.pth', prefix='x.')
    cfg = dict(type='CSPDarknet53', init_cfg=pretrained)
    built, load = pop_pretrained_cfg(cfg, 'b')
    assert 'init_cfg' not in built and cfg['init_cfg'] is pretrained
    assert load == dict(checkpoint='a.pth', prefix='x.')
    kaiming = dict(type='Kaiming', layer='Conv2d')
    built, load = pop_pretrained_cfg(
        dict(init_cfg=[kaiming, dict(pretrained, min_fraction=0.9)]), 'b')
    assert built['init_cfg'] == [kaiming] and load['min_fraction'] == 0.9
    assert pop_pretrained_cfg(dict(init_cfg=kaiming),
                              'b') == (dict(init_cfg=kaiming), None)
    # mmaction ResNet3d: ``pretrained`` loads 3D weights only with
    # pretrained2d=False; otherwise it inflates 2D weights (left alone).
    built, load = pop_pretrained_cfg(
        dict(type='ResNet3d', pretrained='r.pth', pretrained2d=False), 'b')
    assert built['pretrained'] is None and load == dict(checkpoint='r.pth')
    inflate = dict(type='ResNet3d', pretrained='torchvision://resnet50')
    assert pop_pretrained_cfg(inflate, 'b') == (inflate, None)
    with pytest.raises(ValueError, match='2 pretrained checkpoints'):
        pop_pretrained_cfg(
            dict(pretrained='r.pth', pretrained2d=False, init_cfg=pretrained),
            'b')
    with pytest.raises(ValueError, match=r"unknown keys \['checkpiont'\]"):
        pop_pretrained_cfg(
            dict(
                init_cfg=dict(
                    type='Pretrained', checkpoint='a', checkpiont='a')), 'b')
    with pytest.raises(ValueError, match='no checkpoint'):
        pop_pretrained_cfg(dict(init_cfg=dict(type='Pretrained')), 'b')


def small_model(tmp_path, min_fraction=None, **i3d):
    """Small YOWO whose 3D branch loads a random I3D recognizer checkpoint
    (``SMALL_I3D`` updated by ``i3d``); returns (model cfg, checkpoint)."""
    path = str(tmp_path / 'i3d_small.pth')
    state = make_i3d_recognizer_checkpoint(path, **dict(SMALL_I3D, **i3d))
    cfg = small_yowo_cfg()
    cfg['backbone_3d']['init_cfg'] = dict(
        type='Pretrained', checkpoint=path, prefix='backbone.')
    if min_fraction is not None:
        cfg['backbone_3d']['init_cfg']['min_fraction'] = min_fraction
    return cfg, state


def test_loaded_weights_survive_nesting_and_a_second_init(tmp_path, log):
    cfg, state = small_model(tmp_path)
    init_default_scope('mmaction')

    class Wrapper(BaseModule):
        # YOWO inside another module: mmengine's init record exists while
        # YOWO loads, and its top-level dump runs afterwards.
        def __init__(self):
            super().__init__()
            self.detector = MODELS.build(cfg)

    wrapper = Wrapper()
    wrapper.init_weights()
    model = wrapper.detector
    assert_loaded(model.backbone_3d, {
        k: v
        for k, v in state.items() if k.startswith('backbone.')
    }, 'backbone.')
    model.init_weights()  # warns, does not re-randomise
    assert_loaded(model.backbone_3d, {
        k: v
        for k, v in state.items() if k.startswith('backbone.')
    }, 'backbone.')
    assert 'of backbone_3d from' in log.getvalue()


def test_min_fraction_is_configurable(tmp_path):
    # Same ResNet3d-18 but with 4 input channels: only conv1 misfits.
    cfg, _ = small_model(tmp_path, min_fraction=1.0, in_channels=4)
    init_default_scope('mmaction')
    with pytest.raises(ValueError, match=r'i3d_small.pth.*min_fraction 100%'):
        MODELS.build(cfg).init_weights()
    cfg['backbone_3d']['init_cfg']['min_fraction'] = 0.9
    model = MODELS.build(cfg)
    model.init_weights()


def test_resnet3d_pretrained_string_is_loud(tmp_path):
    cfg, _ = small_model(tmp_path)
    # Before: ResNet3d loaded this recognizer checkpoint with strict=False
    # against ``backbone.``-prefixed keys, i.e. nothing, without an error.
    cfg['backbone_3d']['pretrained'] = cfg['backbone_3d'].pop(
        'init_cfg')['checkpoint']
    init_default_scope('mmaction')
    with pytest.raises(
            ValueError, match=r"i3d_small.pth.*start with \['backbone.'"):
        MODELS.build(cfg).init_weights()


def test_init_cfg_ignored_by_a_branch_is_an_error():
    cfg = small_yowo_cfg()
    cfg['backbone_3d']['init_cfg'] = dict(
        type='Constant', layer='Conv3d', val=0.5)
    init_default_scope('mmaction')
    with pytest.raises(ValueError, match=r'backbone_3d \(ResNet3d\)'):
        MODELS.build(cfg).init_weights()


CONSTANT = dict(type='Constant', layer='Conv2d', val=0.5)


@pytest.mark.parametrize(
    'build', [
        lambda: MODELS.build(
            dict(
                type='CSPDarknet53',
                deepen_factor=0.33,
                widen_factor=0.125,
                init_cfg=CONSTANT)),
        lambda: CSPStage(8, 16, 1, 1.0, 0.5, 1.0, init_cfg=CONSTANT),
        lambda: DarkBlock(8, 4, init_cfg=CONSTANT),
        lambda: MODELS.build(
            dict(
                type='I3DNeck',
                in_channels=16,
                out_channels=8,
                init_cfg=CONSTANT)),
        lambda: MODELS.build(
            dict(type='SELayer', channels=16, ratio=4, init_cfg=CONSTANT)),
        lambda: MODELS.build(
            dict(
                type='STMFusionFPN',
                in_channels_2d=(32, 64, 128),
                in_channels_3d=64,
                out_channels=(16, 32, 64),
                init_cfg=CONSTANT)),
        lambda: MODELS.build(
            dict(
                type='YOWOHeadModule',
                num_classes=3,
                in_channels=(16, 32, 64),
                se_ratio=4,
                init_cfg=CONSTANT)),
    ],
    ids=[
        'CSPDarknet53', 'CSPStage', 'DarkBlock', 'I3DNeck', 'SELayer',
        'STMFusionFPN', 'YOWOHeadModule'
    ])
def test_components_honour_their_init_cfg(build):
    # Before: the ConvModules held directly (CSPDarknet53.stem,
    # I3DNeck.proj, SELayer.squeeze/excite, the convs of a standalone
    # CSPStage / DarkBlock) kept mmcv's own Kaiming init.
    init_default_scope('mmaction')
    module = build()
    module.init_weights()
    convs = {
        n: m
        for n, m in module.named_modules() if isinstance(m, nn.Conv2d)
    }
    assert convs
    for name, conv in convs.items():
        assert torch.all(conv.weight == 0.5), name


# --------------------------------------------------------------------- #
# the user path: real configs, model-zoo style checkpoints
# --------------------------------------------------------------------- #
@pytest.fixture(scope='module')
def full_checkpoints(tmp_path_factory):
    root = tmp_path_factory.mktemp('pretrained')
    i3d, csp = str(root / 'i3d_r50.pth'), str(root / 'csp_converted.pth')
    return dict(
        i3d=i3d,
        i3d_state=make_i3d_recognizer_checkpoint(i3d),
        csp=csp,
        csp_state=make_timm_cspdarknet53_checkpoint(csp))


def real_cfg(name, i3d, csp):
    cfg = Config.fromfile(osp.join(CONFIGS, name))
    cfg.model.backbone_3d.init_cfg.checkpoint = i3d
    cfg.model.backbone_2d.init_cfg.checkpoint = csp
    return cfg.model


@pytest.fixture(scope='module')
def ucf24_model(full_checkpoints):
    """configs/yowo_plus_ucf24.py built (not initialised) with the local
    checkpoints; tests initialise deep copies (a build takes seconds)."""
    init_default_scope('mmaction')
    return MODELS.build(
        real_cfg(REAL_CONFIGS[0], full_checkpoints['i3d'],
                 full_checkpoints['csp']))


def test_real_config_loads_both_branches(ucf24_model, full_checkpoints, log):
    ckpt = full_checkpoints
    model = copy.deepcopy(ucf24_model)
    model.init_weights()
    i3d = {
        k: v
        for k, v in ckpt['i3d_state'].items() if k.startswith('backbone.')
    }
    assert_loaded(model.backbone_3d, i3d, 'backbone.')
    assert_loaded(model.backbone_2d, ckpt['csp_state'])
    # Counts from the checkpoints themselves: I3D-R50 has 53 conv + 53 BN
    # layers, i.e. 159 parameter and 318 state tensors; CSPDarknet53 201
    # and 402.
    text = log.getvalue()
    for branch, state, file in (('backbone_3d', i3d, ckpt['i3d']),
                                ('backbone_2d', ckpt['csp_state'],
                                 ckpt['csp'])):
        n = len(state)
        n_params = sum(not k.endswith(BUFFER_SUFFIXES) for k in state)
        assert f'loaded {n}/{n} tensors ({n_params}/{n_params} parameters)' \
            f' of {branch} from {file} (missing 0, unexpected 0, ' \
            'shape-mismatched 0' in text
    assert (len(i3d), len(ckpt['csp_state'])) == (318, 402)


@pytest.mark.parametrize('name', REAL_CONFIGS[1:])
def test_other_real_configs_have_the_same_branches(name):
    # The 8-frame and J-HMDB-21 configs differ from the UCF one in the clip
    # length and the number of classes only: their branches, and so what
    # init_weights loads into them, are the tested ones.
    ucf24 = real_cfg(REAL_CONFIGS[0], 'i3d.pth', 'csp.pth')
    other = real_cfg(name, 'i3d.pth', 'csp.pth')
    for part in ('backbone_2d', 'backbone_3d', 'neck_3d'):
        assert other[part] == ucf24[part], part
    assert other.backbone_3d.init_cfg.prefix == 'backbone.'


def test_other_architecture_checkpoint_is_refused(ucf24_model, tmp_path):
    r18 = str(tmp_path / 'i3d_r18.pth')
    make_i3d_recognizer_checkpoint(
        r18, depth=18, inflate=((1, 1), (1, 0), (1, 0), (0, 1)))
    model = copy.deepcopy(ucf24_model)
    model.pretrained_cfgs['backbone_3d']['checkpoint'] = r18
    with pytest.raises(
            ValueError,
            match=r'i3d_r18.pth does not fit '
            r"backbone_3d \(prefix='backbone.'\)"):
        model.init_weights()
