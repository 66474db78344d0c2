# mmaction2's runtime plus what mmyowo needs on top of it: the plugin import,
# crash-safe checkpoints, the checkpoint fit and class-count checks and DDP
# settings for frozen branches. Everything else (hooks, env, logging,
# visualizer) is mmaction's own default_runtime.py.
_base_ = 'mmaction::_base_/default_runtime.py'

custom_imports = dict(imports=['mmyowo'], allow_failed_imports=False)

default_hooks = dict(
    # CheckpointHook with atomic writes and a checked auto-resume pointer:
    # a kill at any moment leaves complete checkpoints only.
    checkpoint=dict(type='AtomicCheckpointHook', max_keep_ckpts=3),
    # mim test / --resume refuse checkpoints that do not fit the model
    # (mmengine alone loads them with strict=False and keeps random weights).
    checkpoint_fit=dict(type='CheckpointFitHook'),
    # Training / testing on an annotation file with another number of
    # classes than the model's stops before the first iteration.
    num_class_check=dict(type='NumClassCheckHook'))

# Frozen branches run without autograd (see YOWO), so DDP must tolerate
# parameters that get no gradient in an iteration.
model_wrapper_cfg = dict(
    type='MMDistributedDataParallel', find_unused_parameters=True)
