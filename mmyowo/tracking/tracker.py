"""Persistent person ids: an online multi-object tracker on the detections.

The association itself is mmdet 3.3's (``ByteTracker`` by default, or
``OCSORTTracker``, ``SORTTracker`` ...), built through mmdet's ``MODELS``
registry from a config dict. mmdet's trackers live in ``mmdet.models``,
whose import needs mmcv's compiled ops (a full ``mmcv``, not ``mmcv-lite``)
and, for ByteTracker / OC-SORT, the ``lap`` package: they are imported here,
when a tracker is built, never when ``mmyowo`` is imported, so that the
model and inference code stay usable without them.

The trackers associate boxes class-agnostically here: every detection is
given the one label ``0`` (person), because mmdet's trackers refuse matches
across labels and an action change must not break an identity. A box's
detection score is its best class score (``conf x cls`` of the head).
"""
import copy
from typing import Any, Dict, List, Optional

import numpy as np
import torch
from mmengine.registry import DefaultScope

#: Default tracker: mmdet's ByteTracker with the thresholds of its MOT17
#: config, except the score thresholds, lowered to the range of YOWO's
#: ``conf x cls`` scores (a person doing an action at 0.5 is a confident
#: detection), and ``num_frames_retain`` (processed frames a lost track is
#: kept to be found again).
DEFAULT_TRACKER = dict(
    type='ByteTracker',
    motion=dict(type='KalmanFilter'),
    obj_score_thrs=dict(high=0.4, low=0.1),
    init_track_thr=0.5,
    weight_iou_with_det_scores=True,
    match_iou_thrs=dict(high=0.1, low=0.5, tentative=0.3),
    num_tentatives=3,
    num_frames_retain=30)


def build_mmdet_tracker(cfg: Optional[Dict[str, Any]] = None) -> Any:
    """Build an mmdet tracker from a config dict (default
    :data:`DEFAULT_TRACKER`) through mmdet's ``MODELS`` registry.

    Raises:
        ImportError: If ``mmdet.models`` cannot be imported (mmcv without
            its compiled ops, i.e. ``mmcv-lite``) or the tracker needs a
            missing package (``lap``); the message says what to install.
    """
    cfg = copy.deepcopy(DEFAULT_TRACKER if cfg is None else cfg)
    try:
        # Lazy: mmdet.models needs mmcv's compiled ops (see module doc).
        import mmdet.models.trackers  # noqa: F401
        from mmdet.registry import MODELS
    except ImportError as err:
        raise ImportError(
            'person tracking uses mmdet 3.3\'s trackers (mmdet.models.'
            'trackers), which need the full mmcv with its compiled ops '
            f'(not mmcv-lite) and the "lap" package: {err}') from err
    if cfg.get('type') in ('ByteTracker', 'OCSORTTracker'):
        try:
            import lap  # noqa: F401
        except ImportError as err:
            raise ImportError(f'{cfg["type"]} needs the "lap" package '
                              '(pip install lap)') from err
    # mmdet's scope, whatever the caller's (init_detector sets mmaction's):
    # the tracker and its motion model are in mmdet's registries.
    with DefaultScope.overwrite_default_scope('mmdet'):
        return MODELS.build(cfg)


class PersonTracker:
    """Give every detected person a track id that persists across frames.

    Args:
        cfg (dict, optional): mmdet tracker config; default
            :data:`DEFAULT_TRACKER`.

    Call :meth:`update` once per processed frame, in order. Frames that a
    live source dropped are simply not seen: the tracker's frame counter is
    that of the processed frames (its motion model predicts one step per
    processed frame).
    """

    def __init__(self, cfg: Optional[Dict[str, Any]] = None) -> None:
        self.cfg = copy.deepcopy(DEFAULT_TRACKER if cfg is None else cfg)
        self.tracker = build_mmdet_tracker(self.cfg)
        self.step = 0

    def reset(self) -> None:
        """Forget every track (a new video)."""
        self.tracker.reset()
        self.step = 0

    def update(self, bboxes: np.ndarray,
               scores: np.ndarray) -> List[Optional[int]]:
        """Associate one frame's detections with the tracks.

        Args:
            bboxes: ``(N, 4)`` xyxy boxes.
            scores: ``(N,)`` detection scores.

        Returns:
            Per detection, its track id (``>= 0``), or ``None`` for a
            detection the tracker did not keep (too low a score to start a
            track and no track to continue).
        """
        from mmdet.structures import DetDataSample
        from mmengine.structures import InstanceData
        bboxes = np.asarray(bboxes, dtype=np.float32).reshape(-1, 4)
        scores = np.asarray(scores, dtype=np.float32).reshape(-1)
        sample = DetDataSample(metainfo=dict(frame_id=self.step))
        instances = InstanceData()
        instances.bboxes = torch.from_numpy(bboxes.copy())
        instances.scores = torch.from_numpy(scores.copy())
        instances.labels = torch.zeros(len(bboxes), dtype=torch.long)
        sample.pred_instances = instances
        out = self.tracker.track(sample)
        self.step += 1
        # The tracker returns the kept boxes reordered: find each one's
        # detection (the same values, copied) to carry its class scores.
        ids: List[Optional[int]] = [None] * len(bboxes)
        out_boxes = out.bboxes.detach().cpu().numpy().reshape(-1, 4)
        out_ids = out.instances_id.detach().cpu().numpy().reshape(-1)
        for box, track_id in zip(out_boxes, out_ids):
            for index in np.flatnonzero((bboxes == box).all(axis=1)):
                if ids[index] is None:
                    ids[index] = int(track_id)
                    break
        return ids
