"""Refuse datasets whose classes the model does not predict."""
from typing import Any, Optional, Sequence

from mmaction.registry import HOOKS
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmengine.runner import BaseLoop

PHASES = ('train', 'val', 'test')


def dataset_classes(dataset: Any) -> Optional[Sequence[str]]:
    """The class names of a dataset's metainfo, ``None`` if it has none."""
    metainfo = getattr(dataset, 'metainfo', None) or {}
    return metainfo.get('classes')


def dataset_source(dataset: Any) -> str:
    """The annotation file of a dataset (looked up through wrappers such as
    ``RepeatDataset``), for messages."""
    while dataset is not None:
        ann_file = getattr(dataset, 'ann_file', None)
        if ann_file:
            return str(ann_file)
        dataset = getattr(dataset, 'dataset', None)
    return 'the dataset'


@HOOKS.register_module()
class NumClassCheckHook(Hook):
    """Check, before anything runs, that every dataset of the run has as many
    classes as the model predicts.

    The number of classes of a YOWO model is a config value
    (``model.bbox_head.head_module.num_classes``); a dataset's classes come
    from its annotation file (``labels`` of the canonical ground truth, the
    metainfo ``classes``). When the two disagree nothing checks them early:

    * more classes in the file: the first training iteration fails inside
      ``torch.nn.functional.one_hot`` ("Class values must be smaller than
      num_classes"), naming neither file nor setting;
    * fewer: training runs and the extra class outputs are trained as
      negatives only; the mismatch surfaces in the metric, after a whole
      epoch (validation) or a whole test pass.

    This hook runs in ``before_run``, after the runner has built the loops
    of the run (``train`` builds the training and validation dataloaders,
    ``test`` / ``val`` theirs) and before any checkpoint is loaded or any
    iteration runs. Datasets without metainfo ``classes`` and models
    without ``bbox_head.num_classes`` are not checked.

    Raises:
        ValueError: Naming the annotation file, both class counts and the
            config field to change.
    """
    priority = 'VERY_HIGH'

    def before_run(self, runner) -> None:
        """Compare every built dataloader's classes with the model's."""
        model = runner.model.module if is_model_wrapper(
            runner.model) else runner.model
        num_classes = getattr(
            getattr(model, 'bbox_head', None), 'num_classes', None)
        if num_classes is None:
            return
        for phase in PHASES:
            loop = getattr(runner, f'_{phase}_loop', None)
            if not isinstance(loop, BaseLoop):
                continue  # not part of this run (e.g. training in `test`)
            dataset = loop.dataloader.dataset
            classes = dataset_classes(dataset)
            if classes is None or len(classes) == num_classes:
                continue
            shown = ', '.join(map(str, list(classes)[:3]))
            more = ', ...' if len(classes) > 3 else ''
            raise ValueError(
                f'{dataset_source(dataset)}: the {phase} dataset has '
                f'{len(classes)} classes ({shown}{more}) but the model '
                f'predicts {num_classes} '
                '(model.bbox_head.head_module.num_classes in the config); '
                'set num_classes to the number of labels of the annotation '
                'file, or use the annotation file the model is meant for')
