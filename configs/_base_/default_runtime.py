# mmaction2's runtime plus what mmyowo needs on top of it: the plugin import,
# a logger hook safe under several processes, crash-safe checkpoints, the
# checkpoint fit, class-count and annotation-file checks, the work-dir lock,
# the validation of resumed runs and DDP settings for frozen branches.
# Everything else (env, logging, visualizer) is mmaction's own
# default_runtime.py.
_base_ = 'mmaction::_base_/default_runtime.py'

custom_imports = dict(imports=['mmyowo'], allow_failed_imports=False)

default_hooks = dict(
    # LoggerHook whose test-metrics JSON only the main process writes,
    # atomically: under --launcher pytorch mmengine's writes it from every
    # rank into the same file, which can come out corrupt.
    logger=dict(type='MainProcessLoggerHook'),
    # CheckpointHook with atomic writes and a checked auto-resume pointer:
    # a kill at any moment leaves complete checkpoints only.
    checkpoint=dict(type='AtomicCheckpointHook', max_keep_ckpts=3),
    # mim test / --resume refuse checkpoints that do not fit the model
    # (mmengine alone loads them with strict=False and keeps random weights),
    # or whose classes are not the annotation file's, in order.
    checkpoint_fit=dict(type='CheckpointFitHook'),
    # Training / testing on an annotation file with another number of
    # classes than the model's stops before the first iteration.
    num_class_check=dict(type='NumClassCheckHook'),
    # Validation / testing whose evaluator names another annotation file
    # than its dataloader stops before the first sample.
    annotation_match=dict(type='AnnotationMatchHook'),
    # A second training in a work dir in use stops before touching it.
    work_dir_lock=dict(type='WorkDirLockHook'),
    # --resume runs the validation a killed training did not finish.
    resume_validation=dict(type='ResumeValidationHook'))

# Frozen branches run without autograd (see YOWO), so DDP must tolerate
# parameters that get no gradient in an iteration.
model_wrapper_cfg = dict(
    type='MMDistributedDataParallel', find_unused_parameters=True)
