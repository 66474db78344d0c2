"""Streaming windows over the videos of a key-frame dataset (paper §1, §3.1).

Key-frame random sampling lets one 3D pass serve every key frame of a
window of ``L`` frames. A video of ``N`` frames is cut into consecutive
chunks of ``L p`` frames (``p``: sampling step), each split into ``p``
interleaved windows ``v_{s+r}, v_{s+r+p}, ..., v_{s+r+(L-1)p}``, so that
every frame belongs to exactly one window, at position
``((f - 1) mod Lp) // p`` (0-based, frame ``f`` 1-based). The last, partial
window of a video is padded by repeating its last frame. This is the tiling
of :class:`~mmyowo.apis.YOWOVideoDetector`'s streaming mode;
:class:`WindowDataset` serves it to a data loader (``WindowTestLoop`` of
:mod:`mmyowo.engine` runs it under ``mim test``).
"""
from collections import OrderedDict
from typing import Any, Dict, List, NamedTuple, Optional, Sequence, Tuple

import numpy as np
from mmcv.transforms import BaseTransform
from torch.utils.data import Dataset

from .transforms.kfrs import KFRSampleFrames


class Window(NamedTuple):
    """One streaming window of a video."""

    #: Video id (the dataset's ``video_id``).
    video_id: str
    #: ``(L,)`` 1-based frame numbers fed to the 3D branch: the real frames,
    #: then the last one repeated up to ``L`` frames.
    frames: np.ndarray
    #: Number of real frames (``1..L``): the key frames of the window.
    num_frames: int


def stream_windows(video_id: str, total_frames: int, clip_len: int,
                   frame_interval: int) -> List[Window]:
    """The streaming windows of one video, in the order the streaming API
    detects them (chunk by chunk, window ``r = 0..p-1`` within a chunk).

    Args:
        video_id (str): Video id, copied into each window.
        total_frames (int): Number of frames of the video.
        clip_len (int): Window length ``L``.
        frame_interval (int): Sampling step ``p``.

    Returns:
        list[Window]: Windows covering each frame ``1..total_frames`` once.

    Example:
        >>> from mmyowo.datasets.window_dataset import stream_windows
        >>> [(w.frames.tolist(), w.num_frames)
        ...  for w in stream_windows('v', 7, clip_len=2, frame_interval=2)]
        [([1, 3], 2), ([2, 4], 2), ([5, 7], 2), ([6, 6], 1)]
    """
    if clip_len < 1 or frame_interval < 1:
        raise ValueError(f'clip_len ({clip_len}) and frame_interval '
                         f'({frame_interval}) must be >= 1')
    if total_frames < 1:
        raise ValueError(f'{video_id}: a video needs at least one frame, '
                         f'got total_frames={total_frames}')
    span = clip_len * frame_interval
    windows = []
    for start in range(1, total_frames + 1, span):
        chunk_end = min(start + span, total_frames + 1)
        for r in range(min(frame_interval, chunk_end - start)):
            real = np.arange(start + r, chunk_end, frame_interval)
            frames = np.full(clip_len, real[-1], dtype=np.int64)
            frames[:len(real)] = real
            windows.append(Window(video_id, frames, len(real)))
    return windows


def window_position(frame: np.ndarray, clip_len: int,
                    frame_interval: int) -> np.ndarray:
    """0-based position in its streaming window of each 1-based ``frame`` (the
    key-frame position the streaming mode gives it)."""
    return ((np.asarray(frame) - 1) %
            (clip_len * frame_interval)) // frame_interval


def clip_sampler_of(dataset: Any) -> Tuple[int, KFRSampleFrames]:
    """The index and the transform of the one ``KFRSampleFrames`` of
    ``dataset.pipeline``.

    Raises:
        ValueError: The dataset has no pipeline, or not exactly one
            ``KFRSampleFrames`` (the windows replace its clip choice, and
            take ``clip_len`` / ``frame_interval`` from it).
    """
    transforms = getattr(
        getattr(dataset, 'pipeline', None), 'transforms', None)
    if transforms is None:
        raise ValueError(f'{type(dataset).__name__} has no pipeline of '
                         'transforms: streaming windows need a dataset '
                         'with a KFRSampleFrames pipeline')
    found = [(i, t) for i, t in enumerate(transforms)
             if isinstance(t, KFRSampleFrames)]
    if len(found) != 1:
        raise ValueError(
            f'the pipeline of {type(dataset).__name__} has '
            f'{len(found)} KFRSampleFrames transforms; streaming windows '
            f'need exactly one (pipeline: '
            f'{[type(t).__name__ for t in transforms]})')
    return found[0]


def partition_videos(frame_counts: Sequence[int],
                     num_parts: int) -> List[range]:
    """Split videos into ``num_parts`` contiguous runs of about equal frame
    totals (a run may be empty).

    Contiguous runs keep the videos in dataset order when the parts'
    results are concatenated, so a distributed run gives exactly what one
    process gives.

    Args:
        frame_counts (sequence[int]): Frames of each video, in order.
        num_parts (int): Number of parts (ranks).

    Returns:
        list[range]: Per part, its video indices.

    Example:
        >>> from mmyowo.datasets.window_dataset import partition_videos
        >>> partition_videos([10, 10, 10, 30], 2)
        [range(0, 3), range(3, 4)]
    """
    if num_parts < 1:
        raise ValueError(f'num_parts must be >= 1, got {num_parts}')
    total = float(sum(frame_counts))
    bounds = [0] * (num_parts + 1)
    done = 0.0
    # Video i goes to the part in which its middle frame falls.
    owner = []
    for count in frame_counts:
        middle = done + count / 2
        owner.append(
            min(num_parts - 1, int(num_parts * middle /
                                   total)) if total else 0)
        done += count
    for part in range(num_parts):
        bounds[part + 1] = bounds[part] + owner.count(part)
    return [range(bounds[p], bounds[p + 1]) for p in range(num_parts)]


class WindowDataset(Dataset):
    """The streaming windows of a key-frame dataset's videos.

    The source is a key-frame dataset (e.g. ``SpatioTemporalActionDataset``
    in test mode) whose samples hold ``video_id``, ``frame_id`` (1-based)
    and ``total_frames``, and whose pipeline has one ``KFRSampleFrames``.
    Each window of :func:`stream_windows` becomes one sample: the source's
    data info of one of its frames, with the window's frames as
    ``frame_inds``, through the source pipeline minus its clip sampler (the
    decoding, resizing and packing transforms apply to the window as to any
    clip). The packed data sample's metainfo gains ``window_frame_ids``
    (the real frames, in window order) and ``window_listed`` (per real
    frame, whether the source lists it as a sample: the frames to report).

    A window all of whose frames the source leaves out (``key_frames=
    'annotated'`` or a ``key_frame_stride``) is skipped; every frame of a
    kept window feeds the 3D branch.

    Args:
        dataset: The source dataset (built).
        video_ids (sequence[str], optional): Only these videos (e.g. one
            rank's share); default all, in dataset order.
        videos (OrderedDict, optional): :meth:`group_by_video` of
            ``dataset``, if already computed.
    """

    def __init__(self,
                 dataset: Any,
                 video_ids: Optional[Sequence[str]] = None,
                 videos: Optional['OrderedDict[str, Tuple[int, Dict]]'] = None
                 ) -> None:
        self.dataset = dataset
        index, sampler = clip_sampler_of(dataset)
        transforms = dataset.pipeline.transforms
        self.clip_len = sampler.clip_len
        self.frame_interval = sampler.frame_interval
        self.transforms: List[BaseTransform] = (
            transforms[:index] + transforms[index + 1:])
        self.videos = self.group_by_video(dataset) \
            if videos is None else videos
        if video_ids is None:
            video_ids = list(self.videos)
        unknown = [v for v in video_ids if v not in self.videos]
        if unknown:
            raise ValueError(f'videos {unknown[:3]} are not in the dataset')
        self.windows: List[Window] = []
        for video in video_ids:
            total, listed = self.videos[video]
            self.windows.extend(
                w for w in stream_windows(
                    video, total, self.clip_len, self.frame_interval) if any(
                        int(f) in listed for f in w.frames[:w.num_frames]))

    @staticmethod
    def group_by_video(dataset: Any) -> 'OrderedDict[str, Tuple[int, Dict]]':
        """Per video id, in dataset order: ``(total_frames, {frame_id: sample
        index})`` of the samples the dataset lists.

        Raises:
            ValueError: A sample lacks ``video_id`` / ``frame_id`` /
                ``total_frames``, or two samples of a video disagree on
                ``total_frames`` or repeat a frame.
        """
        videos: 'OrderedDict[str, Tuple[int, Dict]]' = OrderedDict()
        for idx in range(len(dataset)):
            info = dataset.get_data_info(idx)
            missing = [
                k for k in ('video_id', 'frame_id', 'total_frames')
                if k not in info
            ]
            if missing:
                raise ValueError(
                    f'{type(dataset).__name__} sample {idx} has no '
                    f'{missing}: streaming windows need key-frame samples '
                    'of whole videos (e.g. SpatioTemporalActionDataset)')
            video, frame = str(info['video_id']), int(info['frame_id'])
            total = int(info['total_frames'])
            known_total, listed = videos.setdefault(video, (total, {}))
            if known_total != total or frame in listed \
                    or not 1 <= frame <= total:
                raise ValueError(
                    f'{type(dataset).__name__} sample {idx}: {video} frame '
                    f'{frame} of {total} conflicts with the samples before '
                    f'it (total_frames {known_total}, a repeated frame, or '
                    'a frame outside the video)')
            listed[frame] = idx
        return videos

    def __len__(self) -> int:
        """Number of windows."""
        return len(self.windows)

    def __getitem__(self, idx: int) -> Dict[str, Any]:
        """The packed window ``idx`` (``inputs`` and ``data_samples``)."""
        window = self.windows[idx]
        _, listed = self.videos[window.video_id]
        real = [int(f) for f in window.frames[:window.num_frames]]
        # Any listed frame of the window gives the video's media and shape
        # (identical for all its frames); its boxes are not the window's
        # and are not reported.
        first = next(f for f in real if f in listed)
        info = self.dataset.get_data_info(listed[first])
        info.update(
            frame_id=real[0],
            frame_inds=window.frames - 1 + int(info['start_index']),
            clip_len=self.clip_len,
            frame_interval=self.frame_interval,
            num_clips=1,
            key_frame_index=0)
        for transform in self.transforms:
            info = transform(info)
            if info is None:
                raise ValueError(
                    f'{type(transform).__name__} dropped window {idx} of '
                    f'{window.video_id} (frames {real}); streaming windows '
                    'need every window')
        info['data_samples'].set_metainfo(
            dict(
                window_frame_ids=real,
                window_listed=[f in listed for f in real]))
        return info
