"""Staged unfreezing of the YOWO branches (paper §4.1)."""
from typing import Dict, Optional

from mmaction.registry import HOOKS
from mmengine.hooks import Hook
from mmengine.logging import print_log
from mmengine.model import is_model_wrapper


@HOOKS.register_module()
class BranchUnfreezeHook(Hook):
    """Keep YOWO branches frozen until given epochs.

    §4.1: "We freeze 2D and 3D network at the beginning of training, unfreeze
    the 3D network in the 10th epoch, and unfreeze the 2D network in the 25th
    epoch" (JHMDB-21; 5th and 15th on UCF101-24). With
    ``unfreeze_epochs=dict(backbone_3d=10, backbone_2d=25)`` a branch is
    frozen during the (1-based) epochs before the given one, i.e. while
    ``runner.epoch < epoch - 1``. The state is recomputed before every epoch,
    so it is right after ``--resume`` too.

    Args:
        unfreeze_epochs (dict): Branch name -> 1-based epoch from which it
            trains. Branches of the model not listed are never frozen.
    """

    priority = 'NORMAL'

    def __init__(self, unfreeze_epochs: Dict[str, int]) -> None:
        for name, epoch in unfreeze_epochs.items():
            if not isinstance(epoch, int) or epoch < 1:
                raise ValueError(f'unfreeze epoch of {name} must be an int '
                                 f'>= 1, got {epoch!r}')
        self.unfreeze_epochs = dict(unfreeze_epochs)
        self._state: Optional[frozenset] = None

    def frozen_at(self, epoch: int) -> frozenset:
        """Branches frozen during 0-based ``epoch``."""
        return frozenset(name for name, start in self.unfreeze_epochs.items()
                         if epoch < start - 1)

    def before_train_epoch(self, runner) -> None:
        """Freeze the branches of this epoch's stage (logged on change)."""
        model = runner.model.module if is_model_wrapper(runner.model) \
            else runner.model
        frozen = self.frozen_at(runner.epoch)
        if frozen != self._state:
            model.freeze_branches(frozen)
            print_log(
                f'epoch {runner.epoch + 1}: frozen branches = '
                f'{sorted(frozen) or "none"}',
                logger='current')
            self._state = frozen
