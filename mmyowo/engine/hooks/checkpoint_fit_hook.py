"""Refuse checkpoints whose weights do not fit the model being tested."""
from typing import Optional

from mmaction.registry import HOOKS
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmengine.runner import BaseLoop, find_latest_checkpoint

from mmyowo.utils.checkpoint import (CheckpointMismatchError,
                                     compare_state_dicts, describe_mismatch,
                                     unwrap_state_dict)


@HOOKS.register_module()
class CheckpointFitHook(Hook):
    """Check that a loaded checkpoint fits the model before it is used.

    mmengine's runner loads ``load_from`` (``mim test --checkpoint``) and
    ``--resume`` checkpoints with ``strict=False``: weights of another
    shape (e.g. a checkpoint trained for another number of classes) are
    only logged and the model keeps random ones, so testing "succeeds" with
    a wrong number. The runner calls ``after_load_checkpoint`` before it
    copies the weights; this hook compares them with the model there:

    * testing / validating (no training loop) and resuming: every model
      tensor must be in the checkpoint with its shape, and nothing else may
      be; otherwise :class:`~mmyowo.utils.CheckpointMismatchError` names the
      file and what does not fit;
    * fine-tuning (``load_from`` while training, not resuming): partial
      loading is allowed on purpose (e.g. a new class head), and is logged
      with its counts; a checkpoint of which fewer than ``min_fit`` of the
      model's tensors fit is an error, since it is another model.

    Args:
        min_fit: Least fraction of the model's tensors a fine-tuning
            checkpoint must provide.
    """
    priority = 'VERY_HIGH'

    def __init__(self, min_fit: float = 0.5) -> None:
        if not 0.0 <= min_fit <= 1.0:
            raise ValueError(f'min_fit must be in [0, 1], got {min_fit}')
        self.min_fit = min_fit

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        """Raise (or log, when fine-tuning) what does not fit."""
        model = runner.model.module if is_model_wrapper(
            runner.model) else runner.model
        filename = self._filename(runner)
        expected = model.state_dict()
        report = compare_state_dicts(expected,
                                     unwrap_state_dict(checkpoint, filename))
        fits = not (report['missing'] or report['unexpected']
                    or report['mismatched'])
        fine_tuning = isinstance(runner._train_loop,
                                 BaseLoop) and not runner._resume
        if fits:
            runner.logger.info(f'{filename}: all {len(expected)} model '
                               'tensors found in the checkpoint')
            return
        message = f'{filename}: {describe_mismatch(report)}'
        if not fine_tuning:
            raise CheckpointMismatchError(
                f'{message}. The checkpoint does not fit the model of this '
                'config (another number of classes, widths or branches?); '
                'testing or resuming with it would use random weights.')
        if len(report['loaded']) < self.min_fit * len(expected):
            raise CheckpointMismatchError(
                f'{message}. Fewer than {self.min_fit:.0%} of the model\'s '
                'tensors fit: it is a checkpoint of another model.')
        runner.logger.warning(f'fine-tuning from {message}; the rest keep '
                              'their initialisation')

    @staticmethod
    def _filename(runner) -> str:
        """The checkpoint the runner loads, for messages."""
        name: Optional[str] = runner._load_from
        if name is None and runner._resume:
            name = find_latest_checkpoint(runner.work_dir)
        return str(name or 'the checkpoint')
