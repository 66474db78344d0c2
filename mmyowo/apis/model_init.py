"""Build a YOWO detector for inference from a config and a checkpoint."""
import copy
import warnings
from pathlib import Path
from typing import Mapping, Optional, Sequence, Union

import torch
import torch.nn as nn
from mmaction.registry import MODELS
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmengine.utils import import_modules_from_strings

from mmyowo.utils.checkpoint import CheckpointLoadError, load_model_checkpoint
from mmyowo.utils.dataset_meta import check_dataset_meta

#: Backends of :func:`init_detector`.
BACKENDS = ('pytorch', 'onnxruntime')


def init_detector(config: Union[str, Path, Config],
                  checkpoint: Optional[str] = None,
                  device: Union[str, torch.device] = 'cpu',
                  cfg_options: Optional[dict] = None,
                  backend: str = 'pytorch',
                  providers: Optional[Sequence[Union[str, tuple]]] = None
                  ) -> nn.Module:
    """Build a YOWO detector from a config and load a checkpoint, or an
    exported ONNX directory run by onnxruntime.

    The config may hold only ``model`` (like configs/_base_/models/
    yowo_plus.py). ``custom_imports`` are imported and ``default_scope``
    (default ``'mmaction'``) is set before building. The config is kept as
    ``model.cfg`` so that :class:`~mmyowo.apis.YOWOVideoDetector` derives
    its clip settings and preprocessing from the test pipeline
    (:mod:`.preprocessing`).

    Args:
        config (str | Path | Config): Config file or object (not modified).
        checkpoint (str, optional): ``backend='pytorch'``: checkpoint to
            load, safely and strictly
            (:func:`~mmyowo.utils.load_model_checkpoint`: every weight must
            fit); without one the weights are random (with a warning).
            ``backend='onnxruntime'``: the directory written by
            ``tools/deployment/export_onnx.py --out-dir`` (required).
        device (str | torch.device): Device of the model; ``'cpu'`` for
            onnxruntime, whose ``providers`` choose the hardware.
        cfg_options (dict, optional): Overrides merged into the config.
        backend (str): ``'pytorch'`` or ``'onnxruntime'``
            (:class:`mmyowo.deploy.ORTYOWO`: the exported graphs, with this
            config's preprocessing and post-processing; the graphs must fit
            the config's classes, strides and 3D branch, and the clip
            length and input size its test pipeline fixes).
        providers (sequence, optional): onnxruntime execution providers
            (default CPU); e.g. ``['CUDAExecutionProvider',
            'CPUExecutionProvider']``.

    Returns:
        nn.Module: The model in eval mode, with ``cfg`` and ``dataset_meta``
        (the checkpoint's ``meta['dataset_meta']`` or the export's, else
        ``None``) set.

    Raises:
        ValueError: Unknown backend, or onnxruntime without a directory or
            on another device than the CPU.
        mmyowo.deploy.ManifestError: The export does not fit the config.
        mmyowo.utils.CheckpointLoadError: The checkpoint cannot be loaded,
            or its ``meta`` / ``meta['dataset_meta']`` is not a dict or its
            class names are not a list of str, one per class of the model
            (:func:`checkpoint_dataset_meta`).
    """
    if backend not in BACKENDS:
        raise ValueError(f'backend must be one of {BACKENDS}, got '
                         f'{backend!r}')
    if backend == 'pytorch' and providers is not None:
        raise ValueError('providers apply to backend="onnxruntime" only')
    config = load_config(config, cfg_options)
    init_default_scope(config.get('default_scope', 'mmaction'))
    model = MODELS.build(config.model)
    if backend == 'onnxruntime':
        if checkpoint is None:
            raise ValueError('backend="onnxruntime" needs the exported '
                             'directory (tools/deployment/export_onnx.py '
                             '--out-dir) as checkpoint')
        if torch.device(device).type != 'cpu':
            raise ValueError(
                f'backend="onnxruntime" runs on device "cpu" (got '
                f'{device!r}): the execution providers choose the '
                "hardware, e.g. providers=['CUDAExecutionProvider', "
                "'CPUExecutionProvider']")
        # Imported here: deploy builds on apis (preprocessing), and
        # onnxruntime is needed only by this backend.
        from mmyowo.deploy.onnx_backend import ORTYOWO

        # The config's model gives the head (anchors, strides, test_cfg:
        # the post-processing) and the data preprocessor; its random
        # weights are dropped, the graphs hold the trained ones.
        return ORTYOWO(
            str(checkpoint),
            model.bbox_head,
            model.data_preprocessor,
            model.with_3d,
            cfg=config,
            providers=providers).eval()
    dataset_meta = None
    if checkpoint is None:
        warnings.warn('init_detector: no checkpoint given, the weights are '
                      'random')
    else:
        ckpt = load_model_checkpoint(model, checkpoint)
        dataset_meta = checkpoint_dataset_meta(ckpt, checkpoint,
                                               model_num_classes(model))
    model.cfg = config
    model.dataset_meta = dataset_meta
    model.to(device)
    model.eval()
    return model


def model_num_classes(model: nn.Module) -> Optional[int]:
    """The number of classes of a detector's head, ``None`` if it has none."""
    num_classes = getattr(
        getattr(model, 'bbox_head', None), 'num_classes', None)
    return num_classes if isinstance(num_classes, int) else None


def checkpoint_dataset_meta(checkpoint: Mapping,
                            filename: str,
                            num_classes: Optional[int] = None
                            ) -> Optional[dict]:
    """A loaded checkpoint's ``meta['dataset_meta']``, checked
    (:func:`check_dataset_meta`); ``None`` if it has none.

    Raises:
        CheckpointLoadError: Naming ``filename``, if ``meta`` is not a dict
            or ``dataset_meta`` is refused.
    """
    meta = checkpoint.get('meta')
    if meta is None:
        return None
    if not isinstance(meta, dict):
        raise CheckpointLoadError(f'{filename}: meta must be a dict, got a '
                                  f'{type(meta).__name__}')
    return check_dataset_meta(
        meta.get('dataset_meta'),
        filename,
        num_classes,
        what='meta.dataset_meta')


def load_config(config: Union[str, Path, Config],
                cfg_options: Optional[dict] = None) -> Config:
    """The config (a copy when given as an object, its ``custom_imports``
    imported) with ``cfg_options`` merged.

    Raises:
        TypeError: ``config`` is neither a path nor a Config.
        KeyError: The config has no ``model``.
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
    return config
