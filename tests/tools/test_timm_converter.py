"""timm cspdarknet53 -> mmyowo CSPDarknet53: key conversion, numerical
equivalence and the command-line tool."""
import importlib.util
import os.path as osp

import pytest
import timm
import torch

from mmyowo.models.backbones import CSPDarknet53
from .._weights import randomize_bn

TOOL = osp.join(
    osp.dirname(__file__), '..', '..', 'tools', 'model_converters',
    'timm_cspdarknet53_to_mmyowo.py')
# timm's feature indices: 0 is the stride-1 stem, 1..5 the five stages.
TIMM_OUT_INDICES = (3, 4, 5)
# timm's cspdarknet53 uses LeakyReLU(0.01) and BN with eps 1e-5.
TIMM_COMPATIBLE = dict(
    act_cfg=dict(type='LeakyReLU', negative_slope=0.01),
    norm_cfg=dict(type='BN', eps=1e-5))


def _load_tool():
    spec = importlib.util.spec_from_file_location('timm_cspdarknet53_tool',
                                                  TOOL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# The converter lives in its tool (preparation code, not the backbone).
convert_timm_cspdarknet53 = _load_tool().convert_timm_cspdarknet53


def _randomize(model: torch.nn.Module) -> torch.nn.Module:
    """Random BN parameters and statistics, so that a wrong mapping of any BN
    tensor changes the output (default init has mean 0 / var 1 / weight 1
    everywhere, which hides swaps)."""
    randomize_bn(model)
    return model.eval()


def _timm_features(**kwargs) -> torch.nn.Module:
    torch.manual_seed(0)
    model = timm.create_model(
        'cspdarknet53',
        pretrained=False,
        features_only=True,
        out_indices=TIMM_OUT_INDICES,
        **kwargs)
    assert model.feature_info.reduction() == [8, 16, 32]
    return _randomize(model)


@pytest.fixture(scope='module')
def timm_features():
    return _timm_features()


@pytest.mark.parametrize(
    'timm_act, act_cfg',
    [
        ('leaky_relu', TIMM_COMPATIBLE['act_cfg']),
        ('mish', dict(type='Mish')),  # our default (YOLOv4) activation
    ])
def test_converted_weights_reproduce_timm_features(timm_act, act_cfg):
    timm_features = _timm_features(act_layer=timm_act)
    ours = CSPDarknet53(act_cfg=act_cfg, norm_cfg=TIMM_COMPATIBLE['norm_cfg'])
    ours.load_state_dict(
        convert_timm_cspdarknet53(timm_features.state_dict()), strict=True)
    ours.eval()
    x = torch.randn(1, 3, 64, 64, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        expected = timm_features(x)
        actual = ours(x)
    assert len(actual) == len(expected) == 3
    for a, e in zip(actual, expected):
        assert a.shape == e.shape
        torch.testing.assert_close(a, e, atol=1e-4, rtol=1e-4)


def test_parameter_count_matches_timm(timm_features):
    ours = CSPDarknet53()
    count = sum(p.numel() for p in ours.parameters())
    assert count == sum(p.numel() for p in timm_features.parameters())
    # Sanity anchor: CSPDarknet53 without classifier has ~26.6M parameters.
    assert 26e6 < count < 27e6


def test_converts_classification_model_and_drops_head():
    model = timm.create_model('cspdarknet53', pretrained=False, num_classes=7)
    timm_state = model.state_dict()
    assert any(k.startswith('head.') for k in timm_state)
    converted = convert_timm_cspdarknet53(timm_state)
    assert not any(k.startswith('head.') for k in converted)
    ours = CSPDarknet53(**TIMM_COMPATIBLE)
    ours.load_state_dict(converted, strict=True)
    key = 'stages.2.blocks.3.conv2.conv.weight'
    assert torch.equal(ours.state_dict()[key], timm_state[key])


def test_unmatched_keys_raise_and_are_listed(timm_features):
    state = dict(timm_features.state_dict())
    state['neck.conv.weight'] = torch.zeros(1)
    state['stem_conv2.conv.weight'] = torch.zeros(1)
    with pytest.raises(ValueError, match='2 keys') as info:
        convert_timm_cspdarknet53(state)
    assert 'neck.conv.weight' in str(info.value)
    assert 'stem_conv2.conv.weight' in str(info.value)
    with pytest.raises(ValueError, match='no cspdarknet53'):
        convert_timm_cspdarknet53({'head.fc.weight': torch.zeros(1)})


def test_cli_output_loads_through_pretrained_init_cfg(timm_features, tmp_path):
    tool = _load_tool()
    src, dst = tmp_path / 'timm.pth', tmp_path / 'converted.pth'
    torch.save({'state_dict': timm_features.state_dict()}, src)
    tool.main([str(src), str(dst)])

    saved = torch.load(dst, map_location='cpu', weights_only=True)
    assert set(saved) == {'state_dict'}
    model = CSPDarknet53(
        **TIMM_COMPATIBLE,
        init_cfg=dict(type='Pretrained', checkpoint=str(dst)))
    model.init_weights()
    expected = convert_timm_cspdarknet53(timm_features.state_dict())
    loaded = model.state_dict()
    assert set(loaded) == set(expected)
    for key, value in expected.items():
        assert torch.equal(loaded[key], value), key


def test_cli_reads_safetensors(timm_features, tmp_path):
    import safetensors.torch as safetensors_torch
    tool = _load_tool()
    src, dst = tmp_path / 'timm.safetensors', tmp_path / 'converted.pth'
    state = {k: v.contiguous() for k, v in timm_features.state_dict().items()}
    safetensors_torch.save_file(state, str(src))
    tool.main([str(src), str(dst)])
    saved = torch.load(dst, map_location='cpu', weights_only=True)
    torch.testing.assert_close(saved['state_dict'],
                               convert_timm_cspdarknet53(state))


def test_cli_rejects_bad_sources(tmp_path):
    tool = _load_tool()
    with pytest.raises(FileNotFoundError, match='missing.pth'):
        tool.load_timm_state_dict(str(tmp_path / 'missing.pth'))
    not_a_dict = tmp_path / 'list.pth'
    torch.save([torch.zeros(1)], not_a_dict)
    with pytest.raises(ValueError, match='list.pth.*not a state dict'):
        tool.load_timm_state_dict(str(not_a_dict))
    mixed = tmp_path / 'mixed.pth'
    torch.save({'stem.conv1.conv.weight': torch.zeros(1), 'epoch': 3}, mixed)
    with pytest.raises(ValueError, match=r"mixed.pth.*\['epoch'\]"):
        tool.load_timm_state_dict(str(mixed))


@pytest.mark.parametrize(
    'data, problem', [
        (b'\xff' * 16, 'header too large'),
        (b'', 'header too small'),
        (b'\x08\0\0\0\0\0\0\0{"a":1} ', 'invalid JSON in header'),
        (b'\x38\0\0\0\0\0\0\0{"w":{"dtype":"F32","shape":[4],'
         b'"data_offsets":[0,16]}} ' + b'\0' * 6, 'incomplete metadata'),
    ],
    ids=['huge-header', 'empty', 'not-json', 'truncated-data'])
def test_cli_names_an_unreadable_safetensors_file(tmp_path, data, problem):
    """Safetensors' own SafetensorError used to escape without the path."""
    tool = _load_tool()
    src = tmp_path / 'timm.safetensors'
    src.write_bytes(data)
    with pytest.raises(ValueError) as info:
        tool.main([str(src), str(tmp_path / 'converted.pth')])
    text = str(info.value)
    assert text.startswith(f'{src}: not a readable .safetensors file (')
    assert problem in text
    assert not (tmp_path / 'converted.pth').exists()


def test_cli_names_the_source_of_keys_it_cannot_convert(tmp_path):
    tool = _load_tool()
    src = tmp_path / 'resnet.pth'
    torch.save({'conv1.weight': torch.zeros(1)}, src)
    with pytest.raises(ValueError) as info:
        tool.main([str(src), str(tmp_path / 'converted.pth')])
    assert str(info.value) == (
        f'{src}: 1 keys of the timm state dict are not part of cspdarknet53: '
        "['conv1.weight']")
