"""Test harness: mmaction's ``train.py`` / ``test.py`` under ``torchrun`` on
a machine without CUDA.

``mim train mmaction CONFIG --launcher pytorch`` runs mmaction's
``.mim/tools/train.py`` under ``torch.distributed``'s launcher; this script
stands in for that ``train.py`` (or ``test.py``) with two test-only changes:

* Without CUDA, ``torch.cuda.set_device`` becomes a no-op: mmengine's
  pytorch launcher calls it unconditionally (``_init_dist_pytorch``) and it
  raises on a CPU-only machine, whatever the backend. The gloo backend needs
  no device.
* It registers ``DumpRankWeightsHook``, which saves every rank's final
  weights to ``{work_dir}/rank{rank}_weights.pth`` so that a test can compare
  the ranks.

The model must also be wrapped without ``device_ids`` on the CPU
(``--cfg-options model_wrapper_cfg.device_ids=None``; mmengine passes
``[LOCAL_RANK]``, which torch's DDP accepts for CUDA modules only) and the
backend be gloo (``env_cfg.dist_cfg.backend=gloo``).

Usage::

    python -m torch.distributed.run --standalone --nproc_per_node 2 \\
        tests/_ddp_harness.py {train,test} CONFIG [ARGS of train.py/test.py]
"""
import os.path as osp
import runpy
import sys

import mmaction
import torch
from mmaction.registry import HOOKS
from mmengine.dist import get_rank
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper


@HOOKS.register_module()
class DumpRankWeightsHook(Hook):
    """Save this rank's model state dict after training (test harness)."""

    priority = 'LOWEST'

    def after_train(self, runner) -> None:
        model = runner.model.module if is_model_wrapper(runner.model) \
            else runner.model
        state = {
            k: v.detach().cpu().clone()
            for k, v in model.state_dict().items()
        }
        torch.save(state,
                   osp.join(runner.work_dir, f'rank{get_rank()}_weights.pth'))


def main() -> None:
    if len(sys.argv) < 2 or sys.argv[1] not in ('train', 'test'):
        sys.exit(f'usage: {sys.argv[0]} {{train,test}} CONFIG [ARGS]')
    script = osp.join(
        osp.dirname(mmaction.__file__), '.mim', 'tools', f'{sys.argv[1]}.py')
    if not torch.cuda.is_available():
        torch.cuda.set_device = lambda device: None
    sys.argv = [script] + sys.argv[2:]
    runpy.run_path(script, run_name='__main__')


if __name__ == '__main__':
    main()
