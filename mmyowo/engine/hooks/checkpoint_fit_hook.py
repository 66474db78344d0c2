"""Refuse checkpoints whose weights do not fit the model being tested."""
from typing import Any, List, Optional, Sequence

from mmaction.registry import HOOKS
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmengine.runner import BaseLoop, find_latest_checkpoint

from mmyowo.utils.checkpoint import (CheckpointMismatchError,
                                     compare_state_dicts, describe_mismatch,
                                     unwrap_state_dict)
from .num_class_check_hook import PHASES, dataset_classes, dataset_source


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

    It also compares the classes the checkpoint was trained on (its
    ``meta['dataset_meta']['classes']``, which mmengine saves from the
    training dataset) with those of every dataset of the run, in order. The
    model's ``i``-th class output means the checkpoint's ``i``-th class; an
    annotation file listing the same number of classes in another order (or
    other classes) had every score reported, and every AP computed, under
    another class's name. Testing, validating or resuming on such a file is
    an error naming both orders; fine-tuning only warns, since training on
    other classes from such weights is what fine-tuning is for. Checkpoints
    without ``dataset_meta`` (converted weights) are not compared.

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
            self._check_classes(runner, checkpoint, filename, fine_tuning)
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
    def _check_classes(runner, checkpoint: Any, filename: str,
                       fine_tuning: bool) -> None:
        """Compare the checkpoint's training classes with the datasets'."""
        meta = checkpoint.get('meta') if isinstance(checkpoint, dict) else None
        dataset_meta = meta.get('dataset_meta') if isinstance(meta,
                                                              dict) else None
        trained = dataset_meta.get('classes') if isinstance(
            dataset_meta, dict) else None
        if trained is None:
            return
        trained = [str(c) for c in trained]
        for phase in PHASES:
            loop = getattr(runner, f'_{phase}_loop', None)
            if not isinstance(loop, BaseLoop):
                continue  # not part of this run
            dataset = loop.dataloader.dataset
            classes = dataset_classes(dataset)
            if classes is None or [str(c) for c in classes] == trained:
                continue
            classes = [str(c) for c in classes]
            source = dataset_source(dataset)
            how = ('lists them in another order' if sorted(classes)
                   == sorted(trained) else 'has other classes')
            message = (
                f'{filename} was trained on the classes '
                f'{_show(trained)} but {source} (the {phase} dataset) {how}: '
                f'{_show(classes)}; {_first_difference(trained, classes)}')
            if fine_tuning:
                runner.logger.warning(
                    f'fine-tuning: {message}. The class outputs start from '
                    'the weights of the checkpoint\'s classes at the same '
                    'positions.')
                continue
            raise CheckpointMismatchError(
                f'{message}. The model\'s score for each class would be '
                'reported, and evaluated, under the name at its position in '
                'the file. Test on an annotation file with the checkpoint\'s '
                'classes in its order, or use the checkpoint trained for '
                'this file.')

    @staticmethod
    def _filename(runner) -> str:
        """The checkpoint the runner loads, for messages."""
        name: Optional[str] = runner._load_from
        if name is None and runner._resume:
            name = find_latest_checkpoint(runner.work_dir)
        return str(name or 'the checkpoint')


def _show(classes: Sequence[str], limit: int = 8) -> str:
    """``(a, b, c, ...)`` with at most ``limit`` names."""
    shown = ', '.join(classes[:limit])
    more = f', ... ({len(classes)} in all)' if len(classes) > limit else ''
    return f'({shown}{more})'


def _first_difference(trained: List[str], classes: List[str]) -> str:
    """Where two class lists first differ, for messages."""
    for i, (a, b) in enumerate(zip(trained, classes)):
        if a != b:
            return (f'class {i} is {a!r} in the checkpoint and {b!r} in '
                    'the file')
    return (f'the checkpoint has {len(trained)} classes and the file '
            f'{len(classes)}')
