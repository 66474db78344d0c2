"""Key-frame random sampling (KFRS), paper §3.1 eq. 1-3.

YOWO always takes the last frame of a clip as key frame. KFRS lets the key
frame sit at any position ``j`` (1-based) of the clip, which is what makes the
front frames of a stream predictable and multiplies the training samples by
up to ``L`` (paper §3.1).

Notation (paper): a video ``[v_1, ..., v_{L_max}]``, the key frame
``k = k_cur`` in ``[1, L_max]``, clip length ``L``, sampling step ``p``; the
clip is ``[v_{k-(j-1)p}, ..., v_{k+(L-j)p}]``. Eq. 1 (whose second line the
paper misprints as ``>=``) asks the clip to lie inside the video::

    k - (j - 1) p >= 1
    k + (L - j) p <= L_max

which gives eq. 2, clamped by eq. 3 and here also to the clip (``j <= L``)::

    j_min = max(1, L - floor((L_max - k) / p))
    j_max = min(L, floor((k - 1) / p) + 1)

``j_min <= L`` and ``j_max >= 1`` hold by construction, so after the clamps
``j_min <= j_max`` exactly when some valid clip exists. When none exists (the
video is too short around ``k``: fewer than ``L`` frames of ``k``'s phase
modulo ``p``), the bounds cross. Every ``j`` between the crossed bounds,
``[j_max, j_min]``, repeats the same, smallest possible number
``j_min - j_max`` of edge frames (``j - j_max`` at the start plus
``j_min - j`` at the end), so training draws ``j`` uniformly from
``[min(j_min, j_max), max(j_min, j_max)]`` in both cases. Testing takes
``j = j_max`` as in the paper: the latest position whose clip starts inside
the video, i.e. as much past context as the video offers.
"""
from typing import Dict, Tuple

import numpy as np
from mmaction.registry import TRANSFORMS
from mmcv.transforms import BaseTransform

#: ``KFRSampleFrames(key_frame_position=...)``: KFRS or YOWO's last frame.
KEY_FRAME_POSITIONS = ('random', 'last')


def _check_sizes(key_frame: int, total_frames: int, clip_len: int,
                 frame_interval: int) -> None:
    """Raise ``ValueError`` for a bad clip or key frame argument."""
    if clip_len < 1 or frame_interval < 1:
        raise ValueError(f'clip_len ({clip_len}) and frame_interval '
                         f'({frame_interval}) must be >= 1')
    if not 1 <= key_frame <= total_frames:
        raise ValueError(f'key frame {key_frame} is outside [1, '
                         f'total_frames={total_frames}]')


def kfrs_bounds(key_frame: int, total_frames: int, clip_len: int,
                frame_interval: int) -> Tuple[int, int]:
    """Bounds ``(j_min, j_max)`` of the key-frame position, eq. 2-3.

    Args:
        key_frame (int): 1-based key frame number ``k_cur``.
        total_frames (int): Number of frames of the video ``L_max``.
        clip_len (int): Clip length ``L``.
        frame_interval (int): Sampling step ``p``.

    Returns:
        tuple[int, int]: ``(j_min, j_max)``, both in ``[1, L]``. They satisfy
        ``j_min <= j_max`` iff a clip inside the video exists; then every
        ``j`` in ``[j_min, j_max]`` gives one and no other ``j`` does.
    """
    _check_sizes(key_frame, total_frames, clip_len, frame_interval)
    j_min = clip_len - (total_frames - key_frame) // frame_interval
    j_max = (key_frame - 1) // frame_interval + 1
    return max(1, j_min), min(clip_len, j_max)


def kfrs_position_range(key_frame: int,
                        total_frames: int,
                        clip_len: int,
                        frame_interval: int,
                        test_mode: bool = False) -> Tuple[int, int]:
    """Inclusive range of key-frame positions ``j`` the sampler may choose.

    Training: ``[j_min, j_max]`` (eq. 3), or the crossed bounds swapped
    when the video is too short (see the module docstring). Testing:
    ``[j_max, j_max]``.

    Args:
        key_frame (int): 1-based key frame number ``k_cur``.
        total_frames (int): Number of frames of the video ``L_max``.
        clip_len (int): Clip length ``L``.
        frame_interval (int): Sampling step ``p``.
        test_mode (bool): Whether to return the deterministic test choice.

    Returns:
        tuple[int, int]: ``(low, high)`` with ``1 <= low <= high <= L``.
    """
    j_min, j_max = kfrs_bounds(key_frame, total_frames, clip_len,
                               frame_interval)
    if test_mode:
        return j_max, j_max
    return min(j_min, j_max), max(j_min, j_max)


def kfrs_clip_frames(key_frame: int, position: int, total_frames: int,
                     clip_len: int, frame_interval: int) -> np.ndarray:
    """1-based frame numbers of the clip whose ``position``-th frame is ``k``.

    Implements ``[v_{k-(j-1)p}, ..., v_{k+(L-j)p}]`` (§3.1); numbers outside
    ``[1, L_max]`` are clamped, i.e. the edge frame is repeated.

    Args:
        key_frame (int): 1-based key frame number ``k_cur``.
        position (int): 1-based key-frame position ``j`` in ``[1, L]``.
        total_frames (int): Number of frames of the video ``L_max``.
        clip_len (int): Clip length ``L``.
        frame_interval (int): Sampling step ``p``.

    Returns:
        np.ndarray: ``int64`` array of shape ``(L,)``.
    """
    _check_sizes(key_frame, total_frames, clip_len, frame_interval)
    if not 1 <= position <= clip_len:
        raise ValueError(f'key-frame position {position} is outside [1, '
                         f'clip_len={clip_len}]')
    offsets = (np.arange(1, clip_len + 1, dtype=np.int64) - position)
    frames = key_frame + offsets * frame_interval
    return np.clip(frames, 1, total_frames)


@TRANSFORMS.register_module()
class KFRSampleFrames(BaseTransform):
    """Sample one clip around a given key frame (KFRS, paper §3.1).

    Training draws the key-frame position ``j`` uniformly from
    :func:`kfrs_position_range` (eq. 3) so that every position of the clip
    is a key frame equally often; testing uses ``j = j_max``.

    ``key_frame_position='last'`` turns KFRS off: the key frame is always the
    last clip frame (``j = L``), training and testing, the clip's frames
    before the start of the video repeating the first one. That is YOWO's
    sampling, the ablation of the paper's claim (README, "Accuracy by
    key-frame position") and what per-frame inference
    (:class:`~mmyowo.apis.YOWOVideoDetector`) feeds a model.

    Required Keys:

    - frame_id (int): 1-based key frame number.
    - total_frames (int): Number of frames of the video.
    - start_index (int): Index of the first frame for the decoder (1 for
      rawframes named from ``00001``, 0 for videos).

    Added Keys:

    - frame_inds (np.ndarray): ``int64`` ``(L,)``, 0-based frame positions
      plus ``start_index`` (the convention of mmaction's ``RawFrameDecode``
      and ``DecordDecode``).
    - clip_len (int)
    - frame_interval (int)
    - num_clips (int): Always 1.
    - key_frame_index (int): 0-based position of the key frame in the clip
      (``j - 1``).

    Args:
        clip_len (int): Clip length ``L``.
        frame_interval (int): Sampling step ``p``. Defaults to 1.
        test_mode (bool): Use the deterministic test position ``j_max``.
            Defaults to False.
        key_frame_position (str): ``'random'`` (KFRS, default) or
            ``'last'`` (YOWO: always ``j = L``, see above).

    Example:
        >>> import numpy as np
        >>> from mmyowo.datasets.transforms import KFRSampleFrames
        >>> test = KFRSampleFrames(clip_len=4, frame_interval=2,
        ...                        test_mode=True)
        >>> results = test(dict(frame_id=10, total_frames=40, start_index=1))
        >>> results['frame_inds'], results['key_frame_index']
        (array([ 4,  6,  8, 10]), 3)
        >>> # Frame 2 cannot end a clip: it becomes the clip's first frame.
        >>> results = test(dict(frame_id=2, total_frames=40, start_index=1))
        >>> results['frame_inds'], results['key_frame_index']
        (array([2, 4, 6, 8]), 0)
        >>> # Training: every position the video allows, equally often.
        >>> np.random.seed(0)
        >>> train = KFRSampleFrames(clip_len=4, frame_interval=2)
        >>> sorted({
        ...     train(dict(frame_id=10, total_frames=40,
        ...                start_index=1))['key_frame_index']
        ...     for _ in range(100)})
        [0, 1, 2, 3]
        >>> # YOWO's sampling: the key frame last, the video start repeated.
        >>> last = KFRSampleFrames(clip_len=4, frame_interval=2,
        ...                        key_frame_position='last')
        >>> results = last(dict(frame_id=2, total_frames=40, start_index=1))
        >>> results['frame_inds'], results['key_frame_index']
        (array([1, 1, 1, 2]), 3)
    """

    def __init__(self,
                 clip_len: int,
                 frame_interval: int = 1,
                 test_mode: bool = False,
                 key_frame_position: str = 'random') -> None:
        if clip_len < 1 or frame_interval < 1:
            raise ValueError(f'clip_len ({clip_len}) and frame_interval '
                             f'({frame_interval}) must be >= 1')
        if key_frame_position not in KEY_FRAME_POSITIONS:
            raise ValueError(f'key_frame_position must be one of '
                             f'{KEY_FRAME_POSITIONS}, got '
                             f'{key_frame_position!r}')
        self.key_frame_position = key_frame_position
        self.clip_len = clip_len
        self.frame_interval = frame_interval
        self.test_mode = test_mode

    def transform(self, results: Dict) -> Dict:
        """Choose the key-frame position and the clip's frame indices.

        Args:
            results (dict): The result dict of the dataset.

        Returns:
            dict: ``results`` with the added keys listed above.
        """
        key_frame = int(results['frame_id'])
        total_frames = int(results['total_frames'])
        if not 1 <= key_frame <= total_frames:
            raise ValueError(
                f'{results.get("video_id", "<unknown video>")}: key frame '
                f'{key_frame} is outside [1, total_frames={total_frames}]')
        if self.key_frame_position == 'last':
            low = high = self.clip_len
        else:
            low, high = kfrs_position_range(key_frame, total_frames,
                                            self.clip_len, self.frame_interval,
                                            self.test_mode)
        position = low if low == high else int(
            np.random.randint(low, high + 1))
        frames = kfrs_clip_frames(key_frame, position, total_frames,
                                  self.clip_len, self.frame_interval)
        results['frame_inds'] = frames - 1 + int(results['start_index'])
        results['clip_len'] = self.clip_len
        results['frame_interval'] = self.frame_interval
        results['num_clips'] = 1
        results['key_frame_index'] = position - 1
        return results

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(clip_len={self.clip_len}, '
                f'frame_interval={self.frame_interval}, '
                f'test_mode={self.test_mode}, '
                f'key_frame_position={self.key_frame_position!r})')
