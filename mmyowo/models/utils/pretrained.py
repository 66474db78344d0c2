"""Loud, checked loading of pretrained weights into one module (a branch).

YOWO-Plus starts both branches from pretrained weights (paper §4.1): the 3D
branch from a Kinetics-400 recognizer, the 2D branch from ImageNet. A
checkpoint that silently fits nothing (wrong ``prefix``, wrong architecture,
a whole-recognizer checkpoint loaded without ``prefix``) would leave the
branch randomly initialised without anybody noticing, which is what
mmengine's ``PretrainedInit`` (``strict=False``) and mmaction's
``ResNet3d(pretrained=...)`` allow. :func:`load_pretrained` instead matches
the checkpoint against the module, logs what it loaded and refuses a
checkpoint that covers less than ``min_fraction`` of the module's parameter
tensors.
"""
import logging
from collections import Counter
from dataclasses import dataclass, field
from typing import Dict, List, Mapping, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
from mmengine.logging import MMLogger, print_log
from mmengine.model.weight_init import update_init_info
from mmengine.runner.checkpoint import CheckpointLoader

from mmyowo.utils.checkpoint import (CheckpointLoadError, compare_state_dicts,
                                     unwrap_state_dict)

#: Keys accepted in a ``dict(type='Pretrained', ...)`` branch config.
PRETRAINED_KEYS = ('type', 'checkpoint', 'prefix', 'map_location',
                   'min_fraction')
#: How many names of each kind the log and the errors list.
NUM_NAMES_SHOWN = 5

LoggerType = Union[str, logging.Logger, MMLogger]


@dataclass
class PretrainedReport:
    """What :func:`match_state_dict` found, by state-dict key.

    Attributes:
        loaded (list[str]): Keys present in both with equal shapes.
        missing (list[str]): Module keys absent from the checkpoint.
        unexpected (list[str]): Checkpoint keys the module does not have.
        mismatched (list[str]): Keys present in both with different shapes.
        num_tensors (int): Entries of the module's state dict (parameters
            and buffers, ``num_batches_tracked`` included).
        num_params (int): Parameter tensors of the module.
        num_params_loaded (int): Parameter tensors among ``loaded``.
    """

    loaded: List[str] = field(default_factory=list)
    missing: List[str] = field(default_factory=list)
    unexpected: List[str] = field(default_factory=list)
    mismatched: List[str] = field(default_factory=list)
    num_tensors: int = 0
    num_params: int = 0
    num_params_loaded: int = 0

    @property
    def param_fraction(self) -> float:
        """Fraction of the module's parameter tensors that load (1.0 for a
        module without parameters whose every buffer loads)."""
        if self.num_params:
            return self.num_params_loaded / self.num_params
        return float(
            len(self.loaded) == self.num_tensors and self.num_tensors > 0)

    def counts(self) -> str:
        """``'missing M, unexpected U, shape-mismatched S'``."""
        return (f'missing {len(self.missing)}, unexpected '
                f'{len(self.unexpected)}, shape-mismatched '
                f'{len(self.mismatched)}')


def _first(names: Sequence[str]) -> str:
    """The first names, and how many more, for messages."""
    shown = ', '.join(names[:NUM_NAMES_SHOWN])
    more = len(names) - NUM_NAMES_SHOWN
    return shown + (f', ... ({more} more)' if more > 0 else '')


def key_prefixes(keys: Sequence[str], depth: int = 1) -> List[str]:
    """The most common leading ``depth`` name components of ``keys``, e.g.
    ``['backbone.', 'cls_head.']`` (used in error messages as a hint for
    ``prefix``)."""
    counter = Counter('.'.join(k.split('.')[:depth]) + '.' for k in keys
                      if k.count('.') >= depth)
    return [p for p, _ in counter.most_common(NUM_NAMES_SHOWN)]


def read_checkpoint_state_dict(checkpoint: str,
                               map_location: Union[str, torch.device,
                                                   None] = 'cpu',
                               logger: LoggerType = 'current'
                               ) -> Dict[str, object]:
    """Read ``checkpoint`` and return its state dict.

    The file is read by mmengine's ``CheckpointLoader`` (local paths, URLs,
    ``torchvision://``, ``open-mmlab://`` ... prefixes), which mmyowo routes
    through :func:`mmyowo.utils.checkpoint.load_checkpoint_file`: the file is
    read as data (tensors, numeric arrays, plain containers), never
    unpickled with ``torch.load``, and URLs are downloaded into mmyowo's own
    cache. A ``state_dict`` or ``model`` entry is unwrapped (mmengine /
    model zoo / timm layouts); the DDP prefix ``module.`` is stripped from
    the keys that carry it.

    Args:
        checkpoint (str): Path or URL.
        map_location (str | torch.device, optional): As in ``torch.load``.
        logger (str | Logger): Where mmengine's loader logs the path.

    Returns:
        dict: Key to value (values are checked later, per selected key).

    Raises:
        FileNotFoundError: If a local ``checkpoint`` does not exist.
        ValueError: If the file cannot be read or holds no state dict; the
            message names the file.
    """
    try:
        content = CheckpointLoader.load_checkpoint(
            checkpoint, map_location=map_location, logger=logger)
    except FileNotFoundError as err:
        raise FileNotFoundError(
            f'pretrained checkpoint not found: {checkpoint}') from err
    except CheckpointLoadError as err:
        # A truncated, corrupt or non-torch file, one over a size limit or
        # one holding what checkpoints may not.
        raise ValueError(f'cannot read pretrained checkpoint {checkpoint}: '
                         f'{err}') from err
    return unwrap_state_dict(content, f'pretrained checkpoint {checkpoint}')


def select_prefix(state_dict: Mapping[str, object],
                  prefix: Optional[str]) -> Dict[str, object]:
    """The entries under ``prefix`` with the prefix removed (all entries for
    ``prefix=None``).

    A missing trailing dot is added, as mmengine does, so
    ``'backbone'`` selects ``backbone.*`` but not ``backbone_2d.*``.
    """
    if not prefix:
        return dict(state_dict)
    if not prefix.endswith('.'):
        prefix += '.'
    return {
        k[len(prefix):]: v
        for k, v in state_dict.items() if k.startswith(prefix)
    }


def match_state_dict(module: nn.Module,
                     state_dict: Mapping[str, object]) -> PretrainedReport:
    """Compare ``state_dict`` with ``module.state_dict()`` by name and shape.

    Args:
        module (nn.Module): The module to load into.
        state_dict (Mapping): Module-level keys (prefix already removed).

    Returns:
        PretrainedReport: The comparison; nothing is copied.
    """
    own = module.state_dict()
    param_names = {name for name, _ in module.named_parameters()}
    found = compare_state_dicts(own, state_dict)
    report = PretrainedReport(
        loaded=found['loaded'],
        missing=found['missing'],
        unexpected=found['unexpected'],
        mismatched=found['mismatched'],
        num_tensors=len(own),
        num_params=len(param_names))
    report.num_params_loaded = sum(k in param_names for k in report.loaded)
    return report


def load_pretrained(module: nn.Module,
                    checkpoint: str,
                    prefix: Optional[str] = None,
                    min_fraction: float = 0.5,
                    map_location: Union[str, torch.device, None] = 'cpu',
                    name: Optional[str] = None,
                    logger: LoggerType = 'current') -> PretrainedReport:
    """Load the matching tensors of ``checkpoint`` into ``module``, loudly.

    Steps: read the file (:func:`read_checkpoint_state_dict`), keep the keys
    under ``prefix`` (prefix removed; e.g. ``'backbone.'`` takes the backbone
    of an mmaction recognizer), compare with the module's state dict by name
    and shape (:func:`match_state_dict`) and copy the tensors that match.
    One INFO line reports ``loaded A/B tensors of NAME from FILE (missing M,
    unexpected U, shape-mismatched S)``; a WARNING line lists the first
    names of each non-empty kind.

    ``B`` counts every state-dict entry (buffers such as BN running
    statistics and ``num_batches_tracked`` included), but the threshold is
    on parameter tensors only, since buffers say little about whether the
    architecture fits.

    Args:
        module (nn.Module): Module to load into (modified in place).
        checkpoint (str): Path or URL of the checkpoint.
        prefix (str, optional): Key prefix of the module's weights inside
            the checkpoint. ``None`` uses every key.
        min_fraction (float): Smallest fraction (0, 1] of the module's
            parameter tensors that must load. Defaults to 0.5.
        map_location (str | torch.device, optional): As in ``torch.load``.
        name (str, optional): Name of the module in messages; defaults to
            its class name.
        logger (str | Logger): mmengine logger. Defaults to ``'current'``.

    Returns:
        PretrainedReport: What was loaded, missing, unexpected, mismatched.

    Raises:
        FileNotFoundError: If a local ``checkpoint`` does not exist.
        ValueError: If the file is unreadable, fits less than
            ``min_fraction`` of the parameter tensors (or none), or has NaN
            or infinite values in a tensor it would load; the module is then
            left unchanged. The message names the file (and the prefix and
            counts, or the keys).
    """
    if not 0.0 < min_fraction <= 1.0:
        raise ValueError(f'min_fraction must be in (0, 1], got {min_fraction}')
    name = name or type(module).__name__
    full = read_checkpoint_state_dict(checkpoint, map_location, logger)
    selected = select_prefix(full, prefix)
    report = match_state_dict(module, selected)
    fraction = report.param_fraction
    # min_fraction > 0, so this also refuses a checkpoint fitting nothing.
    if fraction < min_fraction:
        hint = ''
        if not selected:
            hint = (f'; no key starts with prefix {prefix!r}, the '
                    'checkpoint\'s keys start with '
                    f'{key_prefixes(list(full))}')
        elif report.unexpected:
            hint = (f'; the selected keys start with '
                    f'{key_prefixes(list(selected))}, the module\'s with '
                    f'{key_prefixes(list(module.state_dict()))}')
        raise ValueError(
            f'pretrained checkpoint {checkpoint} does not fit {name} '
            f'(prefix={prefix!r}): only {report.num_params_loaded} of its '
            f'{report.num_params} parameter tensors load ({fraction:.0%} < '
            f'min_fraction {min_fraction:.0%}; {report.counts()}){hint}. '
            'Check the checkpoint, the prefix and the architecture.')
    # A damaged or diverged checkpoint would otherwise only show as NaN
    # losses once training runs.
    # ``loaded`` holds tensors only (compare_state_dicts checks the type).
    loaded = [(k, selected[k]) for k in report.loaded]
    non_finite = [
        k for k, value in loaded if isinstance(value, torch.Tensor)
        and value.is_floating_point() and not torch.isfinite(value).all()
    ]
    if non_finite:
        raise ValueError(f'pretrained checkpoint {checkpoint} has NaN or '
                         f'infinite values in {_first(non_finite)}')

    module.load_state_dict({k: selected[k]
                            for k in report.loaded},
                           strict=False)
    outside = len(full) - len(selected)
    print_log(
        f'loaded {len(report.loaded)}/{report.num_tensors} tensors '
        f'({report.num_params_loaded}/{report.num_params} parameters) of '
        f'{name} from {checkpoint} ({report.counts()}; prefix={prefix!r}' +
        (f', {outside} keys outside it ignored' if outside else '') + ')',
        logger=logger,
        level=logging.INFO)
    details = [
        f'{kind}: {_first(keys)}'
        for kind, keys in (('missing', report.missing), ('unexpected',
                                                         report.unexpected),
                           ('shape-mismatched', report.mismatched)) if keys
    ]
    if details:
        print_log(
            f'{name}: not loaded from {checkpoint}: ' + '; '.join(details),
            logger=logger,
            level=logging.WARNING)
    if hasattr(module, '_params_init_info'):
        # Inside a top-level ``init_weights``: keep mmengine's per-parameter
        # initialisation record truthful, as its own PretrainedInit does.
        update_init_info(module, init_info=f'load_pretrained: {checkpoint}')
    return report


def pop_pretrained_cfg(cfg: Mapping, name: str) -> Tuple[dict, Optional[dict]]:
    """Take the pretrained-weights settings out of a branch config.

    Handled forms, so that no host code half-handles them:

    * ``init_cfg=dict(type='Pretrained', checkpoint=..., prefix=...,
      map_location=..., min_fraction=...)``, alone or in a list of init
      configs; the other entries of a list stay. A lone Pretrained
      ``init_cfg`` is removed, so the module builds with its default
      ``init_cfg`` (its random init before the load).
    * ``pretrained='FILE'`` of mmaction's 3D backbones (``ResNet3d`` and
      subclasses, which load it with ``strict=False`` and would silently
      load nothing from a recognizer checkpoint) with an explicit
      ``pretrained2d=False``: becomes ``pretrained=None`` plus
      ``dict(checkpoint='FILE', prefix=None)``, so a recognizer checkpoint
      fails loudly (asking for ``prefix='backbone.'``) instead. With
      ``pretrained2d`` true or unset (mmaction's default, inflation of 2D
      ImageNet weights) the config is left to the backbone.

    Args:
        cfg (Mapping): The branch config (not modified).
        name (str): Branch name, for error messages.

    Returns:
        tuple[dict, dict | None]: The config to build the branch from, and
        the keyword arguments for :func:`load_pretrained` (``None`` when the
        branch has no pretrained weights).

    Raises:
        ValueError: Two pretrained sources, or a Pretrained config without
            ``checkpoint`` or with unknown keys.
    """
    cfg = dict(cfg)
    found = []
    init_cfg = cfg.get('init_cfg')
    if init_cfg is not None:
        entries = [init_cfg] if isinstance(init_cfg, Mapping) else \
            list(init_cfg)
        others = [e for e in entries if not is_pretrained_cfg(e)]
        found = [dict(e) for e in entries if is_pretrained_cfg(e)]
        if not others:
            cfg.pop('init_cfg')
        elif found:
            cfg['init_cfg'] = others
    pretrained = cfg.get('pretrained')
    # Only where 3D weights are loaded as they are: ``pretrained2d=True``
    # (mmaction's default) inflates 2D weights, a mechanism of its own.
    if isinstance(pretrained, str) and cfg.get('pretrained2d') is False:
        found.append(dict(type='Pretrained', checkpoint=pretrained))
        cfg['pretrained'] = None
    if not found:
        return cfg, None
    if len(found) > 1:
        raise ValueError(f'{name} has {len(found)} pretrained checkpoints '
                         f'({[f.get("checkpoint") for f in found]}); give '
                         'one, as init_cfg=dict(type="Pretrained", ...)')
    (load_cfg, ) = found
    unknown = sorted(set(load_cfg) - set(PRETRAINED_KEYS))
    if unknown:
        raise ValueError(f'{name}: unknown keys {unknown} in its Pretrained '
                         f'init_cfg; allowed: {list(PRETRAINED_KEYS)}')
    if not load_cfg.get('checkpoint'):
        raise ValueError(f'{name}: the Pretrained init_cfg has no checkpoint')
    load_cfg.pop('type')
    return cfg, load_cfg


def is_pretrained_cfg(init_cfg: Mapping) -> bool:
    """Whether an init config loads a checkpoint (``type='Pretrained'``, or
    mmengine's ``PretrainedInit`` class itself)."""
    init_type = init_cfg.get('type')
    return init_type == 'Pretrained' or getattr(init_type, '__name__',
                                                None) == 'PretrainedInit'
