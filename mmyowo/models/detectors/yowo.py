"""The YOWO-Plus detector (paper §3, eq. 4)."""
from contextlib import nullcontext
from typing import Dict, Iterable, List, Optional, Sequence, Tuple, Union

import torch
from mmaction.registry import MODELS
from mmengine.model import BaseModel, BaseModule
from mmengine.structures import InstanceData
from torch import Tensor

from ..utils import Renormalize, load_pretrained, pop_pretrained_cfg

#: torch's messages for a pooling / conv window longer than its input (the
#: clip is shorter than a 3D backbone's temporal downsampling).
TOO_SHORT_ERRORS = ('Output size is too small',
                    "Kernel size can't be greater than actual input size")


@MODELS.register_module()
class YOWO(BaseModel):
    """One-stage spatio-temporal action detector: ``p_j = f_fuse(f_2d(x_j),
    f_3d(x_1..x_L))`` (eq. 4).

    The 3D branch (any mmaction 3D backbone + ``neck_3d``) reads the whole
    clip; the 2D branch reads the key frame ``x_j`` whose 0-based clip position
    is each sample's ``key_frame_index`` metainfo (required in ``loss`` and
    ``predict``; ``mode='tensor'`` without samples takes the last frame,
    ``L - 1``, as YOWO does). The fusion neck and the head then predict the
    boxes and action classes of the key frame.

    Args:
        backbone_2d (dict): 2D backbone returning the levels of strides
            8/16/32 (e.g. ``CSPDarknet53``).
        neck (dict): Fusion neck (``STMFusionFPN``).
        bbox_head (dict): Head (``YOWOHead``).
        backbone_3d (dict, optional): 3D backbone (e.g. mmaction's
            ``ResNet3d``). ``None`` gives a 2D-only detector.
        neck_3d (dict, optional): Time-collapsing neck (``I3DNeck``).
        train_cfg (dict, optional): Passed to the head.
        test_cfg (dict, optional): Passed to the head.
        data_preprocessor (dict, optional): Defaults to mmaction's
            ``ActionDataPreprocessor`` with ``format_shape='NCTHW'``.
        input_2d (dict, optional): The 2D branch's own input normalisation,
            ``dict(mean=..., std=..., flip_channels=False)``, for a 2D branch
            pretrained on other inputs than the 3D branch: the key frames
            are mapped from the data preprocessor's normalisation to this
            one (:class:`~mmyowo.models.utils.Renormalize`), e.g.
            ``dict(mean=[123.675, 116.28, 103.53], std=[58.395, 57.12,
            57.375])`` for torchvision's ImageNet models (the tiny configs'
            MobileNetV3-Large), ``dict(mean=[0, 0, 0], std=[1, 1, 1],
            flip_channels=True)`` for mmdet's YOLOX (raw BGR pixels).
            ``None``: both branches read the preprocessed frames.
        frames_3d (int, optional): Frames the 3D branch reads: that many,
            evenly spaced over the clip and ending with its last frame
            (stride ``L // frames_3d``; all ``L`` frames if fewer). For a 3D
            branch trained on sparsely sampled clips (X3D: 13 frames, one
            in 6) and to cut its cost. ``None``: the whole clip.
        train_channels_last_3d (bool): In training mode, give the 3D branch
            its clips in the ``torch.channels_last_3d`` memory order
            (NDHWC), so that its convolutions work channels-last: on the CPU
            oneDNN runs the backward pass of narrow 3D convolutions (a few
            channels on large maps) faster so. A training step of the
            synthetic recipe's small model ran 1.23x as fast, of its variant
            with the full-resolution stem 1.39x; the full-size
            YOWO-Plus and the tiny variant gained nothing (0.99x, 0.94x;
            ``tools/analysis/benchmark_train_step.py``, README "Speed"),
            hence off by default and on in the synthetic configs. The same
            values up to float rounding. Inference keeps the layout it is
            given (for channels-last inference on CUDA see
            :class:`~mmyowo.deploy.InferenceOptions`).
        init_cfg (dict, optional): Initialisation config.

    Pretrained branches: a branch config's ``init_cfg=dict(type='Pretrained',
    checkpoint=..., prefix=None, map_location='cpu', min_fraction=0.5)`` (or
    ``pretrained='FILE'`` with ``pretrained2d=False`` on mmaction's 3D
    backbones) is taken out of the config before the branch is built (host
    backbones ignore ``init_cfg`` or load ``strict=False`` without a word,
    e.g. mmaction's ``ResNet3d``) and loaded by :meth:`init_weights` with
    :func:`mmyowo.models.utils.load_pretrained`: after every component's own
    random init, with a log line of what was loaded and an error naming the
    file when less than ``min_fraction`` of the branch's parameter tensors
    fit. ``pretrained_cfgs`` holds these settings per branch.

    Inputs are ``[B, 3, L, H, W]`` tensors (``NCTHW``).

    Branches can be frozen (paper §4.1 trains with both backbones frozen
    first, then unfreezes the 3D and later the 2D branch): a frozen branch
    runs without autograd and stays in eval mode, so its parameters get no
    gradient and its BN statistics do not move. Parameters keep
    ``requires_grad=True`` so that unfreezing needs no optimizer or DDP
    rebuild (use ``find_unused_parameters=True`` with DDP).
    """

    BRANCHES = ('backbone_2d', 'backbone_3d')

    def __init__(self,
                 backbone_2d: dict,
                 neck: dict,
                 bbox_head: dict,
                 backbone_3d: Optional[dict] = None,
                 neck_3d: Optional[dict] = None,
                 train_cfg: Optional[dict] = None,
                 test_cfg: Optional[dict] = None,
                 data_preprocessor: Optional[dict] = None,
                 input_2d: Optional[dict] = None,
                 frames_3d: Optional[int] = None,
                 train_channels_last_3d: bool = False,
                 init_cfg: Optional[Union[dict, list]] = None) -> None:
        if not isinstance(train_channels_last_3d, bool):
            raise TypeError('train_channels_last_3d must be a bool, got '
                            f'{train_channels_last_3d!r}')
        if data_preprocessor is None:
            data_preprocessor = dict(
                type='ActionDataPreprocessor', format_shape='NCTHW')
        super().__init__(
            data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        self.pretrained_cfgs: Dict[str, dict] = {}
        backbone_2d = self._take_pretrained_cfg('backbone_2d', backbone_2d)
        if backbone_3d:
            backbone_3d = self._take_pretrained_cfg('backbone_3d', backbone_3d)
        self.backbone_2d = MODELS.build(backbone_2d)
        self.backbone_3d = MODELS.build(backbone_3d) if backbone_3d else None
        self.neck_3d = MODELS.build(neck_3d) if neck_3d else None
        self.neck = MODELS.build(neck)
        bbox_head = dict(bbox_head, train_cfg=train_cfg, test_cfg=test_cfg)
        self.bbox_head = MODELS.build(bbox_head)
        self.frozen_branches: set = set()
        self.input_2d = None
        if input_2d is not None:
            mean_in, std_in = self._preprocessor_norm()
            self.input_2d = Renormalize(
                **input_2d, mean_in=mean_in, std_in=std_in)
        if frames_3d is not None and frames_3d < 1:
            raise ValueError(
                f'frames_3d must be >= 1 or None, got {frames_3d}')
        self.frames_3d = frames_3d
        self.train_channels_last_3d = train_channels_last_3d

    def _preprocessor_norm(
            self) -> Tuple[Optional[List[float]], Optional[List[float]]]:
        """Mean and std of the frames the data preprocessor outputs (``None,
        None`` where it does not normalise)."""
        preprocessor = self.data_preprocessor
        if not getattr(preprocessor, '_enable_normalize', False):
            return None, None
        return (preprocessor.mean.flatten().tolist(),
                preprocessor.std.flatten().tolist())

    @property
    def with_3d(self) -> bool:
        """Whether the detector has a 3D branch."""
        return self.backbone_3d is not None

    # ------------------------------------------------------------------ #
    # initialisation
    # ------------------------------------------------------------------ #
    def _take_pretrained_cfg(self, branch: str, cfg: dict) -> dict:
        """Move ``branch``'s pretrained settings into ``pretrained_cfgs`` and
        return the config to build it from (see the class docstring)."""
        cfg, load_cfg = pop_pretrained_cfg(cfg, branch)
        if load_cfg is not None:
            self.pretrained_cfgs[branch] = load_cfg
        return cfg

    def init_weights(self) -> None:
        """Initialise every component, then load the pretrained branches.

        ``super().init_weights()`` runs each child's own init (e.g.
        ``ResNet3d``'s Kaiming, ``CSPDarknet53``'s ``init_cfg``) and this
        detector's ``init_cfg``; only then are the branch checkpoints of
        ``pretrained_cfgs`` loaded, so no random init can overwrite them.
        mmengine's per-parameter init record is written inside
        ``super().init_weights()`` for a top-level model, before the load;
        :func:`~mmyowo.models.utils.load_pretrained` logs the load itself.

        Raises:
            FileNotFoundError: A branch checkpoint does not exist.
            ValueError: A branch checkpoint is unreadable or fits less than
                its ``min_fraction`` of the branch; or a component has an
                ``init_cfg`` that its ``init_weights`` ignores.
        """
        super().init_weights()
        # BaseModule.init_weights marks a module initialised; an override
        # that never calls it (mmaction's ResNet3d reads only ``pretrained``)
        # leaves the mark unset and its init_cfg unapplied.
        ignored = {
            f'{name} ({type(child).__name__})': child.init_cfg
            for name, child in self.named_children()
            if isinstance(child, BaseModule) and child.init_cfg
            and not child.is_init
        }
        if ignored:
            raise ValueError(
                f'init_cfg ignored by the init_weights of {ignored}: set it '
                'to None (checkpoints: a Pretrained init_cfg on backbone_2d '
                '/ backbone_3d, which YOWO loads itself)')
        for branch, load_cfg in self.pretrained_cfgs.items():
            load_pretrained(getattr(self, branch), name=branch, **load_cfg)

    # ------------------------------------------------------------------ #
    # freezing
    # ------------------------------------------------------------------ #
    def freeze_branches(self, frozen: Iterable[str]) -> None:
        """Freeze exactly the named branches (of ``BRANCHES``)."""
        frozen = set(frozen)
        unknown = frozen - set(self.BRANCHES)
        if unknown:
            raise ValueError(f'unknown branches {sorted(unknown)}; choose '
                             f'from {self.BRANCHES}')
        self.frozen_branches = frozen
        self.train(self.training)

    def train(self, mode: bool = True) -> 'YOWO':
        """Set the mode; frozen branches stay in eval mode."""
        super().train(mode)
        for name in self.frozen_branches:
            branch = getattr(self, name)
            if branch is not None:
                branch.eval()
        return self

    def _grad_ctx(self, branch: str):
        """``no_grad`` for a frozen branch, else a no-op."""
        return torch.no_grad() if branch in self.frozen_branches \
            else nullcontext()

    # ------------------------------------------------------------------ #
    # features
    # ------------------------------------------------------------------ #
    @staticmethod
    def key_frame_indices(inputs: Tensor,
                          data_samples: Optional[Sequence] = None) -> Tensor:
        """0-based key-frame position ``j`` of eq. 4, per sample.

        Args:
            inputs (Tensor): ``[B, 3, L, H, W]`` clips.
            data_samples (Sequence, optional): ``B`` samples, each with a
                ``key_frame_index`` metainfo. ``None`` (``mode='tensor'``
                without samples, as export and benchmark call it) takes the
                last frame, ``L - 1``, for every clip, as YOWO does.

        Returns:
            Tensor: ``(B,)`` long positions.

        Raises:
            KeyError: If a sample has no ``key_frame_index``: silently taking
                ``L - 1`` would train and evaluate the 2D branch on the
                wrong frame wherever KFRS puts the key frame elsewhere.
            ValueError: If the number of samples is not ``B`` or an index is
                outside the clip.
        """
        batch, length = inputs.shape[0], inputs.shape[2]
        if data_samples is None:
            return torch.full((batch, ),
                              length - 1,
                              dtype=torch.long,
                              device=inputs.device)
        if len(data_samples) != batch:
            raise ValueError(f'{len(data_samples)} data samples for a batch '
                             f'of {batch} clips')
        missing = [
            i for i, s in enumerate(data_samples)
            if 'key_frame_index' not in s.metainfo
        ]
        if missing:
            raise KeyError(
                f'data samples {missing} have no "key_frame_index" metainfo '
                '(0-based position of the key frame in the clip): '
                'KFRSampleFrames adds it, and PackActionInputs(meta_keys=...) '
                'must include "key_frame_index"')
        idx = [int(s.metainfo['key_frame_index']) for s in data_samples]
        bad = [i for i in idx if not 0 <= i < length]
        if bad:
            raise ValueError(f'key_frame_index {bad} outside the clip of '
                             f'length {length}')
        return torch.as_tensor(idx, dtype=torch.long, device=inputs.device)

    def extract_feat_2d(self, frames: Tensor) -> Tuple[Tensor, ...]:
        """2D branch on ``[N, 3, H, W]`` key frames (preprocessed; mapped to
        ``input_2d``'s normalisation where the model has one)."""
        if self.input_2d is not None:
            frames = self.input_2d(frames)
        with self._grad_ctx('backbone_2d'):
            return tuple(self.backbone_2d(frames))

    def extract_feat_3d(self, clips: Tensor) -> Optional[Tensor]:
        """3D branch on ``[B, 3, L, H, W]`` clips (``frames_3d`` of their
        frames where set) -> ``[B, C, H/32, W/32]``."""
        if self.backbone_3d is None:
            return None
        length = clips.shape[2]
        if self.frames_3d is not None and length > self.frames_3d:
            stride = length // self.frames_3d
            # The last frame (the newest when streaming) and the ones
            # ``stride`` apart before it.
            first = length - 1 - stride * (self.frames_3d - 1)
            clips = clips[:, :, first::stride]
        if self.training and self.train_channels_last_3d:
            clips = clips.contiguous(memory_format=torch.channels_last_3d)
        with self._grad_ctx('backbone_3d'):
            try:
                feat = self.backbone_3d(clips)
            except RuntimeError as err:
                if not any(text in str(err) for text in TOO_SHORT_ERRORS):
                    raise
                # A clip shorter than the backbone's temporal downsampling
                # fails in a pooling or conv layer deep inside it.
                raise ValueError(
                    f'the 3D branch ({type(self.backbone_3d).__name__}) '
                    f'cannot read clips of {clips.shape[2]} frames: its '
                    'temporal strides and pooling leave no frame (torch: '
                    f'{str(err).splitlines()[0]}); use a longer clip_len '
                    '(KFRSampleFrames) or a model without 3D branch') \
                    from err
        return self.neck_3d(feat) if self.neck_3d is not None else feat

    def fuse(self, feats_2d: Sequence[Tensor],
             feat_3d: Optional[Tensor]) -> Tuple[Tensor, ...]:
        """Fusion neck on already extracted branch features."""
        return tuple(self.neck(feats_2d, feat_3d))

    def key_frame_maps(self, frames: Tensor,
                       feat_3d: Optional[Tensor]) -> List[Tensor]:
        """2D branch, fusion neck and head on ``[N, 3, H, W]`` key frames with
        their ``[N, C, H/32, W/32]`` 3D features (``None`` without a 3D
        branch): the raw head maps, one per level."""
        return self.bbox_head(self.fuse(self.extract_feat_2d(frames), feat_3d))

    def extract_feat(self,
                     inputs: Tensor,
                     data_samples: Optional[Sequence] = None
                     ) -> Tuple[Tensor, ...]:
        """Both branches and the fusion neck."""
        if inputs.dim() != 5:
            raise ValueError('YOWO expects [B, 3, L, H, W] inputs, got '
                             f'{tuple(inputs.shape)}')
        stride = max(self.bbox_head.strides)
        height, width = inputs.shape[-2:]
        if height % stride or width % stride:
            # Checked here for every model: without a 3D branch the FPN's
            # upsampled levels would fail to concatenate deep in the neck.
            raise ValueError(
                f'input of {height}x{width} (h x w): the height and width '
                f'must be multiples of the largest stride {stride}; set the '
                'Resize scale of the pipeline accordingly')
        idx = self.key_frame_indices(inputs, data_samples)
        key_frames = inputs[
            torch.arange(inputs.shape[0], device=inputs.device), :, idx]
        return self.fuse(
            self.extract_feat_2d(key_frames), self.extract_feat_3d(inputs))

    # ------------------------------------------------------------------ #
    # modes
    # ------------------------------------------------------------------ #
    def forward(self,
                inputs: Tensor,
                data_samples: Optional[list] = None,
                mode: str = 'tensor'):
        """``'loss'`` -> dict of losses, ``'predict'`` -> data samples with
        ``pred_instances``, ``'tensor'`` -> raw head maps.

        Raises:
            ValueError: For ``'loss'`` or ``'predict'`` without
                ``data_samples``: they carry the ground truth and each clip's
                key frame, without which the head would fail deep inside.
            RuntimeError: For an unknown ``mode`` (as mmengine's models).
        """
        if mode == 'tensor':
            return self._forward(inputs, data_samples)
        if mode not in ('loss', 'predict'):
            raise RuntimeError(f'Invalid mode "{mode}"; use loss, predict or '
                               'tensor')
        if data_samples is None:
            raise ValueError(
                f"YOWO mode='{mode}' needs data_samples (the ground truth "
                "boxes and each clip's key_frame_index metainfo)")
        if mode == 'loss':
            return self.loss(inputs, data_samples)
        return self.predict(inputs, data_samples)

    def loss(self, inputs: Tensor, data_samples: list) -> Dict[str, Tensor]:
        """Losses of the head (eq. 5-10) on the fused features."""
        return self.bbox_head.loss(
            self.extract_feat(inputs, data_samples), data_samples)

    def predict(self,
                inputs: Tensor,
                data_samples: list,
                rescale: bool = True) -> list:
        """Set ``pred_instances`` (original pixels with ``rescale``)."""
        results = self.bbox_head.predict(
            self.extract_feat(inputs, data_samples),
            data_samples,
            rescale=rescale)
        for sample, result in zip(data_samples, results):
            sample.pred_instances = result
        return data_samples

    def predict_windows(self,
                        windows: Tensor,
                        metas: Sequence[Sequence[dict]],
                        frame_batch: Optional[int] = None
                        ) -> List[List[InstanceData]]:
        """Streaming path (paper §1, §3.1): every frame of a window is a key
        frame.

        One 3D pass per window serves all its key frames; the 2D branch, the
        fusion neck and the head run once per key frame, batched over all
        the windows' key frames in batches of at most ``frame_batch``. Key
        frame ``j`` of a window gets exactly what :meth:`predict` gives for
        that window as a clip with ``key_frame_index=j``.

        Args:
            windows (Tensor): ``[B, 3, L, H, W]`` normalised windows.
            metas (sequence[sequence[dict]]): Per window, the metas of its
                first ``n_b`` frames (``1 <= n_b <= L``; ``img_shape``,
                ``ori_shape``, ``scale_factor`` as :meth:`predict` needs
                them): the key frames to detect on. The frames after them
                are padding and only feed the 3D branch.
            frame_batch (int, optional): Most key frames per 2D / neck /
                head call; ``None`` runs them all at once.

        Returns:
            list[list[InstanceData]]: Per window, ``n_b`` results in
            original pixels.

        Raises:
            ValueError: For inputs that are not ``[B, 3, L, H, W]`` with
                ``B`` meta lists of ``1..L`` metas each.
        """
        return predict_windows_with(self, windows, metas, frame_batch)

    def _forward(self,
                 inputs: Tensor,
                 data_samples: Optional[list] = None) -> List[Tensor]:
        """The raw head maps (``mode='tensor'``)."""
        return self.bbox_head(self.extract_feat(inputs, data_samples))


def predict_windows_with(detector,
                         windows: Tensor,
                         metas: Sequence[Sequence[dict]],
                         frame_batch: Optional[int] = None
                         ) -> List[List[InstanceData]]:
    """The streaming path of :meth:`YOWO.predict_windows` on any network that
    provides its pieces, so that a PyTorch YOWO and an exported one
    (``mmyowo.deploy``'s onnxruntime model) batch the windows, decode and
    suppress identically.

    Args:
        detector: Has ``extract_feat_3d(windows)`` (``[B, C, h, w]`` or
            ``None``), ``key_frame_maps(frames, feat_3d)`` (the raw head maps
            of ``[N, 3, H, W]`` key frames) and ``bbox_head`` (a ``YOWOHead``:
            its ``predict_by_feat`` decodes and suppresses).
        windows, metas, frame_batch: As :meth:`YOWO.predict_windows`.

    Returns:
        list[list[InstanceData]]: Per window, ``n_b`` results in original
        pixels.

    Raises:
        ValueError: For inputs that are not ``[B, 3, L, H, W]`` with ``B``
            meta lists of ``1..L`` metas each.
    """
    if windows.dim() != 5 or windows.shape[0] != len(metas):
        raise ValueError(f'expected [B, 3, L, H, W] windows with B = '
                         f'{len(metas)} meta lists, got '
                         f'{tuple(windows.shape)}')
    num, _, length, height, width = windows.shape
    counts = [len(m) for m in metas]
    if not all(1 <= n <= length for n in counts):
        raise ValueError(f'each window needs 1..{length} key frames, got '
                         f'{counts}')
    if frame_batch is not None and frame_batch < 1:
        raise ValueError(f'frame_batch must be >= 1 or None, got '
                         f'{frame_batch}')
    feat_3d = detector.extract_feat_3d(windows)
    frames = windows.transpose(1, 2)
    if all(n == length for n in counts):
        frames = frames.reshape(num * length, 3, height, width)
    else:
        frames = torch.cat([frames[b, :n] for b, n in enumerate(counts)])
    if feat_3d is not None:
        if num == 1:
            # A view: the window's one 3D map serves all its key frames.
            feat_3d = feat_3d.expand(counts[0], *feat_3d.shape[1:])
        else:
            feat_3d = feat_3d.repeat_interleave(
                torch.as_tensor(counts, device=feat_3d.device), dim=0)
    flat_metas = [m for window in metas for m in window]
    step = frame_batch or len(flat_metas)
    preds: List[InstanceData] = []
    for first in range(0, len(flat_metas), step):
        part = slice(first, first + step)
        maps = detector.key_frame_maps(
            frames[part], None if feat_3d is None else feat_3d[part])
        preds.extend(
            detector.bbox_head.predict_by_feat(
                maps, flat_metas[part], rescale=True))
    results, start = [], 0
    for n in counts:
        results.append(preds[start:start + n])
        start += n
    return results
