"""Hooks."""
from .atomic_checkpoint_hook import AtomicCheckpointHook
from .branch_unfreeze_hook import BranchUnfreezeHook
from .checkpoint_fit_hook import CheckpointFitHook
from .num_class_check_hook import NumClassCheckHook

__all__ = [
    'AtomicCheckpointHook', 'BranchUnfreezeHook', 'CheckpointFitHook',
    'NumClassCheckHook'
]
