"""Optimized inference of a YOWO model: the same answers, faster.

:func:`optimize_for_inference` turns a model into an eval-mode inference
copy with up to three changes, each an explicit option of
:class:`InferenceOptions`:

* **Conv + BN folding** (:func:`fuse_conv_bn`, on by default). An eval-mode
  BN is an affine map per channel, ``y = gamma (x - mu) / sqrt(var + eps) +
  beta``, so after a convolution ``x = W * z + b`` it folds into the
  convolution: ``W' = W gamma / sqrt(var + eps)``, ``b' = (b - mu) gamma /
  sqrt(var + eps) + beta``. One pass over the feature map less per layer;
  the result is the same function up to float rounding (measured in
  tests/deploy/test_optimize.py and the README).
* **Channels-last memory format** (:func:`resolve_channels_last`): the
  2D convolutions' weights in ``torch.channels_last``, the 3D ones in
  ``torch.channels_last_3d``; the convolutions then produce channels-last
  maps, which cuDNN's tensor-core kernels prefer. Same values, another
  memory order.
* **Reduced precision** (``dtype='fp16'`` / ``'bf16'``, CUDA only):
  :meth:`OptimizedModel.autocast` runs the network under
  ``torch.autocast``; the head's decoding, thresholds and NMS stay in fp32
  (:meth:`mmyowo.models.dense_heads.YOWOHead.predict_by_feat` casts the
  maps back). Never silent: the option is named in
  :meth:`OptimizedModel.describe`, which the demo prints. Refused on the
  CPU (see :func:`check_dtype`).

The caller's model is not modified (unless ``inplace=True``): folding
removes the BN layers and their statistics, so the folded copy can neither
be trained nor load a checkpoint of the unfolded model. Load weights first,
then optimize.
"""
import copy
from contextlib import nullcontext
from dataclasses import dataclass
from typing import ContextManager, Optional, Tuple, Union

import torch
import torch.nn as nn
from mmcv.cnn import ConvModule
from torch.nn.modules.batchnorm import _BatchNorm
from torch.nn.utils.fusion import fuse_conv_bn_eval

#: Precision names accepted by :class:`InferenceOptions` and their dtypes.
DTYPES = {'fp32': None, 'fp16': torch.float16, 'bf16': torch.bfloat16}

#: The convolutions whose BN is folded: ``torch.nn.utils.fusion`` handles
#: every non-transposed one (the weight's output channels first).
FOLDABLE_CONVS = (nn.Conv1d, nn.Conv2d, nn.Conv3d)


@dataclass(frozen=True)
class InferenceOptions:
    """What :func:`optimize_for_inference` changes.

    Args:
        fuse (bool): Fold every eval-mode BN into the convolution before it
            (:func:`fuse_conv_bn`).
        channels_last (bool | str): Channels-last weights (2D) and
            channels-last-3d weights (3D). ``'auto'`` (default): on CUDA
            only, see :func:`resolve_channels_last`.
        dtype (str): ``'fp32'`` (default), ``'fp16'`` or ``'bf16'``: the
            ``torch.autocast`` precision of the network, CUDA only
            (:func:`check_dtype`).
    """

    fuse: bool = True
    channels_last: Union[bool, str] = 'auto'
    dtype: str = 'fp32'

    def __post_init__(self) -> None:
        if self.dtype not in DTYPES:
            raise ValueError(f'dtype must be one of {sorted(DTYPES)}, got '
                             f'{self.dtype!r}')
        if self.channels_last not in (True, False, 'auto'):
            raise ValueError('channels_last must be True, False or "auto", '
                             f'got {self.channels_last!r}')


def check_dtype(dtype: str, device: Union[str, torch.device]) -> None:
    """Refuse a reduced precision where it is not supported.

    fp16 and bf16 run on CUDA only. On the CPU, fp16 is refused (autocast's
    CPU fp16 convolutions are no faster), and so is bf16: under CPU bf16
    autocast the per-prior boxes of a small YOWO with non-trivial BN
    statistics moved by up to 9.2 px (a fifth of the box size) and its
    scores by 0.036 on a ucf24-mini clip (tests/deploy/test_optimize.py),
    and on this machine's CPU (no AVX512-BF16 / AMX) it ran about 12 times
    slower than fp32: answers that differ, for no gain. The model does run
    under CPU bf16 autocast (training, predict), which the same tests
    check.

    Raises:
        ValueError: For an unknown name, or fp16 / bf16 off CUDA.
    """
    if dtype not in DTYPES:
        raise ValueError(f'dtype must be one of {sorted(DTYPES)}, got '
                         f'{dtype!r}')
    device_type = torch.device(device).type
    if dtype != 'fp32' and device_type != 'cuda':
        raise ValueError(
            f'dtype {dtype!r} is supported on CUDA only, the model is on '
            f'{device_type!r}: reduced precision on the CPU changes the '
            'detections without being faster; use dtype="fp32"')


def resolve_channels_last(channels_last: Union[bool, str],
                          device: Union[str, torch.device]) -> bool:
    """The ``channels_last`` of :class:`InferenceOptions` on ``device``.

    ``'auto'`` is ``True`` on CUDA, whose cuDNN convolutions (tensor cores
    above all, in fp16 / bf16) work channels-last and otherwise transpose
    every map, and ``False`` elsewhere: on the CPU channels-last gave the
    folded full YOWO-Plus no measurable gain (16 x 224 x 224 clip, one
    thread, best of 5 interleaved runs: 2D branch 0.99x, 3D branch 1.03x
    the NCHW time, whole model between 0.91x and 1.13x from run to run;
    README, "Optimized inference"), so the CPU keeps the eager layout.
    """
    if channels_last == 'auto':
        return torch.device(device).type == 'cuda'
    return bool(channels_last)


def fold_conv_module(module: ConvModule) -> bool:
    """Fold the BN of one mmcv ``ConvModule`` into its convolution, in place;
    return whether it did.

    A ``ConvModule`` applies its layers in ``order`` (``conv, norm, act``
    by default): only a BN that directly follows a foldable convolution and
    is in eval mode is folded. The BN is replaced by ``nn.Identity`` and
    ``with_norm`` cleared, so the module's forward skips it.
    """
    if not (module.with_norm and isinstance(module.conv, FOLDABLE_CONVS)
            and isinstance(module.norm, _BatchNorm)):
        return False
    order = module.order
    if order.index('norm') != order.index('conv') + 1:
        return False
    if module.norm.training or not module.norm.track_running_stats:
        # A training-mode BN (or one without running statistics) normalises
        # with the batch's own statistics: not an affine map to fold.
        return False
    module.conv = fuse_conv_bn_eval(module.conv, module.norm)
    setattr(module, module.norm_name, nn.Identity())
    module.with_norm = False
    return True


def fold_sequential(module: nn.Sequential) -> int:
    """Fold every ``(conv, eval-mode BN)`` pair of adjacent children of an
    ``nn.Sequential``, in place; return how many were folded."""
    folded = 0
    names = list(module._modules)
    for first, second in zip(names, names[1:]):
        conv, norm = module._modules[first], module._modules[second]
        if (isinstance(conv, FOLDABLE_CONVS) and isinstance(norm, _BatchNorm)
                and not norm.training and norm.track_running_stats):
            module._modules[first] = fuse_conv_bn_eval(conv, norm)
            module._modules[second] = nn.Identity()
            folded += 1
    return folded


def fuse_conv_bn(model: nn.Module) -> int:
    """Fold every eval-mode BN that follows a convolution into it, in place.

    Covers mmcv's ``ConvModule`` (CSPDarknet53, the neck, the head and
    mmaction's ``ResNet3d`` use it for every convolution) and adjacent
    ``(conv, BN)`` children of an ``nn.Sequential``.

    Args:
        model (nn.Module): A model in eval mode.

    Returns:
        int: The number of BN layers folded.

    Raises:
        ValueError: If ``model`` is in training mode: a folded model cannot
            be trained, and folding a model in the middle of its training
            (whose frozen branches keep eval-mode BNs) would silently
            remove layers from it. Fold an eval-mode copy.
    """
    if model.training:
        raise ValueError('fuse_conv_bn folds eval-mode models only; fold a '
                         'copy: copy.deepcopy(model).eval()')
    folded = 0
    for module in model.modules():
        if isinstance(module, ConvModule):
            folded += fold_conv_module(module)
        elif isinstance(module, nn.Sequential):
            folded += fold_sequential(module)
    return folded


def to_channels_last(model: nn.Module) -> int:
    """Put the weight of every 2D convolution in ``torch.channels_last`` and of
    every 3D one in ``torch.channels_last_3d``, in place; return how many
    convolutions changed.

    ``nn.Module.to(memory_format=...)`` cannot do both: a 4D format on a
    5D weight is an error.
    """
    formats = {4: torch.channels_last, 5: torch.channels_last_3d}
    changed = 0
    for module in model.modules():
        if isinstance(module, (nn.Conv2d, nn.Conv3d)):
            weight = module.weight
            # ``.data``: the same Parameter object, only its memory order
            # changes (an optimizer or hook holding it stays valid).
            weight.data = weight.data.contiguous(
                memory_format=formats[weight.dim()])
            changed += 1
    return changed


@dataclass
class OptimizedModel:
    """An inference copy made by :func:`optimize_for_inference`.

    Attributes:
        model (nn.Module): The model, in eval mode.
        options (InferenceOptions): The options asked for.
        channels_last (bool): Whether channels-last was applied
            (``'auto'`` resolved).
        num_folded (int): BN layers folded.
    """

    model: nn.Module
    options: InferenceOptions
    channels_last: bool
    num_folded: int

    @property
    def device(self) -> torch.device:
        """The device of the model's parameters."""
        return next(self.model.parameters()).device

    def autocast(self) -> ContextManager:
        """The context to run the network in: ``torch.autocast`` for fp16 /
        bf16, else a no-op."""
        dtype = DTYPES[self.options.dtype]
        if dtype is None:
            return nullcontext()
        return torch.autocast(device_type=self.device.type, dtype=dtype)

    def describe(self) -> str:
        """A one-line account of the changes, e.g. for a log."""
        fused = f'conv+BN folded ({self.num_folded} BN)' \
            if self.options.fuse else 'no folding'
        layout = 'channels-last' if self.channels_last else 'NCHW'
        return f'{fused}, {layout}, {self.options.dtype}'


def optimize_for_inference(model: nn.Module,
                           options: Optional[InferenceOptions] = None,
                           inplace: bool = False) -> OptimizedModel:
    """Make an eval-mode inference model (see the module docstring).

    Args:
        model (nn.Module): A model with its final weights (e.g. from
            :func:`mmyowo.apis.init_detector`).
        options (InferenceOptions, optional): Defaults to
            ``InferenceOptions()``: folding, channels-last on CUDA only,
            fp32.
        inplace (bool): Change ``model`` itself instead of a deep copy
            (saves the memory of a copy; the model can then no longer be
            trained or load an unfolded checkpoint).

    Returns:
        OptimizedModel: The model and the autocast context to run it in.

    Raises:
        ValueError: A reduced precision off CUDA (:func:`check_dtype`).
    """
    options = options or InferenceOptions()
    device = next(model.parameters()).device
    check_dtype(options.dtype, device)
    channels_last = resolve_channels_last(options.channels_last, device)
    if not inplace:
        model = copy.deepcopy(model)
    model.eval()
    folded = fuse_conv_bn(model) if options.fuse else 0
    if channels_last:
        to_channels_last(model)
    return OptimizedModel(model, options, channels_last, folded)


def unfolded_pairs(model: nn.Module) -> Tuple[str, ...]:
    """Names of the BN layers directly following a convolution that are still
    in ``model`` (in a ``ConvModule`` or an ``nn.Sequential``)."""
    names = []
    for name, module in model.named_modules():
        if isinstance(module, ConvModule):
            if module.with_norm and isinstance(module.norm, _BatchNorm):
                names.append(f'{name}.{module.norm_name}')
        elif isinstance(module, nn.Sequential):
            children = list(module.named_children())
            for (_, conv), (child, norm) in zip(children, children[1:]):
                if isinstance(conv, FOLDABLE_CONVS) and isinstance(
                        norm, _BatchNorm):
                    names.append(f'{name}.{child}')
    return tuple(names)
