"""Frame-mAP / video-mAP metric for spatio-temporal action detection."""
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np
from mmaction.registry import METRICS
from mmengine.evaluator import BaseMetric
from mmengine.logging import MMLogger
from mmengine.structures import BaseDataElement

from mmyowo.datasets.annotations import load_annotations
from ..functional import (PROTOCOLS, frame_map, save_detection_results,
                          video_map, yowo_video_map)

# Video-mAP protocols: the YOWO family's (the paper's) and the
# spatio-temporal one of ACT / mmaction2 with our linker.
VIDEO_PROTOCOLS: Dict[str, Callable[..., Dict[float, Dict]]] = {
    'yowo': yowo_video_map,
    'st': video_map
}


@METRICS.register_module()
class FrameMAPMetric(BaseMetric):
    """Frame-mAP (and video-mAP) of per-key-frame box predictions (§4).

    Every (box, class) pair of a prediction is a detection scored by that
    class's score, as in YOWO's evaluation: ``pred_instances.scores`` is
    ``(n, C)`` (``docs/architecture.md``). Pairs scoring below
    ``score_thr`` are dropped, which bounds memory on large test sets at a
    negligible cost in AP (their recall sits at the very end of the
    precision-recall curve).

    Frame-mAP follows :func:`~mmyowo.evaluation.functional.frame_map`; its
    defaults (annotated frames, ``+1`` pixels, rounded detection corners)
    are the YOWO family's protocol, whose numbers the paper compares
    against. Only the frames that were predicted count, so validating on
    every 4th annotated frame (``key_frame_stride=4``) scores those frames
    alone; the log says how many frames were evaluated.

    Video-mAP links the detections into tubes, with each protocol of
    ``video_protocols``: ``'yowo'``
    (:func:`~mmyowo.evaluation.functional.yowo_video_map`, the YOWO
    family's, the paper's) and ``'st'``
    (:func:`~mmyowo.evaluation.functional.video_map`: our linker with
    temporal trimming, ACT's matching). It needs predictions on every frame
    of the test videos (dataset ``key_frames='all'``, stride 1);
    ``compute_metrics`` raises a ``ValueError`` otherwise.

    Returned keys (with the default prefix), in [0, 1]: ``mAP/frame@0.5``
    first (``save_best='auto'`` picks it), then ``mAP/video@{thr}`` for the
    first video protocol and ``mAP/video_{protocol}@{thr}`` for any further
    one (e.g. ``mAP/video_st@0.5``). Per-class APs are logged as a table
    whose column titles name the protocols.

    Args:
        ann_file: Canonical ground truth (``.pkl`` / ``.json``).
        split: Index into ``test_videos``; the predictions' ``video_id``
            must belong to that split.
        iou_thr: Frame-mAP IoU threshold.
        protocol: ``'annotated'`` (YOWO family, the paper's numbers) or
            ``'all'`` (ACT / MOC); see
            :mod:`mmyowo.evaluation.functional.frame_map`.
        video_iou_thrs: Video-mAP spatio-temporal IoU thresholds; ``None``
            (or empty) disables video-mAP.
        pixel_plus_one: ``+1`` pixel convention in IoUs (YOWO family).
        score_thr: Least score of a kept (box, class) pair.
        link_cfg: Options of
            :func:`~mmyowo.evaluation.functional.link_video` (``'st'``).
        video_protocols: Video-mAP protocols, the first one giving the
            ``mAP/video@{thr}`` keys: ``'yowo'`` and / or ``'st'``.
        yowo_link_cfg: Options of
            :func:`~mmyowo.evaluation.functional.link_tubes_yowo`
            (``'yowo'``; e.g. ``top_k=10`` links faster, inexactly).
        round_boxes: Round detection corners to whole pixels for frame-mAP
            (YOWO family).
        results_file: If set, the detections are saved there as an ``.npz``
            results file (input of ``tools/analysis/plot_results.py``).
        collect_device: ``'cpu'`` or ``'gpu'``, for gathering across ranks.
        prefix: Prefix of the metric names; defaults to ``'mAP'``.
        collect_dir: Folder for ``'cpu'`` gathering.
    """
    default_prefix: Optional[str] = 'mAP'

    def __init__(self,
                 ann_file: str,
                 split: int = 0,
                 iou_thr: float = 0.5,
                 protocol: str = 'annotated',
                 video_iou_thrs: Optional[Sequence[float]] = (0.2, 0.5, 0.75),
                 pixel_plus_one: bool = True,
                 score_thr: float = 1e-4,
                 link_cfg: Optional[Dict[str, Any]] = None,
                 video_protocols: Sequence[str] = ('yowo', ),
                 yowo_link_cfg: Optional[Dict[str, Any]] = None,
                 round_boxes: bool = True,
                 results_file: Optional[str] = None,
                 collect_device: str = 'cpu',
                 prefix: Optional[str] = None,
                 collect_dir: Optional[str] = None) -> None:
        super().__init__(
            collect_device=collect_device,
            prefix=prefix,
            collect_dir=collect_dir)
        if protocol not in PROTOCOLS:
            raise ValueError(f'protocol must be one of {PROTOCOLS}, got '
                             f'{protocol!r}')
        if not 0 < iou_thr <= 1:
            raise ValueError(f'iou_thr must be in (0, 1], got {iou_thr}')
        video_protocols = (video_protocols, ) if isinstance(
            video_protocols, str) else tuple(video_protocols)
        unknown = [p for p in video_protocols if p not in VIDEO_PROTOCOLS]
        if unknown or len(set(video_protocols)) != len(video_protocols):
            raise ValueError(
                f'video_protocols must be distinct names from '
                f'{tuple(VIDEO_PROTOCOLS)}, got {video_protocols}')
        if video_iou_thrs and not video_protocols:
            raise ValueError('video_iou_thrs is set but video_protocols is '
                             'empty')
        if split < 0:
            raise ValueError(f'split must be >= 0, got {split}')
        if results_file is not None and not results_file.endswith('.npz'):
            raise ValueError(f'results_file must end in .npz, got '
                             f'{results_file!r}')
        self.ann_file = ann_file
        self.split = split
        self.iou_thr = iou_thr
        self.protocol = protocol
        self.video_iou_thrs = tuple(video_iou_thrs or ())
        self.pixel_plus_one = pixel_plus_one
        self.score_thr = score_thr
        self.link_cfg = dict(link_cfg or {})
        self.video_protocols = video_protocols
        self.yowo_link_cfg = dict(yowo_link_cfg or {})
        self.round_boxes = round_boxes
        self.results_file = results_file
        self._gt: Optional[Dict[str, Any]] = None

    def process(self, data_batch: Any, data_samples: Sequence[Any]) -> None:
        """Keep each sample's video, frame, boxes and class scores.

        Args:
            data_batch: Unused.
            data_samples: Model outputs, as ``ActionDataSample`` or as the
                dicts mmengine's ``Evaluator`` makes of them, with metainfo
                ``video_id`` / ``frame_id`` and ``pred_instances`` holding
                ``bboxes`` ``(n, 4)`` (original-frame pixels) and ``scores``
                ``(n, C)``.
        """
        for sample in data_samples:
            if isinstance(sample, BaseDataElement):
                sample = sample.to_dict()
            missing = [
                key for key in ('video_id', 'frame_id', 'pred_instances')
                if key not in sample
            ]
            if missing:
                raise KeyError(f'{type(self).__name__}: data sample lacks '
                               f'{missing} (keys: {sorted(sample)})')
            video, frame = str(sample['video_id']), int(sample['frame_id'])
            pred = sample['pred_instances']
            boxes = _to_numpy(pred['bboxes']).reshape(-1, 4)
            scores = _to_numpy(pred['scores'])
            if scores.ndim != 2 or len(scores) != len(boxes):
                raise ValueError(
                    f'{video} frame {frame}: pred_instances.scores must be '
                    f'(n, num_classes) for n={len(boxes)} boxes, got shape '
                    f'{scores.shape}')
            keep = scores.max(axis=1, initial=-np.inf) >= self.score_thr
            self.results.append(
                dict(
                    video_id=video,
                    frame_id=frame,
                    bboxes=boxes[keep].astype(np.float32),
                    scores=scores[keep].astype(np.float32)))

    def compute_metrics(self, results: List[Dict[str,
                                                 Any]]) -> Dict[str, float]:
        """Compute frame-mAP (and video-mAP) from the gathered results.

        Raises:
            ValueError: For a prediction outside the test split, a frame
                beyond its video, a wrong number of class scores, or, with
                video-mAP on, a test video frame without prediction.
        """
        gt = self._ground_truth()
        if self.split >= len(gt['test_videos']):
            raise ValueError(f'{self.ann_file}: split {self.split} requested '
                             f'but test_videos has '
                             f'{len(gt["test_videos"])} splits')
        videos = gt['test_videos'][self.split]
        class_names = gt['labels']
        detections, frames = self._detections(results, videos, gt,
                                              len(class_names))

        frame = frame_map(
            detections,
            gt,
            videos,
            self.iou_thr,
            self.protocol,
            self.pixel_plus_one,
            round_boxes=self.round_boxes,
            frames=frames)
        if not frame['num_gt'].any():
            MMLogger.get_current_instance().warning(
                f'{type(self).__name__}: none of the {len(frames)} predicted '
                'frames carries ground truth; frame-mAP is NaN')
        metrics = {f'frame@{self.iou_thr}': frame['mAP']}
        pixels = ', +1 px' if self.pixel_plus_one else ''
        columns = [(f'frame AP@{self.iou_thr} ({self.protocol}{pixels})',
                    frame['ap'])]
        if self.video_iou_thrs:
            self._check_every_frame(frames, videos, gt)
            for i, name in enumerate(self.video_protocols):
                video = VIDEO_PROTOCOLS[name](
                    detections,
                    gt,
                    videos,
                    self.video_iou_thrs,
                    pixel_plus_one=self.pixel_plus_one,
                    link_cfg=self.yowo_link_cfg
                    if name == 'yowo' else self.link_cfg)
                key = 'video' if i == 0 else f'video_{name}'
                for thr, result in video.items():
                    metrics[f'{key}@{thr}'] = result['mAP']
                    columns.append((f'video AP@{thr} ({name})', result['ap']))
        boxes = ('+1-pixel' if self.pixel_plus_one else
                 'continuous') + (' boxes, detection corners rounded'
                                  if self.round_boxes else ' boxes')
        MMLogger.get_current_instance().info(
            f'frame-mAP: {self.protocol!r} protocol, {boxes}; '
            f'{frame["num_frames"]} frames evaluated ({len(frames)} '
            f'predicted, {frame["num_annotated_frames"]} annotated in the '
            f'{len(videos)} test videos), {len(detections)} detections\n' +
            _format_table(class_names, columns))
        if self.results_file is not None:
            save_detection_results(self.results_file, detections, videos,
                                   class_names, self.ann_file, self.split)
        return metrics

    def _ground_truth(self) -> Dict[str, Any]:
        """Load (once) and return the ground truth."""
        if self._gt is None:
            self._gt = load_annotations(self.ann_file)
        return self._gt

    def _check_every_frame(self, frames: np.ndarray, videos: Sequence[str],
                           gt: Dict[str, Any]) -> None:
        """Raise unless every frame of the test videos was predicted."""
        nframes = np.array([gt['nframes'][v] for v in videos], np.int64)
        seen = np.zeros((len(videos), int(nframes.max(initial=0)) + 1), bool)
        seen[frames[:, 0], frames[:, 1]] = True
        missing = ~seen[:, 1:] & (
            np.arange(1, seen.shape[1]) <= nframes[:, None])
        if missing.any():
            video, frame = np.argwhere(missing)[0]
            raise ValueError(
                f'{type(self).__name__}: video-mAP needs a prediction for '
                f'every frame of the test videos, but {int(missing.sum())} '
                f'of {int(nframes.sum())} frames have none (e.g. '
                f'{videos[video]!r} frame {frame + 1}); test with '
                "key_frames='all' and key_frame_stride=1, or set "
                'video_iou_thrs=None')

    def _detections(self, results: List[Dict[str, Any]], videos: Sequence[str],
                    gt: Dict[str, Any],
                    num_classes: int) -> Tuple[np.ndarray, np.ndarray]:
        """Expand the kept boxes into ``(N, 8)`` detection rows.

        Returns:
            ``(detections, frames)``: the rows and the ``(M, 2)`` int64
            ``[video_index, frame]`` of every predicted frame, once each.
        """
        index = {video: i for i, video in enumerate(videos)}
        seen: Dict[Tuple[str, int], None] = {}
        duplicates = 0
        per_sample = []
        for result in results:
            key = (result['video_id'], result['frame_id'])
            if key in seen:
                duplicates += 1
                continue
            seen[key] = None
            if key[0] not in index:
                raise ValueError(
                    f'prediction for video {key[0]!r} (frame {key[1]}), '
                    f'which is not in test split {self.split} of '
                    f'{self.ann_file}')
            if not 1 <= key[1] <= gt['nframes'][key[0]]:
                raise ValueError(
                    f'prediction for {key[0]!r} frame {key[1]}, but '
                    f'{self.ann_file} gives that video '
                    f'{gt["nframes"][key[0]]} frames')
            if result['scores'].shape[1] != num_classes:
                raise ValueError(
                    f'{key[0]} frame {key[1]}: {result["scores"].shape[1]} '
                    f'class scores per box, but {self.ann_file} has '
                    f'{num_classes} classes')
            per_sample.append(
                (index[key[0]], key[1], result['bboxes'], result['scores']))
        if duplicates:
            MMLogger.get_current_instance().warning(
                f'{type(self).__name__}: {duplicates} predictions repeat an '
                'already seen (video, frame); only the first one is used')
        frames = np.array([s[:2] for s in per_sample],
                          dtype=np.int64).reshape(-1, 2)
        if not per_sample:
            return np.zeros((0, 8)), frames
        counts = np.array([len(s[2]) for s in per_sample])
        video = np.repeat(frames[:, 0], counts)
        frame = np.repeat(frames[:, 1], counts)
        boxes = np.concatenate([s[2] for s in per_sample]).reshape(-1, 4)
        scores = np.concatenate([s[3] for s in per_sample
                                 ]).reshape(-1, num_classes)
        box_id, label = np.nonzero(scores >= self.score_thr)
        return np.column_stack(
            (video[box_id], frame[box_id], label, scores[box_id, label],
             boxes[box_id])).astype(np.float64), frames


def _to_numpy(value: Any) -> np.ndarray:
    """Tensor or array-like to a numpy array."""
    if hasattr(value, 'detach'):
        value = value.detach().cpu().numpy()
    return np.asarray(value)


def _format_table(class_names: Sequence[str],
                  columns: List[Tuple[str, np.ndarray]]) -> str:
    """Per-class APs (percent) as a text table with a mean row."""
    width = max(len(name) for name in list(class_names) + ['class'])
    widths = [max(len(title), 6) for title, _ in columns]
    header = 'class'.ljust(width) + ''.join(
        f'  {title:>{w}}' for (title, _), w in zip(columns, widths))

    def row(name: str, values: List[float]) -> str:
        cells = ''.join(f'  {"-" if np.isnan(v) else f"{100 * v:.2f}":>{w}}'
                        for v, w in zip(values, widths))
        return name.ljust(width) + cells

    lines = [header, '-' * len(header)]
    for i, name in enumerate(class_names):
        lines.append(row(name, [ap[i] for _, ap in columns]))
    lines.append('-' * len(header))
    means = [
        float(np.nanmean(ap)) if (~np.isnan(ap)).any() else float('nan')
        for _, ap in columns
    ]
    lines.append(row('mean', means))
    return '\n'.join(lines)
