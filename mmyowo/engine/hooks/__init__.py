"""Hooks."""
from .branch_unfreeze_hook import BranchUnfreezeHook

__all__ = ['BranchUnfreezeHook']
