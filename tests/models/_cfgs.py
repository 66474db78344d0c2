"""Small model configs shared by the model tests (CPU-sized)."""
import copy
import os.path as osp

from mmengine.config import Config

BASE = osp.join(
    osp.dirname(__file__), '..', '..', 'configs', '_base_', 'models',
    'yowo_plus.py')


def small_yowo_cfg(num_classes: int = 3, with_3d: bool = True) -> dict:
    """The base YOWO-Plus config shrunk to a few hundred thousand parameters:
    CSPDarknet53 at 1/3 depth and 1/8 width, a ResNet3d-18 with 8 base channels
    (I3D inflation) and a narrow neck/head."""
    cfg = copy.deepcopy(Config.fromfile(BASE).model.to_dict())
    cfg['backbone_2d'].update(deepen_factor=0.33, widen_factor=0.125)
    cfg['backbone_3d'] = dict(
        type='ResNet3d',
        depth=18,
        base_channels=8,
        pretrained=None,
        pretrained2d=False,
        conv1_kernel=(3, 7, 7),
        conv1_stride_t=1,
        pool1_stride_t=1,
        inflate=(1, 1, 1, 1),
        norm_eval=False)
    cfg['neck_3d'] = dict(type='I3DNeck', in_channels=64, out_channels=64)
    cfg['neck'].update(
        in_channels_2d=(32, 64, 128),
        in_channels_3d=64,
        out_channels=(16, 32, 64))
    cfg['bbox_head']['head_module'].update(
        num_classes=num_classes, in_channels=(16, 32, 64), se_ratio=4)
    if not with_3d:
        cfg.pop('backbone_3d')
        cfg.pop('neck_3d')
        cfg['neck']['in_channels_3d'] = 0
    return cfg
