"""Clip-consistent spatial augmentation (paper §4.1).

The paper trains with random horizontal flip, random zoom in 0.5-1.5, spatial
jitter and colour jitter in 0.7-1.3, then resizes to 224x224, with *one* draw
of the parameters per clip ("otherwise the coherence of the action in the
spatio-temporal dimension will be destroyed"). mmaction already provides the
clip-consistent parts, which handle ``gt_bboxes``:

* ``Flip(flip_ratio=0.5)``: one coin per clip; flips ``gt_bboxes`` as
  ``x' = w - x`` (needs the ``modality`` key, which mmaction datasets set).
* ``Resize(scale=(224, 224), keep_ratio=False)``: scales ``gt_bboxes`` and
  multiplies ``scale_factor`` ``(w_scale, h_scale)``.
* ``ColorJitter(brightness=0.3, contrast=0.3, saturation=0.3, hue=0)``: one
  draw of the factors per clip (the order of the adjustments is drawn once
  per transform instance).

This module adds the missing zoom + jitter step, :class:`RandomZoomJitter`.
Recommended training pipeline (after KFRS sampling and decoding)::

    dict(type='RandomZoomJitter', zoom_range=(0.5, 1.5), jitter=0.2),
    dict(type='Resize', scale=(224, 224), keep_ratio=False),
    dict(type='Flip', flip_ratio=0.5),
    dict(type='ColorJitter', brightness=0.3, contrast=0.3, saturation=0.3,
         hue=0),
    dict(type='FormatShape', input_format='NCTHW', collapse=True),
    dict(type='PackActionInputs', meta_keys=(...)),

Zooming before the resize keeps a single resampling of the pixels (the zoom
itself only crops and pads); flipping and colour jitter after it work on the
small 224x224 frames. In such a pipeline ``scale_factor`` relates the zoom
window, not the original frame, to the network input; only test pipelines
(which do not zoom) need it to map predictions back.
"""
from typing import Dict, List, Optional, Sequence, Tuple, Union

import cv2
import numpy as np
from mmaction.registry import TRANSFORMS
from mmcv.transforms import BaseTransform

PadValue = Union[str, float, Sequence[float]]


def zoom_window(img_shape: Tuple[int, int], zoom: float,
                shift: Tuple[float, float]) -> np.ndarray:
    """Integer window of a zoom by ``zoom`` shifted by ``shift``.

    The window has the frame's aspect ratio and ``1 / zoom`` times its size
    (``zoom > 1`` magnifies: the window is a crop; ``zoom < 1`` shrinks: the
    window reaches past the frame, which is padded). Its centre is the frame
    centre moved by ``shift * (w, h)``.

    Args:
        img_shape (tuple[int, int]): ``(h, w)`` of the frame.
        zoom (float): Zoom factor, > 0.
        shift (tuple[float, float]): ``(dx, dy)`` as fractions of ``(w, h)``.

    Returns:
        np.ndarray: ``int64`` ``[x1, y1, x2, y2]`` in frame pixels; may reach
        outside ``[0, w] x [0, h]``.
    """
    if zoom <= 0:
        raise ValueError(f'zoom must be > 0, got {zoom}')
    h, w = img_shape
    win_w = max(1, int(round(w / zoom)))
    win_h = max(1, int(round(h / zoom)))
    x1 = int(round((w - win_w) / 2 + shift[0] * w))
    y1 = int(round((h - win_h) / 2 + shift[1] * h))
    return np.array([x1, y1, x1 + win_w, y1 + win_h], dtype=np.int64)


def crop_and_pad(img: np.ndarray, window: np.ndarray,
                 pad_val: Union[float, np.ndarray]) -> np.ndarray:
    """Cut ``window`` out of ``img``, filling the part outside it.

    Args:
        img (np.ndarray): ``(h, w)`` or ``(h, w, c)`` image.
        window (np.ndarray): ``[x1, y1, x2, y2]`` integer window.
        pad_val (float | np.ndarray): Fill value, scalar or per channel.

    Returns:
        np.ndarray: ``(y2 - y1, x2 - x1[, c])`` image of ``img``'s dtype.
    """
    h, w = img.shape[:2]
    x1, y1, x2, y2 = (int(v) for v in window)
    ix1, iy1 = max(x1, 0), max(y1, 0)
    ix2, iy2 = min(x2, w), min(y2, h)
    if (ix1, iy1, ix2, iy2) == (x1, y1, x2, y2):
        return np.ascontiguousarray(img[y1:y2, x1:x2])
    channels = img.shape[2] if img.ndim == 3 else 1
    if ix1 < ix2 and iy1 < iy2 and channels <= 4:
        # OpenCV pads in one pass; numpy would fill, then copy over it.
        fill = np.broadcast_to(
            np.asarray(pad_val, dtype=np.float64), (channels, ))
        out = cv2.copyMakeBorder(
            img[iy1:iy2, ix1:ix2],
            iy1 - y1,
            y2 - iy2,
            ix1 - x1,
            x2 - ix2,
            cv2.BORDER_CONSTANT,
            value=tuple(fill.tolist()))
        # OpenCV drops a trailing channel axis of length 1.
        return out.reshape((y2 - y1, x2 - x1) + img.shape[2:])
    out = np.empty((y2 - y1, x2 - x1) + img.shape[2:], dtype=img.dtype)
    out[...] = pad_val
    if ix1 < ix2 and iy1 < iy2:
        out[iy1 - y1:iy2 - y1, ix1 - x1:ix2 - x1] = img[iy1:iy2, ix1:ix2]
    return out


def boxes_in_window(bboxes: np.ndarray, window: np.ndarray,
                    min_size: float) -> Tuple[np.ndarray, np.ndarray]:
    """Move boxes into ``window``'s coordinates, clip them, flag survivors.

    Args:
        bboxes (np.ndarray): ``(n, 4)`` xyxy boxes in frame pixels.
        window (np.ndarray): ``[x1, y1, x2, y2]`` window in frame pixels.
        min_size (float): Boxes whose clipped width or height is below it
            are degenerate.

    Returns:
        tuple[np.ndarray, np.ndarray]: The clipped ``(n, 4)`` boxes (of
        ``bboxes``' dtype) in window pixels, and the boolean ``(n,)`` mask of
        the non-degenerate ones.
    """
    x1, y1, x2, y2 = (float(v) for v in window)
    moved = bboxes - np.array([x1, y1, x1, y1], dtype=bboxes.dtype)
    moved[:, 0::2] = np.clip(moved[:, 0::2], 0, x2 - x1)
    moved[:, 1::2] = np.clip(moved[:, 1::2], 0, y2 - y1)
    keep = ((moved[:, 2] - moved[:, 0] >= min_size) &
            (moved[:, 3] - moved[:, 1] >= min_size))
    return moved, keep


@TRANSFORMS.register_module()
class RandomZoomJitter(BaseTransform):
    """Random zoom with spatial jitter, one draw per clip (paper §4.1).

    Draws a zoom factor ``z ~ U(zoom_range)`` and a shift
    ``(dx, dy) ~ U(-jitter, jitter)^2`` once, then cuts the same
    :func:`zoom_window` out of every frame: ``z > 1`` crops (zoom in),
    ``z < 1`` pads (zoom out). The output keeps the window's size; a later
    ``Resize`` brings it to the network input size, so pixels are resampled
    once. Boxes are shifted, clipped to the window, and those narrower or
    lower than ``min_size`` are dropped together with their labels. If a
    draw would drop every box of a clip that has boxes, it is redrawn (up to
    ``max_attempts`` times in all) and finally replaced by the whole frame,
    so that augmentation never turns an annotated key frame into a
    background-only sample.

    Required Keys:

    - imgs (list[np.ndarray]): ``(h, w, c)`` frames of one clip.
    - img_shape (tuple[int, int])
    - gt_bboxes (np.ndarray, optional): ``(n, 4)`` xyxy in frame pixels.
    - gt_labels (np.ndarray, optional): ``(n,)``, required with gt_bboxes.

    Modified Keys:

    - imgs, img_shape, gt_bboxes, gt_labels

    Added Keys:

    - zoom_window (np.ndarray): ``int64`` ``[x1, y1, x2, y2]``, the window
      in the input frame's pixels.

    Args:
        zoom_range (tuple[float, float]): Range of the zoom factor.
            Defaults to (0.5, 1.5) (paper §4.1).
        jitter (float): Maximum shift of the window centre as a fraction of
            the frame size. Defaults to 0.2.
        pad_val (str | float | Sequence[float]): Fill value of the area
            outside the frame: ``'mean'`` (per-channel mean of the clip), a
            scalar or one value per channel. Defaults to ``'mean'``.
        min_size (float): Minimum width and height, in window pixels, of a
            kept box. Defaults to 2.
        max_attempts (int): Draws tried before falling back to the whole
            frame. Defaults to 10.
    """

    def __init__(self,
                 zoom_range: Tuple[float, float] = (0.5, 1.5),
                 jitter: float = 0.2,
                 pad_val: PadValue = 'mean',
                 min_size: float = 2.,
                 max_attempts: int = 10) -> None:
        if len(zoom_range) != 2 or not 0 < zoom_range[0] <= zoom_range[1]:
            raise ValueError('zoom_range must be (low, high) with 0 < low <= '
                             f'high, got {zoom_range}')
        if jitter < 0:
            raise ValueError(f'jitter must be >= 0, got {jitter}')
        if isinstance(pad_val, str) and pad_val != 'mean':
            raise ValueError(
                f"pad_val must be 'mean' or numbers, got {pad_val!r}")
        if max_attempts < 1:
            raise ValueError(f'max_attempts must be >= 1, got {max_attempts}')
        if not min_size > 0:
            # A zero-area box would reach the loss with zero box/class loss.
            raise ValueError(f'min_size must be > 0, got {min_size}')
        self.zoom_range = (zoom_range[0], zoom_range[1])
        self.jitter = jitter
        self.pad_val = pad_val
        self.min_size = min_size
        self.max_attempts = max_attempts

    def _draw_window(self, img_shape: Tuple[int, int]) -> np.ndarray:
        """Draw one zoom / shift crop window ``[x1, y1, x2, y2]``."""
        zoom = np.random.uniform(self.zoom_range[0], self.zoom_range[1])
        shift = np.random.uniform(-self.jitter, self.jitter, size=2)
        return zoom_window(img_shape, zoom, (shift[0], shift[1]))

    def _fill_value(self, imgs: List[np.ndarray]) -> Union[float, np.ndarray]:
        """The padding value: ``pad_val`` or the mean colour of the clip."""
        if not isinstance(self.pad_val, str):
            return np.asarray(self.pad_val, dtype=np.float64)
        # One colour for the whole clip, so padding does not flicker; every
        # 4th pixel per axis estimates it at a 16th of the cost.
        means = np.stack([img[::4, ::4].mean(axis=(0, 1)) for img in imgs])
        return np.round(means.mean(axis=0))

    def _choose_window(self, img_shape: Tuple[int, int],
                       bboxes: Optional[np.ndarray]) -> np.ndarray:
        """A window that keeps at least one box, else the whole image."""
        if bboxes is None or len(bboxes) == 0:
            return self._draw_window(img_shape)
        for _ in range(self.max_attempts):
            window = self._draw_window(img_shape)
            if boxes_in_window(bboxes, window, self.min_size)[1].any():
                return window
        return np.array([0, 0, img_shape[1], img_shape[0]], dtype=np.int64)

    def transform(self, results: Dict) -> Dict:
        """Zoom and jitter every frame of the clip with one window.

        Args:
            results (dict): The result dict with decoded ``imgs``.

        Returns:
            dict: ``results`` with the modified and added keys listed above.
        """
        img_shape = tuple(results['img_shape'])
        bboxes = results.get('gt_bboxes')
        window = self._choose_window(img_shape, bboxes)

        h, w = img_shape
        inside = (
            window[0] >= 0 and window[1] >= 0 and window[2] <= w
            and window[3] <= h)
        fill = 0. if inside else self._fill_value(results['imgs'])
        results['imgs'] = [
            crop_and_pad(img, window, fill) for img in results['imgs']
        ]
        results['img_shape'] = (int(window[3] - window[1]),
                                int(window[2] - window[0]))
        results['zoom_window'] = window
        if bboxes is not None:
            moved, keep = boxes_in_window(bboxes, window, self.min_size)
            results['gt_bboxes'] = moved[keep]
            results['gt_labels'] = results['gt_labels'][keep]
        return results

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(zoom_range={self.zoom_range}, '
                f'jitter={self.jitter}, pad_val={self.pad_val!r}, '
                f'min_size={self.min_size}, '
                f'max_attempts={self.max_attempts})')
