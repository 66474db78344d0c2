"""Per-frame preprocessing of video inference, derived from the config.

Inference reads a video front to back and preprocesses every frame once,
although a frame enters up to ``L`` clips (docs/architecture.md). This
module turns a config's test pipeline and the model's data preprocessor
into that per-frame step, so that the clip tensor fed to the network is the
one ``Compose(cfg.test_pipeline)`` and ``model.data_preprocessor`` give for
the same frames:

- the pipeline is built with mmaction's ``TRANSFORMS`` and read by the type
  of each built transform, not by its name in the config;
- the frame sampler (``KFRSampleFrames``, ``SampleFrames``, ...) gives the
  clip length and the sampling step;
- decoders (rawframes, video files) only supply the RGB ``uint8`` frames
  that the video reader supplies here;
- the pipeline's own ``Resize`` objects resize every frame (so the size,
  ``keep_ratio`` and interpolation are the pipeline's) and give the
  ``img_shape`` / ``scale_factor`` metas;
- ``FormatShape`` (``NCTHW``, collapsed) and ``PackActionInputs`` fix the
  ``[3, L, H, W]`` layout the clip buffers have;
- the data preprocessor's ``to_rgb``, ``mean`` and ``std`` are applied as
  its ``preprocess`` does (same float32 operations, same order).

Any other transform (a crop, a flip, a lazy resize, an unknown type) is
refused with an error naming it: it cannot be reproduced per frame, and
ignoring it would feed the network other inputs than in testing.
"""
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch
import torch.nn as nn
from mmaction.datasets.transforms import (DecordDecode, DecordInit,
                                          FormatShape, OpenCVDecode,
                                          OpenCVInit, PackActionInputs,
                                          PyAVDecode, PyAVInit, RawFrameDecode,
                                          Resize, SampleFrames)
from mmaction.registry import MODELS, TRANSFORMS
from mmengine.config import Config
from torch import Tensor

from mmyowo.datasets.transforms import KFRSampleFrames, VideoDecode

#: Used where neither the arguments nor the config's test pipeline say
#: (a model-only config): 16-frame clips, step 1, and mmaction's ``Resize``
#: to 224x224 (bilinear) of the shipped configs.
DEFAULT_SETTINGS = dict(clip_len=16, frame_interval=1, input_size=(224, 224))

#: Transforms that produce the clip's RGB ``uint8`` frames (decoders and
#: their openers): the video reader takes their place.
_DECODERS = (RawFrameDecode, VideoDecode, DecordInit, DecordDecode, OpenCVInit,
             OpenCVDecode, PyAVInit, PyAVDecode)


def find_test_pipeline(cfg: Config) -> List[dict]:
    """The test (else val) pipeline of a config, or ``[]``."""
    if cfg.get('test_pipeline'):
        return list(cfg.test_pipeline)
    for loader in ('test_dataloader', 'val_dataloader'):
        dataset = (cfg.get(loader) or {}).get('dataset')
        # Wrappers (RepeatDataset, ...) nest the real dataset.
        while dataset is not None:
            if dataset.get('pipeline'):
                return list(dataset['pipeline'])
            dataset = dataset.get('dataset')
    return []


def preprocessor_normalization(
    preprocessor: nn.Module
) -> Tuple[Optional[Tensor], Optional[Tensor], bool]:
    """``(mean, std, to_rgb)`` of an ``ActionDataPreprocessor``.

    ``mean`` / ``std`` are ``(3, 1, 1)`` float tensors, ``None`` where the
    preprocessor does not normalise. ``to_rgb`` says whether it swaps the
    channel order of its inputs.
    """
    mean = getattr(preprocessor, 'mean', None)
    std = getattr(preprocessor, 'std', None)
    if (mean is None) != (std is None):
        raise ValueError(
            f'{type(preprocessor).__name__} has a mean but no std, or a std '
            'but no mean: cannot normalise as it does')
    if mean is not None and std is not None:
        mean = mean.detach().float().reshape(-1, 1, 1)
        std = std.detach().float().reshape(-1, 1, 1)
    return mean, std, bool(getattr(preprocessor, 'to_rgb', False))


def _refuse(where: str, transform: Any, why: str) -> ValueError:
    """The error for a test-pipeline transform that cannot be reproduced."""
    return ValueError(
        f'{where}: {type(transform).__name__} {why}; the video inference '
        'API reproduces only frame samplers, decoders, Resize (not lazy), '
        "FormatShape('NCTHW', collapse=True) and PackActionInputs")


def _read_pipeline(pipeline: Sequence[dict],
                   where: str) -> Tuple[Dict[str, int], List[Resize]]:
    """Build ``pipeline`` and split it into clip settings and resizes."""
    settings: Dict[str, int] = {}
    resizes: List[Resize] = []
    for position, spec in enumerate(pipeline):
        transform = TRANSFORMS.build(spec)
        at = f'{where}, transform {position}'
        if isinstance(transform, (KFRSampleFrames, SampleFrames)):
            if getattr(transform, 'num_clips', 1) != 1:
                raise _refuse(at, transform, 'samples several clips')
            settings['clip_len'] = int(transform.clip_len)
            settings['frame_interval'] = int(transform.frame_interval)
        elif isinstance(transform, Resize):
            if transform.lazy:
                raise _refuse(at, transform, 'is lazy (needs Fuse)')
            resizes.append(transform)
        elif isinstance(transform, FormatShape):
            if transform.input_format != 'NCTHW' or not transform.collapse:
                raise _refuse(
                    at, transform,
                    f'has input_format={transform.input_format!r}, '
                    f'collapse={transform.collapse}')
        elif not isinstance(transform, _DECODERS + (PackActionInputs, )):
            raise _refuse(
                at, transform, 'acts on the pixels in a way it '
                'cannot reproduce per frame')
    return settings, resizes


def _output_size(resizes: Sequence[Resize]) -> Optional[Tuple[int, int]]:
    """``(h, w)`` after the resizes if independent of the frame size."""
    if not any(not r.keep_ratio for r in resizes):
        return None
    # Resize without ``imgs`` only computes the shapes.
    probe: Dict[str, Any] = dict(img_shape=(1, 1))
    for resize in resizes:
        probe = resize.transform(probe)
    return int(probe['img_shape'][0]), int(probe['img_shape'][1])


class FramePreprocessor:
    """Resize and normalise single frames as the test pipeline does.

    Build it with :meth:`from_config`. Calling it on one ``(h, w, 3)`` RGB
    ``uint8`` frame writes the network input of that frame, the frame's
    slot of a ``[3, L, H, W]`` clip: exactly the values that the config's
    test pipeline and the data preprocessor give for it.

    Args:
        resizes (sequence[Resize]): mmaction ``Resize`` transforms applied
            in order (not lazy); together they must give ``input_size``.
        input_size (tuple[int, int]): Network input ``(h, w)``.
        data_preprocessor (nn.Module): The model's
            ``ActionDataPreprocessor`` (``NCTHW``).
        device (torch.device | str): Device of the written tensors.

    Attributes:
        input_size (tuple[int, int]): Network input ``(h, w)``.
        mean, std (Tensor | None): ``(3, 1, 1)`` normalisation on ``device``.
        to_rgb (bool): Whether the channels are swapped.
    """

    def __init__(self,
                 resizes: Sequence[Resize],
                 input_size: Sequence[int],
                 data_preprocessor: nn.Module,
                 device: Union[torch.device, str] = 'cpu') -> None:
        # From the registry: importing mmaction.models fails in mmaction
        # 1.2.0 (its localizers package is incomplete).
        action_preprocessor = MODELS.get('mmaction.ActionDataPreprocessor')
        if not isinstance(data_preprocessor, action_preprocessor):
            raise TypeError(
                f'{type(data_preprocessor).__name__}: the video inference API '
                'reproduces only an ActionDataPreprocessor')
        if data_preprocessor.format_shape not in ('NCTHW', 'MIX2d3d'):
            raise ValueError(
                f'ActionDataPreprocessor has format_shape='
                f'{data_preprocessor.format_shape!r}; clips are NCTHW')
        self.resizes = list(resizes)
        self.input_size = (int(input_size[0]), int(input_size[1]))
        self.device = torch.device(device)
        mean, std, self.to_rgb = preprocessor_normalization(data_preprocessor)
        self.mean = None if mean is None else mean.to(self.device)
        self.std = None if std is None else std.to(self.device)

    @classmethod
    def from_config(
        cls,
        cfg: Optional[Config],
        data_preprocessor: nn.Module,
        input_size: Optional[Sequence[int]] = None,
        device: Union[torch.device, str] = 'cpu'
    ) -> Tuple['FramePreprocessor', Dict[str, int]]:
        """Derive the per-frame step and the clip settings from a config.

        Args:
            cfg (Config, optional): A full config; without a test pipeline
                (or without a config) :data:`DEFAULT_SETTINGS` apply.
            data_preprocessor (nn.Module): The model's data preprocessor.
            input_size (tuple[int, int], optional): Overrides the pipeline's
                size: one ``Resize`` to ``(h, w)`` (``keep_ratio=False``)
                with the interpolation of the pipeline's last ``Resize``
                (bilinear without one) replaces the pipeline's resizes.
            device (torch.device | str): Device of the written tensors.

        Returns:
            tuple: The preprocessor and the pipeline's ``clip_len`` /
            ``frame_interval`` (those the pipeline fixes).

        Raises:
            ValueError: The pipeline holds a transform that cannot be
                reproduced per frame (named), or its resizes do not fix the
                input size and no ``input_size`` is given.
        """
        pipeline = find_test_pipeline(cfg) if cfg is not None else []
        where = f'{(cfg.filename if cfg is not None else None) or "config"}' \
            ' test pipeline'
        settings, resizes = _read_pipeline(pipeline, where)
        size = _output_size(resizes)
        if input_size is not None:
            interpolation = resizes[-1].interpolation if resizes \
                else 'bilinear'
            if len(input_size) != 2 or not all(
                    isinstance(s, (int, np.integer)) and s > 0
                    for s in input_size):
                raise ValueError(f'input_size must be (h, w), two positive '
                                 f'ints, got {tuple(input_size)}')
            h, w = int(input_size[0]), int(input_size[1])
            resizes = [
                Resize(
                    scale=(w, h),
                    keep_ratio=False,
                    interpolation=interpolation)
            ]
            size = (h, w)
        elif not pipeline:
            h, w = DEFAULT_SETTINGS['input_size']  # type: ignore[misc]
            resizes = [Resize(scale=(w, h), keep_ratio=False)]
            size = (h, w)
        elif size is None:
            raise ValueError(
                f'{where}: no Resize with keep_ratio=False, so the input '
                'size depends on the video; pass input_size (h, w)')
        return cls(resizes, size, data_preprocessor, device), settings

    def __call__(self,
                 frame: np.ndarray,
                 out: Optional[Tensor] = None) -> Tuple[Tensor, dict]:
        """Resize and normalise one RGB frame.

        Args:
            frame (np.ndarray): ``(h, w, 3)`` RGB ``uint8``.
            out (Tensor, optional): ``(3, H, W)`` float32 tensor (typically a
                slot of a clip buffer) to write into, avoiding a copy.

        Returns:
            tuple: The ``(3, H, W)`` network input and its metas
            (``ori_shape``, ``img_shape``, ``scale_factor`` ``(w, h)``, as
            the pipeline's ``Resize`` sets them).
        """
        h, w = frame.shape[:2]
        results: Dict[str, Any] = dict(imgs=[frame], img_shape=(h, w))
        for resize in self.resizes:
            results = resize.transform(results)
        image = results['imgs'][0]
        if tuple(image.shape[:2]) != self.input_size:
            raise ValueError(
                f'the test pipeline resized a {h}x{w} frame to '
                f'{image.shape[0]}x{image.shape[1]}, not the input size '
                f'{self.input_size[0]}x{self.input_size[1]}')
        pixels = torch.from_numpy(np.ascontiguousarray(image)).to(
            self.device).permute(2, 0, 1)
        if self.to_rgb:
            pixels = pixels.flip(0)
        if out is None:
            out = torch.empty((3, *self.input_size),
                              dtype=torch.float32,
                              device=self.device)
        # As ActionDataPreprocessor.preprocess: float32 (x - mean) / std.
        out.copy_(pixels)
        if self.mean is not None and self.std is not None:
            out.sub_(self.mean).div_(self.std)
        scale = results['scale_factor']
        meta = dict(
            ori_shape=(h, w),
            img_shape=self.input_size,
            scale_factor=(float(scale[0]), float(scale[1])))
        return out, meta
