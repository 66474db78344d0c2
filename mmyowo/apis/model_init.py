"""Build a YOWO detector for inference from a config and a checkpoint."""
import copy
import warnings
from pathlib import Path
from typing import Optional, Union

import torch
import torch.nn as nn
from mmaction.registry import MODELS
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmengine.utils import import_modules_from_strings

from mmyowo.utils.checkpoint import load_model_checkpoint


def init_detector(config: Union[str, Path, Config],
                  checkpoint: Optional[str] = None,
                  device: Union[str, torch.device] = 'cpu',
                  cfg_options: Optional[dict] = None) -> nn.Module:
    """Build a YOWO detector from a config and load a checkpoint.

    The config may hold only ``model`` (like configs/_base_/models/
    yowo_plus.py). ``custom_imports`` are imported and ``default_scope``
    (default ``'mmaction'``) is set before building. The config is kept as
    ``model.cfg`` so that :class:`~mmyowo.apis.YOWOVideoDetector` derives
    its clip settings and preprocessing from the test pipeline
    (:mod:`.preprocessing`).

    Args:
        config (str | Path | Config): Config file or object (not modified).
        checkpoint (str, optional): Checkpoint to load, safely and strictly
            (:func:`~mmyowo.utils.load_model_checkpoint`: every weight must
            fit). Without one the weights are random (with a warning).
        device (str | torch.device): Device of the model.
        cfg_options (dict, optional): Overrides merged into the config.

    Returns:
        nn.Module: The model in eval mode, with ``cfg`` and ``dataset_meta``
        (the checkpoint's ``meta['dataset_meta']``, else ``None``) set.
    """
    if isinstance(config, (str, Path)):
        config = Config.fromfile(str(config))
    elif isinstance(config, Config):
        config = copy.deepcopy(config)
        if config.get('custom_imports'):
            import_modules_from_strings(**config['custom_imports'])
    else:
        raise TypeError('config must be a file path or a Config, got '
                        f'{type(config).__name__}')
    if cfg_options:
        config.merge_from_dict(cfg_options)
    if 'model' not in config:
        raise KeyError(f'{config.filename or "config"}: no "model" field')
    init_default_scope(config.get('default_scope', 'mmaction'))
    model = MODELS.build(config.model)
    dataset_meta = None
    if checkpoint is None:
        warnings.warn('init_detector: no checkpoint given, the weights are '
                      'random')
    else:
        ckpt = load_model_checkpoint(model, checkpoint)
        dataset_meta = (ckpt.get('meta') or {}).get('dataset_meta')
    model.cfg = config
    model.dataset_meta = dataset_meta
    model.to(device)
    model.eval()
    return model
