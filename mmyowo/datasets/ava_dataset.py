"""AVA v2.2 key frames for YOWO-Plus, in MMAction2's AVA data layout."""
import os.path as osp
from typing import Callable, Dict, List, Optional, Union

from mmaction.datasets import AVADataset
from mmaction.registry import DATASETS
from mmengine.logging import MMLogger

from .ava_files import (AVA_FPS, AVA_TIMESTAMP_END, AVA_TIMESTAMP_START,
                        class_names, read_ava_boxes, read_ava_exclusions,
                        read_ava_label_map)


@DATASETS.register_module()
class YOWOAVADataset(AVADataset):
    """mmaction's ``AVADataset`` with the sample contract of YOWO-Plus.

    Reads AVA as MMAction2 prepares it (``tools/data/ava``): rawframes
    ``{img}/{video_id}/img_{:05d}.jpg`` extracted at ``fps`` (30) from the
    videos cut to ``[timestamp_start, timestamp_end)`` seconds (900-1800),
    ``ava_{train,val}_v2.2.csv``, the exclusion CSV and a label map
    ``.pbtxt``. One sample per annotated key frame (1 per second), as
    ``AVADataset``; mmaction's merge of the rows of one person box
    (``parse_img_record``: identical boxes are one box) gives multi-hot
    labels (docs/architecture.md, "Multi-label boxes"). Unlike
    ``AVADataset``, the files are checked (:mod:`~.ava_files`: a damaged
    line is an error naming file and line, a zero-area box a counted skip),
    proposals are not needed (YOWO is one-stage), and every sample also
    holds what ``KFRSampleFrames`` and the YOWO head need:

    - ``frame_id``: 1-based number of the key frame,
      ``(timestamp - timestamp_start) * fps + 1``: the frame at exactly
      ``timestamp`` seconds (``img_00061.jpg`` for 902 s; the 0-based
      index ``(timestamp - 900) * 30`` of SlowFast's AVA loader, which YOWO
      reuses); mmaction's ``SampleAVAFrames`` centres its clips one frame
      later, a 1/30 s difference;
    - ``total_frames``: ``(timestamp_end - timestamp_start) * fps``, the
      frames mmaction assumes (its ``shot_info``); clips are clamped to it;
    - ``gt_bboxes``: float64 ``(n, 4)`` xyxy **normalised** to ``[0, 1]``
      as in the CSV: ``AVARawFrameDecode`` turns them into pixels of the
      decoded frames (the one place where this happens) and sets
      ``ori_shape``;
    - ``gt_labels``: float32 ``(n, num_classes - 1)`` multi-hot rows,
      column ``c`` for action id ``c + 1`` (or ``custom_classes[c]``):
      mmaction's background column 0 is dropped, so the head's
      ``num_classes`` is ``num_classes - 1`` of the dataset (80 for AVA);
    - ``video_id``, ``timestamp``, ``img_key``, ``entity_ids``, ``fps``,
      ``timestamp_start``, ``timestamp_end``, ``filename_tmpl``,
      ``frame_dir``, ``start_index``, ``modality`` as in ``AVADataset``.

    Args:
        ann_file (str): ``ava_{train,val}_v2.2.csv``.
        pipeline (list): Processing pipeline.
        exclude_file (str, optional): Excluded key frames CSV.
        label_file (str, optional): Label map ``.pbtxt`` naming the
            classes (metainfo ``classes``); required with
            ``custom_classes``.
        num_classes (int): Actions + 1, mmaction's convention (81 for AVA).
        custom_classes (list[int], optional): Train on these action ids
            only (``num_classes = len(custom_classes) + 1``).
        timestamp_start (int): First second of the cut videos. Defaults to
            900.
        timestamp_end (int): End (exclusive) of the valid timestamps.
            Defaults to 1800.
        fps (int): Frames per second of the rawframes. Defaults to 30.
        **kwargs: Passed to ``AVADataset`` (``data_prefix``,
            ``filename_tmpl``, ``start_index``, ``test_mode`` ...).

    Attributes:
        num_skipped_boxes (int): Zero-area rows of ``ann_file`` left out
            (also logged as a warning).

    Raises:
        ValueError: ``use_frames=False`` or ``multilabel=False`` (YOWO
            needs rawframes and multi-hot rows), a ``proposal_file``
            (YOWO proposes its own boxes; ``AVADataset`` would read it with
            ``pickle.load``, which runs whatever code the file holds), a
            malformed annotation
            file (:class:`~.ava_files.AVAFileError`), or no sample left.
    """

    def __init__(self,
                 ann_file: str,
                 pipeline: List[Union[Dict, Callable]],
                 exclude_file: Optional[str] = None,
                 label_file: Optional[str] = None,
                 num_classes: int = 81,
                 custom_classes: Optional[List[int]] = None,
                 timestamp_start: int = AVA_TIMESTAMP_START,
                 timestamp_end: int = AVA_TIMESTAMP_END,
                 fps: int = AVA_FPS,
                 **kwargs) -> None:
        if kwargs.get('proposal_file') is not None:
            raise ValueError(
                f'{type(self).__name__} takes no proposal_file (got '
                f'{kwargs["proposal_file"]}): YOWO is one-stage and proposes '
                'its own boxes, and mmaction reads proposal pickles with '
                'pickle.load, which runs any code the file holds')
        if not kwargs.get('use_frames', True):
            raise ValueError(f'{type(self).__name__} reads rawframes only '
                             '(use_frames=True)')
        if not kwargs.get('multilabel', True):
            raise ValueError(f'{type(self).__name__} gives multi-hot labels '
                             '(multilabel=True)')
        if timestamp_end <= timestamp_start or fps < 1:
            raise ValueError(
                f'need timestamp_start < timestamp_end and fps >= 1, got '
                f'{timestamp_start}, {timestamp_end}, {fps}')
        if custom_classes is not None and label_file is None:
            raise ValueError('custom_classes needs the label_file that '
                             'lists them')
        if num_classes < 2:
            raise ValueError(f'num_classes counts the actions + 1 '
                             f'(background column), got {num_classes}')
        # AVADataset's own order: (ann_file, pipeline, exclude_file,
        # label_file, ...).
        super().__init__(
            ann_file,
            pipeline,
            exclude_file,
            label_file,
            num_classes=num_classes,
            custom_classes=custom_classes,
            timestamp_start=timestamp_start,
            timestamp_end=timestamp_end,
            fps=fps,
            **kwargs)

    @property
    def action_ids(self) -> List[int]:
        """AVA action id of each label column (``gt_labels[:, c]``)."""
        if self.custom_classes is not None:
            return list(self.custom_classes[1:])
        return list(range(1, self.num_classes))

    def frame_number(self, timestamp: int) -> int:
        """1-based number of the frame at ``timestamp`` seconds."""
        return (timestamp - self.timestamp_start) * self._FPS + 1

    def load_data_list(self) -> List[dict]:
        """One data_info per annotated key frame of the CSV, checked."""
        logger = MMLogger.get_current_instance()
        if self.label_file is not None and 'classes' not in self._metainfo:
            self._metainfo['classes'] = class_names(
                read_ava_label_map(self.label_file), self.action_ids)
        # Every id of the file is checked against the full id range; only
        # custom_classes narrows what is kept.
        largest = max([self.num_classes - 1] + list(self.custom_classes or []))
        span = (self.timestamp_start, self.timestamp_end)
        records, skipped = read_ava_boxes(self.ann_file, span, largest)
        self.num_skipped_boxes = skipped
        if skipped:
            logger.warning(f'{self.ann_file}: skipped {skipped} zero-area '
                           'box row(s) (x2 <= x1 or y2 <= y1)')
        total_frames = (self.timestamp_end - self.timestamp_start) * self._FPS
        shot_info = (0, total_frames)
        data_list = []
        for (video, timestamp), rows in records.items():
            if self.custom_classes is not None:
                rows = [
                    dict(row, label=self.custom_classes.index(row['label']))
                    for row in rows if row['label'] in self.custom_classes
                ]
                if not rows:
                    continue
            bboxes, labels, entity_ids = self.parse_img_record(rows)
            data_list.append(
                dict(
                    frame_dir=self._frame_dir(video),
                    video_id=video,
                    timestamp=timestamp,
                    img_key=f'{video},{timestamp:04d}',
                    frame_id=self.frame_number(timestamp),
                    total_frames=total_frames,
                    shot_info=shot_info,
                    fps=self._FPS,
                    ann=dict(
                        gt_bboxes=bboxes,
                        # mmaction's column 0 is the background class.
                        gt_labels=labels[:, 1:],
                        entity_ids=entity_ids)))
        return data_list

    def _frame_dir(self, video: str) -> str:
        """Rawframe folder of ``video`` (``data_prefix['img']`` joined)."""
        prefix = self.data_prefix.get('img')
        return video if prefix is None else osp.join(prefix, video)

    def filter_data(self) -> List[dict]:
        """Drop the excluded key frames (counted in the log)."""
        excluded = read_ava_exclusions(self.exclude_file)
        data_list = [
            info for info in self.data_list
            if (info['video_id'], info['timestamp']) not in excluded
        ]
        MMLogger.get_current_instance().info(
            f'{self.ann_file}: {len(data_list)} of {len(self.data_list)} '
            f'key frames kept, {len(self.data_list) - len(data_list)} '
            'excluded')
        if not data_list:
            mode = 'test' if self.test_mode else 'train'
            raise ValueError(
                f'{self.ann_file}: no {mode} key frame left (after the '
                f'exclusions of {self.exclude_file} and custom_classes)')
        return data_list
