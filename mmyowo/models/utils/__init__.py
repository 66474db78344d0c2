"""Model utilities: checked pretrained loading, init-config helpers and
per-branch input normalisation."""
from .init_cfg import InitCfgModule, non_pretrained_init_cfgs, reapply_init_cfg
from .pretrained import (PretrainedReport, is_pretrained_cfg, load_pretrained,
                         match_state_dict, pop_pretrained_cfg,
                         read_checkpoint_state_dict, select_prefix)
from .renormalize import Renormalize

__all__ = [
    'InitCfgModule', 'PretrainedReport', 'is_pretrained_cfg',
    'load_pretrained', 'match_state_dict', 'non_pretrained_init_cfgs',
    'pop_pretrained_cfg', 'read_checkpoint_state_dict', 'reapply_init_cfg',
    'Renormalize', 'select_prefix'
]
