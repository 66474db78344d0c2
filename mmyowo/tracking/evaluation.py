"""Measure online tracking on detections: identity metrics and online tubes.

Input: the per-frame detections of a test split as ``mim test`` saves them
(``FrameMAPMetric(results_file=...)``, rows ``[video_index, frame, label,
score, x1, y1, x2, y2]``, one row per box and class), the canonical ground
truth, and optionally the actors' track ids (the synthetic generator's
``synthetic_tracks.json``; without them each ground-truth tube is its own
identity, which holds wherever an actor has one tube per class).

Each video is replayed frame by frame through :class:`.OnlineActionTracker`
(the rows of one box are grouped back into its ``(C,)`` score vector;
classes under the metric's ``score_thr`` are 0).

* **Identity** (py-motmetrics): ground-truth objects are the annotated
  actor boxes of each frame, with their track ids; hypotheses are the
  tracked persons whose best smoothed score reaches ``score_thr`` (the
  persons the demo labels); matched at IoU >= 0.5. Reported: IDF1, ID
  switches, MOTA (and IDP, IDR). Next to them, what the detections alone
  allow (no tracking): ``labelled recall`` / ``labelled precision``, the
  share of annotated actor boxes matched (IoU >= 0.5, one to one, per frame)
  by a detection whose best score reaches ``score_thr``, and the share of
  such detections that match one. Identities cannot be found where no
  labelled detection is, so IDR and IDP are bounded by about these (IDF1 by
  their harmonic mean), whatever the tracker.
  The labelled recall is also split by where the annotated box lies in
  its action: its first or last ``edge_frames`` frames (the action's
  boundaries, where a clip holds both motion and rest) or inside; and the
  labelled detections that match no annotated actor are counted, with those
  on an actor within ``edge_frames`` frames before or after one of its
  actions apart (:func:`boundary_side`): a detector that places the
  actions' boundaries late labels the actor on the frames after them.
* **Online tubes** (track x smoothed class): per track and class, each span
  where the class was active (between its start and end events), with the
  track's boxes and smoothed scores, scored by the mean smoothed score. Their
  video-mAP is reported next to the offline linking of ``mim test`` on the
  same detections, once per video-mAP protocol of ``mim test``, each side
  matched to the ground truth the same way: ``'yowo'`` (the paper's:
  :func:`~mmyowo.evaluation.functional.yowo_video_map`, whose tubes span
  whole videos, and :func:`~mmyowo.evaluation.functional.yowo_video_ap` for
  the online tubes) and ``'st'`` (temporally trimmed offline tubes and ACT's
  matching: :func:`~mmyowo.evaluation.functional.video_map` and
  :func:`~mmyowo.evaluation.functional.video_ap`). Online tubes are trimmed
  by their events, so ``'st'`` is the like-for-like comparison; under
  ``'yowo'`` the offline tubes also pay for spanning frames without the
  action. Both use ``mim test``'s defaults (``+1``-pixel boxes, default
  linking options).
"""
import os.path as osp
from collections import defaultdict
from typing import (Any, Callable, Dict, List, Mapping, Optional, Sequence,
                    Tuple)

import numpy as np
from mmengine.structures import InstanceData

from mmyowo.evaluation.functional import (box_iou, check_videos,
                                          parse_detections, video_ap,
                                          video_map, yowo_video_ap,
                                          yowo_video_map)
from mmyowo.utils.atomic_io import load_json
from .online import OnlineActionTracker, TrackedFrame

Frames = Dict[int, Tuple[np.ndarray, np.ndarray]]
#: A ground-truth tube's ``(first frame, first box, last frame, last box)``.
TubeEnds = Tuple[int, np.ndarray, int, np.ndarray]

#: Video-mAP protocols, as ``mim test``'s ``FrameMAPMetric``: per protocol,
#: ``(AP of given tubes, offline linking + AP)``, both with ``+1``-pixel
#: boxes (the metric's default).
VIDEO_PROTOCOLS: Dict[str, Tuple[Callable[..., Dict[float, Dict]],
                                 Callable[..., Dict[float, Dict]]]] = {
                                     'yowo': (yowo_video_ap, yowo_video_map),
                                     'st': (video_ap, video_map),
                                 }


def group_detections(detections: np.ndarray,
                     num_videos: int,
                     num_classes: int,
                     nframes: Optional[np.ndarray] = None) -> List[Frames]:
    """Group detection rows back into boxes with ``(C,)`` score vectors, after
    checking every row (the columns index videos and classes).

    Args:
        detections: ``(n, 8)`` rows as ``mim test`` saves them.
        num_videos: Number of evaluated videos.
        num_classes: Number of classes.
        nframes: ``(num_videos,)`` frame counts, to check the frame
            column against; ``None`` checks only ``frame >= 1``.

    Returns:
        Per video, ``{frame: (boxes (n, 4), scores (n, C))}``.

    Raises:
        ValueError: For rows that
            :func:`~mmyowo.evaluation.functional.parse_detections` refuses
            (e.g. a video index outside ``[0, num_videos)`` or a label
            outside ``[0, num_classes)``, which would index the wrong video
            or class).
    """
    dets = parse_detections(detections, [str(i) for i in range(num_videos)],
                            nframes, num_classes)
    grouped: List[Dict[int, Dict[tuple, np.ndarray]]] = [
        defaultdict(dict) for _ in range(num_videos)
    ]
    for video, frame, label, score, box in zip(dets.video.tolist(),
                                               dets.frame.tolist(),
                                               dets.label.tolist(),
                                               dets.score.tolist(),
                                               dets.boxes.tolist()):
        boxes = grouped[video][frame]
        key = tuple(box)
        if key not in boxes:
            boxes[key] = np.zeros(num_classes)
        boxes[key][label] = max(boxes[key][label], score)
    out: List[Frames] = []
    for per_video in grouped:
        frames: Frames = {}
        for frame, boxes in per_video.items():
            keys = list(boxes)
            frames[frame] = (np.array(keys, np.float32).reshape(-1, 4),
                             np.stack([boxes[k] for k in keys]))
        out.append(frames)
    return out


def track_video(frames: Frames, num_frames: int, class_names: Sequence[str],
                fps: float, **online_cfg: Any) -> List[TrackedFrame]:
    """Replay one video's detections (frames ``1..num_frames``) through a fresh
    :class:`.OnlineActionTracker`; the last frame also carries the end events
    of the actions still open."""
    online = OnlineActionTracker(class_names, **online_cfg)
    empty = (np.zeros((0, 4), np.float32), np.zeros((0, len(class_names))))
    tracked = []
    for frame in range(1, num_frames + 1):
        boxes, scores = frames.get(frame, empty)
        tracked.append(
            online.update(
                InstanceData(bboxes=boxes, scores=scores), frame,
                (frame - 1) / fps))
    if tracked:
        tracked[-1].events.extend(online.finish())
    return tracked


def load_track_ids(path: str, gt: dict) -> Dict[str, Dict[str, List[int]]]:
    """Read and check an actors' track-id file (``synthetic_tracks.json``).

    The file holds ``{video_id: {str(label): [track_id, ...]}}``: the track
    id of each ground-truth tube of ``gt['gttubes'][video_id][label]``, in
    the same order (a label may list fewer ids than it has tubes: the others
    get an identity of their own). One actor may carry several tubes (one
    per action), but never two boxes in one frame.

    Args:
        path: The JSON file.
        gt: The canonical ground truth the ids refer to.

    Returns:
        The ids, as read.

    Raises:
        FileNotFoundError: If ``path`` does not exist.
        ValueError: Naming the file, for invalid JSON, another layout, a
            video or label without ground-truth tubes, more ids than tubes,
            an id that is not a non-negative integer, or one identity on two
            boxes of one frame.
    """
    if not osp.isfile(path):
        raise FileNotFoundError(f'track-id file not found: {path}')
    tracks = load_json(path, ValueError)
    if not isinstance(tracks, dict):
        raise ValueError(f'{path}: expected {{video_id: {{label: [track '
                         f'ids]}}}}, got a {type(tracks).__name__}')
    for video, per_label in tracks.items():
        tubes = gt['gttubes'].get(video)
        if tubes is None:
            raise ValueError(f'{path}: video {video!r} has no ground-truth '
                             'tubes')
        if not isinstance(per_label, dict):
            raise ValueError(f'{path}: video {video!r}: expected {{label: '
                             f'[track ids]}}, got a '
                             f'{type(per_label).__name__}')
        seen: set = set()  # (identity, frame) pairs of this video
        for key, ids in per_label.items():
            label = int(key) if key.isascii() and key.isdigit() else None
            if label is None or label not in tubes:
                raise ValueError(f'{path}: video {video!r}: label {key!r} '
                                 'has no ground-truth tubes')
            if not isinstance(ids, list) or not all(
                    type(i) is int and i >= 0 for i in ids):
                raise ValueError(f'{path}: video {video!r}, label {key}: '
                                 'expected a list of non-negative integer '
                                 f'track ids, got {ids!r:.80}')
            if len(ids) > len(tubes[label]):
                raise ValueError(f'{path}: video {video!r}, label {key}: '
                                 f'{len(ids)} track ids for '
                                 f'{len(tubes[label])} tubes')
            for identity, tube in zip(ids, tubes[label]):
                for frame in np.asarray(tube)[:, 0].astype(int).tolist():
                    if (identity, frame) in seen:
                        raise ValueError(
                            f'{path}: video {video!r}: track id {identity} '
                            f'is on two boxes of frame {frame}')
                    seen.add((identity, frame))
    return tracks


def gt_identities(gt: dict, video: str,
                  tracks: Optional[dict]) -> Dict[int, List[tuple]]:
    """``{frame: [(identity, box, edge), ...]}`` of a video's annotated actors;
    ``edge`` is the box's distance in frames to the nearer end of its tube (0
    on the tube's first and last frames)."""
    out: Dict[int, List[tuple]] = defaultdict(list)
    ids = (tracks or {}).get(video, {})
    serial = 0
    for label, tubes in sorted(gt['gttubes'].get(video, {}).items()):
        names = ids.get(str(label))
        for index, tube in enumerate(tubes):
            # Tubes without a listed id get their own, negative (listed ids
            # are >= 0, see load_track_ids).
            identity = names[index] if names and index < len(names) else (
                -1 - serial)
            serial += 1
            tube = np.asarray(tube)
            for k, row in enumerate(tube):
                out[int(row[0])].append(
                    (identity, row[1:5], min(k,
                                             len(tube) - 1 - k)))
    return out


def identity_metrics(tracked: Dict[str, List[TrackedFrame]], gt: dict,
                     tracks: Optional[dict],
                     score_thr: float) -> Dict[str, float]:
    """IDF1, ID switches, MOTA, IDP, IDR over all videos (py-motmetrics)."""
    # py-motmetrics is a tool-time dependency (requirements/runtime.txt).
    import motmetrics as mm
    names, accumulators = [], []
    for video, frames in tracked.items():
        acc = mm.MOTAccumulator(auto_id=False)
        truth = gt_identities(gt, video, tracks)
        for tf in frames:
            objects = truth.get(tf.frame, [])
            hyps = [p for p in tf.persons if p.smoothed.max() >= score_thr]
            obj_boxes = np.array([b for _, b, _ in objects],
                                 np.float64).reshape(-1, 4)
            hyp_boxes = np.array([p.bbox for p in hyps],
                                 np.float64).reshape(-1, 4)
            # motmetrics' own iou_matrix calls np.asfarray, gone in NumPy 2:
            # the same distances (1 - IoU, NaN = no match below IoU 0.5).
            dist = 1.0 - box_iou(obj_boxes[:, None], hyp_boxes[None])
            dist[dist > 0.5] = np.nan
            acc.update([i for i, _, _ in objects], [p.track_id for p in hyps],
                       dist,
                       frameid=tf.frame)
        names.append(video)
        accumulators.append(acc)
    host = mm.metrics.create()
    summary = host.compute_many(
        accumulators,
        names=names,
        metrics=['idf1', 'idp', 'idr', 'num_switches', 'mota'],
        generate_overall=True)
    overall = summary.loc['OVERALL']
    return {
        'IDF1': float(overall['idf1']),
        'IDP': float(overall['idp']),
        'IDR': float(overall['idr']),
        'ID switches': int(overall['num_switches']),
        'MOTA': float(overall['mota'])
    }


def _tube_ends(gt: dict, video: str) -> List[TubeEnds]:
    """``(first frame, first box, last frame, last box)`` of each of a video's
    ground-truth tubes."""
    ends = []
    for tubes in gt['gttubes'].get(video, {}).values():
        for tube in tubes:
            tube = np.asarray(tube, np.float64)
            first, last = tube[0], tube[-1]
            ends.append((int(first[0]), first[1:5], int(last[0]), last[1:5]))
    return ends


def boundary_side(box: np.ndarray, frame: int, ends: Sequence[TubeEnds],
                  edge_frames: int) -> Optional[str]:
    """Whether a labelled box that matches no annotated actor sits on an actor
    just before or just after one of its actions.

    ``'before'``: within ``edge_frames`` frames before a tube's first frame,
    at IoU >= 0.5 with that first box; ``'after'``: within ``edge_frames``
    frames after its last frame, at IoU >= 0.5 with that last box (an actor
    near where its action starts or ends); the tube of highest IoU decides.
    ``None`` otherwise.

    Example:
        >>> ends = [(10, np.array([0., 0., 10., 10.]), 20,
        ...          np.array([50., 0., 60., 10.]))]
        >>> boundary_side(np.array([0., 0., 10., 10.]), 8, ends, 3)
        'before'
        >>> boundary_side(np.array([50., 0., 60., 10.]), 24, ends, 3) is None
        True
    """
    best, side = 0.5, None
    for first, first_box, last, last_box in ends:
        candidates = []
        if 0 < first - frame <= edge_frames:
            candidates.append((first_box, 'before'))
        if 0 < frame - last <= edge_frames:
            candidates.append((last_box, 'after'))
        for ref, name in candidates:
            iou = float(box_iou(ref, box))
            if iou >= best:
                best, side = iou, name
    return side


def detection_coverage(grouped: List[Frames],
                       videos: Sequence[str],
                       gt: dict,
                       tracks: Optional[dict],
                       score_thr: float,
                       edge_frames: int = 3) -> Dict[str, Any]:
    """Labelled recall and precision of the raw detections, the recall at the
    actions' boundaries and inside them, and where the labelled detections that
    match no annotated actor lie.

    See the module docstring; greedy one-to-one matching per frame, best IoU
    first. A box is at a boundary when it is one of the first or last
    ``edge_frames`` frames of its tube. An unmatched labelled detection is
    counted as just before or just after an action by
    :func:`boundary_side`, else elsewhere (a still actor further from its
    action, a distractor, a duplicate or a misplaced box).
    """
    found = {True: 0, False: 0}  # at a boundary -> matched boxes
    total = {True: 0, False: 0}
    false_pos = {'before': 0, 'after': 0, None: 0}
    num_det = 0
    for index, video in enumerate(videos):
        truth = gt_identities(gt, video, tracks)
        ends = _tube_ends(gt, video)
        for frame in set(truth) | set(grouped[index]):
            objects = truth.get(frame, [])
            at_edge = [edge < edge_frames for _, _, edge in objects]
            for flag in at_edge:
                total[flag] += 1
            obj_boxes = np.array([b for _, b, _ in objects],
                                 np.float64).reshape(-1, 4)
            boxes, scores = grouped[index].get(frame, (np.zeros(
                (0, 4)), np.zeros((0, 1))))
            boxes = np.asarray(boxes, np.float64)[np.asarray(scores).max(
                axis=1, initial=0.0) >= score_thr]
            num_det += len(boxes)
            unmatched = np.ones(len(boxes), bool)
            iou = box_iou(obj_boxes[:, None],
                          boxes[None]).reshape(len(obj_boxes), len(boxes))
            while iou.size and iou.max() >= 0.5:
                i, j = np.unravel_index(iou.argmax(), iou.shape)
                found[at_edge[i]] += 1
                unmatched[j] = False
                iou[i, :] = -1
                iou[:, j] = -1
            for box in boxes[unmatched]:
                false_pos[boundary_side(box, frame, ends, edge_frames)] += 1
    matched, num_gt = sum(found.values()), sum(total.values())

    def share(num: int, den: int) -> float:
        return num / den if den else float('nan')

    return {
        'labelled recall':
        share(matched, num_gt),
        'labelled precision':
        share(matched, num_det),
        f'labelled recall, first/last {edge_frames} frames of actions':
        share(found[True], total[True]),
        'labelled recall, inside actions':
        share(found[False], total[False]),
        'labelled false positives':
        sum(false_pos.values()),
        f'labelled false positives, {edge_frames} frames before actions':
        false_pos['before'],
        f'labelled false positives, {edge_frames} frames after actions':
        false_pos['after'],
    }


def online_tubes(video: str, frames: List[TrackedFrame],
                 num_classes: int) -> Dict[int, List[tuple]]:
    """Tubes of one video: per track and class, each active span (from its
    start event to its end event), ``(F, 6)`` rows ``[frame, x1, y1, x2,
    y2, smoothed score]``, scored by their mean smoothed score."""
    rows: Dict[int, Dict[int, tuple]] = defaultdict(dict)
    for tf in frames:
        for person in tf.persons:
            rows[person.track_id][tf.frame] = (person.bbox, person.smoothed)
    tubes: Dict[int, List[tuple]] = defaultdict(list)
    starts: Dict[Tuple[int, int], int] = {}
    for tf in frames:
        for event in tf.events:
            key = (event.track_id, event.label)
            if event.kind == 'started':
                starts[key] = event.frame
                continue
            first = starts.pop(key)
            track = rows[event.track_id]
            span = [f for f in range(first, event.frame + 1) if f in track]
            tube = np.array([[f, *track[f][0], track[f][1][event.label]]
                             for f in span])
            tubes[event.label].append((video, float(tube[:, 5].mean()), tube))
    return tubes


def _checked_names(results: Any) -> Tuple[List[str], List[str]]:
    """``videos`` and ``class_names`` of a results dict, after checking that it
    has the keys :func:`evaluate_tracking` reads."""
    if not isinstance(results, Mapping):
        raise ValueError('results must be a dict as load_detection_results '
                         f'returns, got a {type(results).__name__}')
    missing = [
        key for key in ('detections', 'videos', 'class_names')
        if key not in results
    ]
    if missing:
        raise ValueError(f'results: missing {missing}')
    names = []
    for key in ('videos', 'class_names'):
        value = results[key]
        # A str would pass as a sequence of one-character names.
        if not isinstance(value, (list, tuple)) or not all(
                isinstance(v, str) for v in value):
            raise ValueError(f'results: {key} must be a list of str, got '
                             f'{value!r:.80}')
        names.append(list(value))
    return names[0], names[1]


def evaluate_tracking(results: Dict[str, Any],
                      gt: dict,
                      tracks: Optional[dict] = None,
                      score_thr: float = 0.4,
                      iou_thr: float = 0.5,
                      fps: float = 25.0,
                      protocols: Sequence[str] = ('yowo', 'st'),
                      edge_frames: int = 3,
                      **online_cfg: Any) -> Dict[str, Any]:
    """Identity metrics and online vs offline video-mAP (module docstring).

    Args:
        results: A results file's content
            (:func:`~mmyowo.evaluation.functional.load_detection_results`).
        gt: Canonical ground truth.
        tracks: Actors' track ids (``synthetic_tracks.json``), optional.
        score_thr: Persons counted as hypotheses, and the default event
            threshold.
        iou_thr: Video-mAP spatio-temporal IoU threshold.
        fps: Frame rate of the event times.
        protocols: Video-mAP protocols (keys of :data:`VIDEO_PROTOCOLS`);
            each gives ``online video-mAP@{iou_thr} ({protocol})`` and
            ``offline video-mAP@{iou_thr} ({protocol})``.
        edge_frames: Frames at each end of an action counted as its
            boundary in the split labelled recall.
        **online_cfg: :class:`.OnlineActionTracker` options (``tracker``,
            ``smoothing``, ``events``).

    Raises:
        ValueError: For an unknown protocol, ``edge_frames < 1``, results
            that are not such a dict (missing keys, ``videos`` or
            ``class_names`` not a list of str), an evaluated video unknown
            to ``gt``, or a detection row that
            :func:`~mmyowo.evaluation.functional.parse_detections` refuses
            (checked before any tracking).
    """
    unknown = [p for p in protocols if p not in VIDEO_PROTOCOLS]
    if unknown or not protocols:
        raise ValueError(f'protocols must be names from '
                         f'{tuple(VIDEO_PROTOCOLS)}, got {tuple(protocols)}')
    if int(edge_frames) != edge_frames or edge_frames < 1:
        raise ValueError(f'edge_frames must be an integer >= 1, got '
                         f'{edge_frames!r}')
    videos, class_names = _checked_names(results)
    num_classes = len(class_names)
    nframes = check_videos(gt, videos)
    online_cfg.setdefault('events', dict(on_thr=score_thr))
    # Checks every row, before any tracking.
    grouped = group_detections(results['detections'], len(videos), num_classes,
                               nframes)
    tracked = {
        video:
        track_video(grouped[i], int(nframes[i]), class_names, fps,
                    **online_cfg)
        for i, video in enumerate(videos)
    }
    metrics: Dict[str, Any] = identity_metrics(tracked, gt, tracks, score_thr)
    metrics.update(
        detection_coverage(grouped, videos, gt, tracks, score_thr,
                           int(edge_frames)))
    tubes: Dict[int, List[tuple]] = defaultdict(list)
    for video, frames in tracked.items():
        for label, found in online_tubes(video, frames, num_classes).items():
            tubes[label].extend(found)
    metrics['online tubes'] = sum(len(t) for t in tubes.values())
    for protocol in protocols:
        tube_ap, linked_map = VIDEO_PROTOCOLS[protocol]
        online = tube_ap(
            dict(tubes),
            gt,
            videos, [iou_thr],
            pixel_plus_one=True,
            num_classes=num_classes)[iou_thr]
        offline = linked_map(
            results['detections'],
            gt,
            videos, [iou_thr],
            pixel_plus_one=True,
            num_classes=num_classes)[iou_thr]
        metrics[f'online video-mAP@{iou_thr} ({protocol})'] = float(
            online['mAP'])
        metrics[f'offline video-mAP@{iou_thr} ({protocol})'] = float(
            offline['mAP'])
        metrics[f'offline tubes ({protocol})'] = int(offline['num_tubes'])
    metrics['videos'] = len(videos)
    return metrics
