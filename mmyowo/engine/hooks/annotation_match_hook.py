"""Refuse evaluators that score against another annotation file than the
dataloader reads."""
import filecmp
import os.path as osp
from typing import Any, Optional

from mmaction.registry import HOOKS
from mmengine.hooks import Hook
from mmengine.runner import BaseLoop

PHASES = ('val', 'test')


def dataset_ann_file(dataset: Any) -> Optional[str]:
    """The annotation file a dataset reads (through wrappers such as
    ``RepeatDataset``), ``None`` if it names none or several."""
    while dataset is not None:
        ann_file = getattr(dataset, 'ann_file', None)
        if ann_file:
            return str(ann_file)
        if hasattr(dataset, 'datasets'):
            return None  # ConcatDataset: several files
        dataset = getattr(dataset, 'dataset', None)
    return None


def same_annotations(first: str, second: str) -> bool:
    """Whether two annotation paths name the same file, or files of the same
    bytes (a copy); paths that are not local files count as the same, since
    they cannot be compared here."""
    if osp.realpath(first) == osp.realpath(second):
        return True
    if not (osp.isfile(first) and osp.isfile(second)):
        return True
    return filecmp.cmp(first, second, shallow=False)


@HOOKS.register_module()
class AnnotationMatchHook(Hook):
    """Check, before anything runs, that each evaluator scores against the
    annotation file its dataloader reads.

    The validation / test dataloader and evaluator name their annotation
    files separately (``val_dataloader.dataset.ann_file`` and
    ``val_evaluator.ann_file``, the same for ``test_``). When they differ,
    the predictions made on one file's videos were scored against the other
    file's ground truth: ``mim test`` printed a wrong frame-mAP and exited
    0 (or, for videos absent from the other file, failed after the whole
    test pass).

    This hook runs in ``before_run``, after the runner has built the loops
    of the run and before any checkpoint is loaded or any sample is read.
    Every metric of the validation and test evaluators that has an
    ``ann_file`` (``FrameMAPMetric``, ``YOWOAVAMetric``) must name the
    dataset's file, or a file of the same bytes. Metrics without
    ``ann_file``, datasets reading several files and paths that are not
    local files are not checked.

    Raises:
        ValueError: Naming both files and the config fields.
    """
    priority = 'VERY_HIGH'

    def before_run(self, runner) -> None:
        """Compare every built evaluator's file with its dataloader's.

        Args:
            runner (Runner): The runner.
        """
        for phase in PHASES:
            loop = getattr(runner, f'_{phase}_loop', None)
            if not isinstance(loop, BaseLoop):
                continue  # not part of this run
            data_file = dataset_ann_file(loop.dataloader.dataset)
            evaluator = getattr(loop, 'evaluator', None)
            if data_file is None or evaluator is None:
                continue
            for metric in getattr(evaluator, 'metrics', []):
                metric_file = getattr(metric, 'ann_file', None)
                if not metric_file or same_annotations(data_file,
                                                       str(metric_file)):
                    continue
                raise ValueError(
                    f'the {phase} dataloader reads {data_file} '
                    f'({phase}_dataloader.dataset.ann_file) but the '
                    f'{phase} evaluator {type(metric).__name__} scores '
                    f'against {metric_file} ({phase}_evaluator.ann_file): '
                    'the detections would be compared with the ground '
                    'truth of another file. Set both to the same '
                    'annotation file.')
