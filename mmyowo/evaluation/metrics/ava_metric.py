"""mmaction's ``AVAMetric`` fed with YOWO-Plus predictions."""
import os.path as osp
import tempfile
from typing import Any, Dict, List, Optional, Sequence, Tuple

import torch
from mmaction.evaluation import AVAMetric, results2csv
from mmaction.registry import METRICS
from mmaction.structures import bbox2result
from mmengine.logging import MMLogger
from mmengine.structures import BaseDataElement

from ..functional.ava_map import ava_eval_mmaction, ava_frame_map

PROTOCOLS = ('official', 'mmaction')


@METRICS.register_module()
class YOWOAVAMetric(AVAMetric):
    """AVA frame-mAP@0.5 of YOWO-Plus predictions through ``AVAMetric``.

    ``process`` turns each prediction into what ``AVAMetric`` keeps: the
    boxes (``pred_instances.bboxes``, original-frame pixels) divided by
    ``ori_shape`` ``(h, w)`` to normalised corners, and the ``(n, C)``
    class scores with mmaction's background column 0 put in front, so
    column ``c + 1`` is action id ``c + 1`` (or ``custom_classes[c]``), as
    ``bbox2result`` and ``results2csv`` expect; (box, class) pairs scoring
    at most ``action_thr`` are dropped there. ``compute_metrics`` writes
    mmaction's result CSV into a temporary folder (removed afterwards; the
    stock ``AVAMetric`` writes ``AVA_*_result.csv`` into the working
    directory) and evaluates it:

    - ``protocol='official'`` (default): :func:`~mmyowo.evaluation.
      functional.ava_frame_map`, the numbers of ActivityNet's
      ``get_ava_performance.py`` (2019, with ``-e`` exclusions, as AVA
      v2.2 results are reported): per key frame only the 50
      highest-scored rows over all evaluated classes are kept (the shipped
      config writes up to 30 boxes x every class above ``action_thr``,
      often more), equal scores are ordered as the evaluator's heap leaves
      them, flat or inverted detection boxes are dropped, the IoU is
      float64 and the ground-truth boxes are matched as read (not
      clipped); a class with ground truth but no detection has AP 0,
      ground truth of excluded key frames does not count, detections on a
      frame without ground truth are false positives, and a class with
      detections but no ground truth is left out;
    - ``protocol='mmaction'``: mmaction's ``ava_eval`` itself, made safe
      under numpy 2 (:func:`~mmyowo.evaluation.functional.numpy_aliases`),
      which differs in eight of these points (all but the ground truth as
      read; see :mod:`~mmyowo.evaluation.functional.ava_map`): use it to
      compare with mmaction's model zoo.

    Keys (default prefix ``mAP``): ``mAP/overall`` (the AVA frame-mAP@0.5
    over the classes of ``label_file``, 60 for AVA v2.2) and the AVA group
    means; per-class APs are logged.

    Args:
        ann_file (str): Ground-truth CSV (``ava_val_v2.2.csv``).
        exclude_file (str): Excluded key frames CSV.
        label_file (str): Label map of the evaluated classes
            (``ava_action_list_v2.2_for_activitynet_2019.pbtxt``).
        action_thr (float): Least score of a kept (box, class) pair.
        num_classes (int): Classes + 1 (background), as the dataset's
            ``num_classes`` (81 for AVA); predictions have ``num_classes -
            1`` scores per box.
        custom_classes (list[int], optional): Action ids the model was
            trained on (column ``c`` is ``custom_classes[c]``).
        protocol (str): ``'official'`` or ``'mmaction'``.
        iou_thr (float): IoU of a match (``'official'`` only; mmaction's
            is fixed at 0.5).
        num_workers (int): Processes matching detections (``'official'``);
            0 matches in the evaluating process.
        collect_device (str): ``'cpu'`` or ``'gpu'``.
        prefix (str, optional): Metric name prefix; ``'mAP'`` by default.
    """

    def __init__(self,
                 ann_file: str,
                 exclude_file: Optional[str],
                 label_file: str,
                 action_thr: float = 0.002,
                 num_classes: int = 81,
                 custom_classes: Optional[List[int]] = None,
                 protocol: str = 'official',
                 iou_thr: float = 0.5,
                 num_workers: int = 0,
                 collect_device: str = 'cpu',
                 prefix: Optional[str] = None) -> None:
        if protocol not in PROTOCOLS:
            raise ValueError(f'protocol must be one of {PROTOCOLS}, got '
                             f'{protocol!r}')
        if protocol == 'mmaction' and iou_thr != 0.5:
            raise ValueError("mmaction's ava_eval matches at IoU 0.5 only")
        if not 0 < iou_thr <= 1:
            raise ValueError(f'iou_thr must be in (0, 1], got {iou_thr}')
        if custom_classes is not None and \
                num_classes != len(custom_classes) + 1:
            raise ValueError(
                f'num_classes ({num_classes}) must be len(custom_classes) + '
                f'1 = {len(custom_classes) + 1}')
        # AVAMetric's own order: (ann_file, exclude_file, label_file, ...).
        super().__init__(
            ann_file,
            exclude_file,
            label_file,
            action_thr=action_thr,
            num_classes=num_classes,
            custom_classes=custom_classes,
            collect_device=collect_device,
            prefix=prefix)
        self.protocol = protocol
        self.iou_thr = iou_thr
        self.num_workers = num_workers

    def process(self, data_batch: Any, data_samples: Sequence[Any]) -> None:
        """Keep each key frame's normalised boxes and per-class scores.

        Args:
            data_batch: Unused.
            data_samples: Model outputs (``ActionDataSample`` or dicts) with
                metainfo ``video_id``, ``timestamp``, ``ori_shape`` and
                ``pred_instances`` (``bboxes`` ``(n, 4)`` in original-frame
                pixels, ``scores`` ``(n, num_classes - 1)``).
        """
        for sample in data_samples:
            if isinstance(sample, BaseDataElement):
                sample = sample.to_dict()
            missing = [
                key for key in ('video_id', 'timestamp', 'ori_shape',
                                'pred_instances') if key not in sample
            ]
            if missing:
                raise KeyError(
                    f'{type(self).__name__}: data sample lacks {missing} '
                    '(list them in PackActionInputs(meta_keys=...)); keys: '
                    f'{sorted(sample)}')
            boxes, scores = self._normalise(sample)
            self.results.append(
                dict(
                    video_id=sample['video_id'],
                    timestamp=int(sample['timestamp']),
                    outputs=bbox2result(
                        boxes, scores, self.num_classes, thr=self.action_thr)))

    def _normalise(self, sample: Dict) -> Tuple[torch.Tensor, torch.Tensor]:
        """Boxes in ``[0, 1]`` and scores with the background column."""
        pred = sample['pred_instances']
        boxes = torch.as_tensor(pred['bboxes']).float().reshape(-1, 4).cpu()
        scores = torch.as_tensor(pred['scores']).float().cpu()
        where = f'{sample["video_id"]},{sample["timestamp"]}'
        if scores.dim() != 2 or scores.shape != (len(boxes),
                                                 self.num_classes - 1):
            raise ValueError(
                f'{where}: pred_instances.scores must be (n, num_classes - '
                f'1) = ({len(boxes)}, {self.num_classes - 1}), got '
                f'{tuple(scores.shape)}')
        h, w = sample['ori_shape'][:2]
        boxes = (boxes / boxes.new_tensor([w, h, w, h])).clamp(0, 1)
        background = scores.new_zeros((len(scores), 1))
        return boxes, torch.cat([background, scores], dim=1)

    def compute_metrics(self, results: list) -> Dict[str, float]:
        """Evaluate the gathered results with the chosen protocol."""
        evaluated = (None if self.custom_classes is None else
                     self.custom_classes[1:])
        with tempfile.TemporaryDirectory(prefix='yowo_ava_') as folder:
            result_file = osp.join(folder, 'ava_results.csv')
            results2csv(results, result_file, self.custom_classes)
            if self.protocol == 'mmaction':
                return ava_eval_mmaction(result_file, self.label_file,
                                         self.ann_file, self.exclude_file,
                                         evaluated)
            metrics = ava_frame_map(
                result_file,
                self.label_file,
                self.ann_file,
                self.exclude_file,
                iou_thr=self.iou_thr,
                custom_classes=evaluated,
                num_workers=self.num_workers)
        per_class = metrics.pop('per_class')
        self._log_per_class(per_class)
        return metrics

    @staticmethod
    def _log_per_class(per_class: Dict[int, tuple]) -> None:
        """Log one line per class: id, name, AP (%), ground-truth count."""
        lines = [
            f'{label:>4d} {name[:40]:<40s} {ap * 100:6.2f} {n:>7d}'
            for label, (name, ap, n) in per_class.items()
        ]
        MMLogger.get_current_instance().info(
            'AVA frame-AP@0.5 per class (id, action, AP %, ground truth):\n' +
            '\n'.join(lines))
