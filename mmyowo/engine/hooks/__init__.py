"""Hooks."""
from .atomic_checkpoint_hook import AtomicCheckpointHook
from .branch_unfreeze_hook import BranchUnfreezeHook
from .checkpoint_fit_hook import CheckpointFitHook

__all__ = ['AtomicCheckpointHook', 'BranchUnfreezeHook', 'CheckpointFitHook']
