"""Run on ``--resume`` the validation that a killed training did not finish."""
import bisect
import json
import os.path as osp
import secrets
from typing import Optional

from mmaction.registry import HOOKS
from mmengine.dist import (broadcast_object_list, get_world_size,
                           is_main_process)
from mmengine.hooks import Hook
from mmengine.runner import BaseLoop, EpochBasedTrainLoop, IterBasedTrainLoop

from mmyowo.utils.atomic_io import atomic_write_text, load_json

#: Key of the checkpoint's ``meta`` naming the validation that follows it.
META_KEY = 'pending_validation'
#: File in the work dir naming the last validation that completed.
MARKER = 'last_validation'


def validation_due(runner, step: int) -> bool:
    """Whether the train loop validates once it has completed ``step`` epochs
    (epoch-based) or iterations (iteration-based).

    The condition of ``EpochBasedTrainLoop.run`` / ``IterBasedTrainLoop.run``
    in mmengine 0.10.7, with their ``dynamic_intervals``.

    Args:
        runner (Runner): The runner, its train loop built.
        step (int): Completed epochs or iterations.
    """
    loop = runner.train_loop
    if runner.val_loop is None or step < loop.val_begin:
        return False
    interval = loop.val_interval
    milestones = getattr(loop, 'dynamic_milestones', None)
    intervals = getattr(loop, 'dynamic_intervals', None)
    if milestones and intervals:
        # As the loop's _decide_current_val_interval, after its increment.
        interval = intervals[bisect.bisect(milestones, step + 1) - 1]
    last = loop.max_epochs if isinstance(
        loop, EpochBasedTrainLoop) else loop.max_iters
    return step % interval == 0 or step == last


@HOOKS.register_module()
class ResumeValidationHook(Hook):
    """Validate, on ``--resume``, where the previous run stopped before its
    validation completed.

    mmengine's train loops save the checkpoint of an epoch (``after_train_
    epoch``) before validating it. A training killed during that validation
    resumes at the next epoch: the validation, and the best checkpoint it
    may save, never happen; after the last epoch, ``--resume`` finds
    nothing left to do and ends at once, reporting success with no
    validation and no best checkpoint.

    This hook makes the validation part of the resumable state:

    * a checkpoint saved by the train loop right before a validation (end
      of an epoch, or of an iteration for ``IterBasedTrainLoop``, where the
      loop then validates) gets a random token in its ``meta``
      (``meta['pending_validation']``);
    * when that validation completes (after ``CheckpointHook`` saved a best
      checkpoint), the main process writes the token to
      ``<work_dir>/last_validation``;
    * resuming from a checkpoint whose token is not there runs the
      validation first (``before_train``, after the other hooks' set-up),
      then training goes on as usual.

    A validation that completed is not repeated; fine-tuning (``load_from``
    without resume) ignores the token, since training restarts at epoch 0.

    Checkpoints written by older versions carry no token: they resume as
    before.
    """
    # After CheckpointHook (VERY_LOW): its before_train sets up best
    # checkpoint saving, and the marker is written once the best checkpoint
    # of the validation is saved.
    priority = 'LOWEST'

    def __init__(self) -> None:
        self._training = False
        self._validating = False
        # Token of the validation the train loop is about to run or runs.
        self._pending: Optional[str] = None
        self._pending_step = -1
        # From the checkpoint loaded on resume: (token, epoch, iter).
        self._resumed: Optional[tuple] = None

    def before_train(self, runner) -> None:
        """Run the validation the resumed checkpoint was saved before, if it
        did not complete.

        Args:
            runner (Runner): The runner.
        """
        self._training = True
        resumed, self._resumed = self._resumed, None
        if resumed is None:
            return
        token, epoch, step = resumed
        if (runner.epoch, runner.iter) != (epoch, step):
            return  # loaded, not resumed (fine-tuning from load_from)
        completed = None
        if is_main_process():
            completed = self._read_marker(runner) == token
        if get_world_size() > 1:
            shared = [completed]
            broadcast_object_list(shared)
            completed = shared[0]
        if completed or runner.val_loop is None:
            return
        where = f'epoch {epoch}' if isinstance(
            runner.train_loop, EpochBasedTrainLoop) else f'iteration {step}'
        runner.logger.warning(
            f'The validation after {where} did not complete before the '
            'previous run stopped; running it now')
        self._pending = token
        runner.val_loop.run()

    def after_train(self, runner) -> None:
        """Training is over.

        Args:
            runner (Runner): The runner.
        """
        self._training = False

    def before_val(self, runner) -> None:
        """Note that a validation runs (its best checkpoints are not the train
        loop's).

        Args:
            runner (Runner): The runner.
        """
        self._validating = True

    def after_val(self, runner) -> None:
        """Record that the pending validation completed.

        Args:
            runner (Runner): The runner.
        """
        self._validating = False
        token, self._pending = self._pending, None
        if token is not None and is_main_process():
            atomic_write_text(
                json.dumps(
                    dict(token=token, epoch=runner.epoch, iter=runner.iter)) +
                '\n', osp.join(runner.work_dir, MARKER))

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        """Give a checkpoint that a validation follows its token.

        Args:
            runner (Runner): The runner.
            checkpoint (dict): The checkpoint about to be saved.
        """
        if not self._training or self._validating:
            return
        loop = runner.train_loop
        meta = checkpoint.get('meta', {})
        # Runner.save_checkpoint counts the step being completed: epoch + 1
        # (by_epoch) or iter + 1; other saves are not followed by the
        # loop's validation check.
        if isinstance(loop, EpochBasedTrainLoop):
            step = runner.epoch + 1
            at_check = meta.get('epoch') == step
        elif isinstance(loop, IterBasedTrainLoop):
            step = runner.iter + 1
            at_check = meta.get('iter') == step
        else:
            return
        if at_check and validation_due(runner, step):
            # Several saves of one step (e.g. two checkpoint hooks) share
            # the validation that follows them.
            if self._pending is None or self._pending_step != step:
                self._pending = secrets.token_hex(8)
                self._pending_step = step
            meta[META_KEY] = self._pending

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        """Keep the token of a loaded checkpoint for ``before_train``.

        Args:
            runner (Runner): The runner.
            checkpoint (dict): The loaded checkpoint.
        """
        meta = checkpoint.get('meta')
        if not isinstance(meta, dict):
            # load_from takes any checkpoint (converted weights, other
            # tools'): without a dict there is no token to resume.
            return
        token = meta.get(META_KEY)
        if isinstance(token, str) and isinstance(
                getattr(runner, '_train_loop', None), BaseLoop):
            self._resumed = (token, meta.get('epoch'), meta.get('iter'))

    @staticmethod
    def _read_marker(runner) -> Optional[str]:
        """The token of the last completed validation, if any."""
        path = osp.join(runner.work_dir, MARKER)
        if not osp.isfile(path):
            return None
        try:
            marker = load_json(path, ValueError)
        except ValueError:
            return None  # unreadable: validate again, which is safe
        token = marker.get('token') if isinstance(marker, dict) else None
        return token if isinstance(token, str) else None
