"""Frame-level spatio-temporal action detection dataset.

One sample per key frame of the videos of one split of a canonical
ground-truth file (see :mod:`mmyowo.datasets.annotations`). The clip around
the key frame is chosen later in the pipeline by ``KFRSampleFrames`` (paper
§3.1), which needs only the key frame and the video length.
"""
import os.path as osp
from typing import Callable, Dict, Iterable, List, Optional, Set, Tuple, Union

import numpy as np
from mmaction.datasets import BaseActionDataset
from mmaction.registry import DATASETS

from .annotations import group_boxes_by_frame, load_annotations
from .multilabel import (find_multilabel_box, merge_identical_boxes,
                         to_multi_hot)
from .transforms.loading import video_path

KEY_FRAME_MODES = ('annotated', 'all')


def near_frames(frames: Iterable[int], margin: int, nframes: int) -> List[int]:
    """The frames within ``margin`` of any of ``frames``, inside
    ``1..nframes``, sorted.

    Example:
        >>> near_frames([5, 6, 20], 2, 21)
        [3, 4, 5, 6, 7, 8, 18, 19, 20, 21]
        >>> near_frames([5, 6], 0, 10)
        [5, 6]
    """
    near: Set[int] = set()
    for frame in frames:
        near.update(
            range(max(1, frame - margin),
                  min(nframes, frame + margin) + 1))
    return sorted(near)


@DATASETS.register_module()
class SpatioTemporalActionDataset(BaseActionDataset):
    """Key-frame samples of a canonical spatio-temporal ground truth.

    Each sample (data_info) holds:

    - ``video_id``: the ground-truth key, e.g.
      ``'Basketball/v_Basketball_g01_c01'``;
    - ``frame_id``: 1-based key-frame number; ``total_frames``: ``nframes``;
    - ``ori_shape`` / ``img_shape``: ``(h, w)`` of the frames on disk, from
      the annotation's ``resolution`` (``RawFrameDecodeKeepBoxes`` and
      ``VideoDecode`` raise ``FrameSizeError`` where the decoded frames
      differ: the boxes refer to this size);
    - ``gt_bboxes``: float32 ``(n, 4)`` xyxy on-disk pixels of the boxes
      of the tubes at that frame (``(0, 4)`` for an un-annotated frame),
      identical boxes of several tubes merged into one
      (:mod:`~mmyowo.datasets.multilabel`); ``gt_labels``: int64 ``(n,)``
      0-based, or float32 ``(n, C)`` multi-hot rows when the dataset is
      multi-label (see ``multilabel``);
    - ``start_index``, ``modality`` (added by ``get_data_info``);
    - ``frame_dir`` + ``filename_tmpl`` (rawframes) or ``filename`` (video).

    Args:
        ann_file: Canonical ground truth (``.pkl`` or ``.json``).
        pipeline: Processing pipeline.
        data_prefix: ``dict(img=<rawframe root>)`` (frames at
            ``{img}/{video_id}/{filename_tmpl}``) or ``dict(video=<video
            root>)`` (videos at ``{video}/{video_id}{video_ext}``, or
            ``{video}/{basename(video_id)}{video_ext}`` with
            ``flat_video_dir``).
        split: Index into ``train_videos`` / ``test_videos``.
        test_mode: Use ``test_videos`` (else ``train_videos``).
        key_frames: ``'annotated'`` (frames with at least one box) or
            ``'all'`` (every frame, needed for video-level linking). Defaults
            to ``'annotated'`` for training and ``'all'`` for testing. A
            split that yields no key frame at all (no video listed, or no
            annotated frame with ``'annotated'``) is an error naming the
            file, the split and the mode.
        key_frame_margin: With ``key_frames='annotated'``, also take the
            frames within ``key_frame_margin`` frames of an annotated one
            (each with the boxes annotated there, if any): the actors just
            before and after their actions, at rest while the clip still
            shows motion, as negatives. A detector whose key frame is the
            newest clip frame otherwise never trains on the frames right
            after an action and keeps labelling the actor there. ``0``
            (default) keeps the annotated frames only; must be ``0`` with
            ``key_frames='all'``.
        key_frame_stride: Keep every ``key_frame_stride``-th key frame of a
            video (the first one included).
        filename_tmpl: Rawframe file name template (1-based numbers with the
            default ``start_index``).
        video_ext: Video file suffix.
        flat_video_dir: Videos lie directly under the video root, without
            the class folder of the video id.
        start_index: Number of the first frame: defaults to 1 for rawframes
            (``00001.jpg``) and 0 for videos.
        multilabel: Whether ``gt_labels`` are multi-hot rows. ``None``
            (default) decides from the whole annotation file: multi-label
            if any frame of any video has an identical box in tubes of two
            labels (a person doing two actions at once). ``False`` refuses
            such a file (the error names the video, frame and labels);
            ``True`` gives multi-hot rows in any case.
        **kwargs: Passed to ``BaseActionDataset`` (``metainfo``,
            ``data_root``, ``lazy_init`` ...).
    """

    def __init__(self,
                 ann_file: str,
                 pipeline: List[Union[Dict, Callable]],
                 data_prefix: Optional[Dict[str, str]] = None,
                 split: int = 0,
                 test_mode: bool = False,
                 key_frames: Optional[str] = None,
                 key_frame_stride: int = 1,
                 key_frame_margin: int = 0,
                 filename_tmpl: str = '{:05d}.jpg',
                 video_ext: str = '.avi',
                 flat_video_dir: bool = False,
                 start_index: Optional[int] = None,
                 multilabel: Optional[bool] = None,
                 **kwargs) -> None:
        data_prefix = dict(img='') if data_prefix is None else data_prefix
        sources = [key for key in ('img', 'video') if key in data_prefix]
        if len(sources) != 1:
            raise ValueError('data_prefix must hold exactly one of "img" '
                             '(rawframe root) or "video" (video root), got '
                             f'{data_prefix}')
        self.use_video = sources[0] == 'video'
        if key_frames is None:
            key_frames = 'all' if test_mode else 'annotated'
        if key_frames not in KEY_FRAME_MODES:
            raise ValueError(f'key_frames must be one of {KEY_FRAME_MODES}, '
                             f'got {key_frames!r}')
        if key_frame_stride < 1:
            raise ValueError(
                f'key_frame_stride must be >= 1, got {key_frame_stride}')
        if int(key_frame_margin) != key_frame_margin or key_frame_margin < 0:
            raise ValueError('key_frame_margin must be an integer >= 0, got '
                             f'{key_frame_margin!r}')
        if key_frame_margin and key_frames != 'annotated':
            raise ValueError('key_frame_margin widens key_frames='
                             "'annotated'; with key_frames="
                             f'{key_frames!r} it must be 0, got '
                             f'{key_frame_margin}')
        if start_index is None:
            start_index = 0 if self.use_video else 1
        self.split = split
        self.key_frames = key_frames
        self.key_frame_stride = key_frame_stride
        self.key_frame_margin = int(key_frame_margin)
        self.filename_tmpl = filename_tmpl
        self.video_ext = video_ext
        self.flat_video_dir = flat_video_dir
        self.multilabel_option = multilabel
        # Resolved by load_data_list.
        self.multilabel = bool(multilabel)
        super().__init__(
            ann_file,
            pipeline=pipeline,
            data_prefix=data_prefix,
            test_mode=test_mode,
            start_index=start_index,
            **kwargs)

    def _media_info(self, video: str) -> Dict[str, str]:
        """Where the frames of ``video`` are: rawframe folder or file."""
        if not self.use_video:
            return dict(
                frame_dir=osp.join(self.data_prefix['img'], video),
                filename_tmpl=self.filename_tmpl)
        return dict(
            filename=video_path(self.data_prefix['video'], video,
                                self.video_ext, self.flat_video_dir))

    def load_data_list(self) -> List[Dict]:
        """Expand the split's videos into one data_info per key frame."""
        gt = load_annotations(self.ann_file)
        self._check_classes(gt['labels'])
        split_key = 'test_videos' if self.test_mode else 'train_videos'
        if not 0 <= self.split < len(gt[split_key]):
            raise ValueError(
                f'{self.ann_file}: split {self.split} does not exist '
                f'({split_key} has {len(gt[split_key])} splits)')
        self.multilabel = self._resolve_multilabel(gt)
        num_classes = len(gt['labels'])
        empty_boxes = np.zeros((0, 4), dtype=np.float32)
        empty_labels = (
            np.zeros((0, num_classes), dtype=np.float32)
            if self.multilabel else np.zeros((0, ), dtype=np.int64))
        data_list = []
        videos = gt[split_key][self.split]
        for video in videos:
            # load_annotations guarantees an entry for every split video.
            per_frame = {
                frame: self._merge(boxes, labels, num_classes)
                for frame, (boxes, labels) in group_boxes_by_frame(
                    gt['gttubes'][video]).items()
            }
            nframes = gt['nframes'][video]
            if self.key_frames == 'annotated':
                frames = near_frames(per_frame, self.key_frame_margin, nframes)
            else:
                frames = list(range(1, nframes + 1))
            media = self._media_info(video)
            shape = tuple(gt['resolution'][video])
            for frame in frames[::self.key_frame_stride]:
                boxes, labels = per_frame.get(frame,
                                              (empty_boxes, empty_labels))
                data_list.append(
                    dict(
                        video_id=video,
                        frame_id=frame,
                        total_frames=nframes,
                        ori_shape=shape,
                        img_shape=shape,
                        gt_bboxes=boxes,
                        gt_labels=labels,
                        **media))
        if not data_list:
            # Caught here: mmengine would fail later, deep inside its
            # serialisation ("need at least one array to concatenate").
            mode = 'test' if self.test_mode else 'train'
            reason = (f'{split_key}[{self.split}] lists no video'
                      if not videos else
                      f'none of its {len(videos)} video(s) has a key frame '
                      f'with key_frames={self.key_frames!r}')
            raise ValueError(
                f'{self.ann_file}: the {mode} split {self.split} is empty: '
                f'{reason}; a {type(self).__name__} needs at least one '
                'sample')
        return data_list

    def _resolve_multilabel(self, gt: Dict) -> bool:
        """Apply the ``multilabel`` rule to the whole annotation file."""
        if self.multilabel_option:
            return True
        for video in sorted(gt['gttubes']):
            found = find_multilabel_box(gt['gttubes'][video])
            if found is None:
                continue
            if self.multilabel_option is None:
                return True
            frame, labels = found
            raise ValueError(
                f'{self.ann_file}: {video} frame {frame} has one box under '
                f'several labels {list(labels)} (a multi-label box), but '
                f'the {type(self).__name__} has multilabel=False')
        return False

    def _merge(self, boxes: np.ndarray, labels: np.ndarray,
               num_classes: int) -> Tuple[np.ndarray, np.ndarray]:
        """One box per distinct box of a frame, labels as the dataset
        represents them (see ``multilabel``)."""
        boxes, label_sets = merge_identical_boxes(boxes, labels)
        if self.multilabel:
            return boxes, to_multi_hot(label_sets, num_classes)
        if len(label_sets) == len(labels):
            return boxes, labels
        return boxes, np.array([s[0] for s in label_sets], dtype=np.int64)

    def _check_classes(self, labels: List[str]) -> None:
        """Take class names from the file, or check them against metainfo."""
        classes = self._metainfo.get('classes')
        if classes is None:
            self._metainfo['classes'] = tuple(labels)
        elif tuple(classes) != tuple(labels):
            raise ValueError(
                f'{self.ann_file}: the labels of the annotation file '
                f'({len(labels)} names, e.g. {labels[:3]}) differ from the '
                f'classes of {type(self).__name__} ({len(classes)} names, '
                f'e.g. {list(classes[:3])})')
