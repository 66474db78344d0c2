"""Hooks."""
from .annotation_match_hook import AnnotationMatchHook
from .atomic_checkpoint_hook import AtomicCheckpointHook
from .branch_unfreeze_hook import BranchUnfreezeHook
from .checkpoint_fit_hook import CheckpointFitHook
from .main_process_logger_hook import MainProcessLoggerHook
from .num_class_check_hook import NumClassCheckHook
from .resume_validation_hook import ResumeValidationHook
from .work_dir_lock_hook import WorkDirLockedError, WorkDirLockHook

__all__ = [
    'AnnotationMatchHook', 'AtomicCheckpointHook', 'BranchUnfreezeHook',
    'CheckpointFitHook', 'MainProcessLoggerHook', 'NumClassCheckHook',
    'ResumeValidationHook', 'WorkDirLockHook', 'WorkDirLockedError'
]
