default_scope = 'mmaction'
custom_imports = dict(imports=['mmyowo'], allow_failed_imports=False)

default_hooks = dict(
    runtime_info=dict(type='RuntimeInfoHook'),
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=20, ignore_last=False),
    param_scheduler=dict(type='ParamSchedulerHook'),
    # CheckpointHook with atomic writes and a checked auto-resume pointer:
    # a kill at any moment leaves complete checkpoints only.
    checkpoint=dict(type='AtomicCheckpointHook', interval=1,
                    max_keep_ckpts=3, save_best='auto'),
    sampler_seed=dict(type='DistSamplerSeedHook'),
    sync_buffers=dict(type='SyncBuffersHook'),
    # mim test / --resume refuse checkpoints that do not fit the model
    # (mmengine alone loads them with strict=False and keeps random weights).
    checkpoint_fit=dict(type='CheckpointFitHook'))

env_cfg = dict(
    cudnn_benchmark=False,
    mp_cfg=dict(mp_start_method='fork', opencv_num_threads=0),
    dist_cfg=dict(backend='nccl'))

# Frozen branches run without autograd (see YOWO), so DDP must tolerate
# parameters that get no gradient in an iteration.
model_wrapper_cfg = dict(type='MMDistributedDataParallel',
                         find_unused_parameters=True)

log_processor = dict(type='LogProcessor', window_size=20, by_epoch=True)
vis_backends = [dict(type='LocalVisBackend')]
visualizer = dict(type='ActionVisualizer', vis_backends=vis_backends)
log_level = 'INFO'
load_from = None
resume = False
