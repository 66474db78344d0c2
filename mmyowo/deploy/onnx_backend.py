"""Run an exported YOWO (:mod:`.onnx_export`) with onnxruntime behind the
interface of the PyTorch model, so that :class:`~mmyowo.apis.YOWOVideoDetector`
runs both the same way.

Only the networks move to onnxruntime: the frames are preprocessed by the
same :class:`~mmyowo.apis.preprocessing.FramePreprocessor` (the config's
test pipeline and data preprocessor), the streaming windows are batched by
the same :func:`~mmyowo.models.detectors.yowo.predict_windows_with`, and the
head maps are decoded and suppressed by the PyTorch head's
``predict_by_feat``; the head built from the config holds the anchors,
strides and ``test_cfg`` (its weights are unused: they are in the graphs).

Execution providers pick the hardware; the same files serve all of them::

    providers=['CPUExecutionProvider']                      # default
    providers=['CUDAExecutionProvider', 'CPUExecutionProvider']
    providers=['TensorrtExecutionProvider', 'CUDAExecutionProvider',
               'CPUExecutionProvider']

(``onnxruntime-gpu`` and, for TensorRT, its libraries must be installed.)
Every provider runs float32 unless asked otherwise: TensorRT in float16
(``('TensorrtExecutionProvider', {'trt_fp16_enable': True})``) changes the
numbers and voids the equality to PyTorch measured on CPU. The tensors
exchanged with onnxruntime live in host memory (no I/O binding): with a GPU
provider each call copies its inputs to the device and the maps back.

ONNX files are input too: they are read by onnxruntime (protobuf, no
pickle), and the manifest, a JSON file, is checked field by field against
the config before any graph is loaded; a mismatch names the file.
"""
import os.path as osp
from typing import Any, Dict, List, Optional, Sequence, Union

import numpy as np
import torch
import torch.nn as nn
from mmengine.config import Config
from mmengine.structures import InstanceData
from torch import Tensor

from mmyowo.models.detectors.yowo import YOWO, predict_windows_with
from mmyowo.utils.atomic_io import load_json
from mmyowo.utils.dataset_meta import check_dataset_meta
from .onnx_export import (GRAPH_FILES, MANIFEST_FORMAT, MANIFEST_NAME,
                          MANIFEST_VERSION, export_onnx_graphs, sha256_file)

#: The default execution providers: CPU, float32.
DEFAULT_PROVIDERS = ('CPUExecutionProvider', )

Provider = Union[str, tuple]


class ManifestError(ValueError):
    """An export directory whose manifest or graphs do not fit."""


def _field(manifest: dict, key: str, kind: Any, path: str) -> Any:
    """``manifest[key]``, which must be of type ``kind``."""
    if key not in manifest:
        raise ManifestError(f'{path}: no "{key}" field')
    value = manifest[key]
    # bool is an int subclass: a flag is no count.
    if not isinstance(value, kind) or (kind is int
                                       and isinstance(value, bool)):
        raise ManifestError(f'{path}: "{key}" must be {kind.__name__}, got '
                            f'{value!r}')
    return value


def load_manifest(onnx_dir: str) -> dict:
    """Read and check ``onnx_dir/manifest.json`` and the graph files.

    Checks the format and version, the types of the fields the runtime
    uses, that every graph the model needs is listed with a plain file name
    in ``onnx_dir``, that each file's SHA-256 is the one recorded (a
    graph from another export is refused), and that ``dataset_meta``, if
    any, is a dict whose ``classes``, if any, are ``num_classes`` strs.

    Raises:
        ManifestError: Naming the file and the problem.
    """
    path = osp.join(onnx_dir, MANIFEST_NAME)
    if not osp.isfile(path):
        raise ManifestError(f'{path}: no manifest; export the directory with '
                            'tools/deployment/export_onnx.py --out-dir')
    manifest = load_json(path, ManifestError)
    if not isinstance(manifest,
                      dict) or manifest.get('format') != MANIFEST_FORMAT:
        raise ManifestError(f'{path}: not an mmyowo ONNX manifest (format '
                            f'"{MANIFEST_FORMAT}")')
    if manifest.get('version') != MANIFEST_VERSION:
        raise ManifestError(f'{path}: manifest version '
                            f'{manifest.get("version")!r}, this mmyowo reads '
                            f'{MANIFEST_VERSION}')
    for key in ('clip_len', 'num_classes', 'opset'):
        _field(manifest, key, int, path)
    for key in ('input_size', 'strides'):
        values = _field(manifest, key, list, path)
        if not all(isinstance(v, int) and v > 0 for v in values):
            raise ManifestError(f'{path}: "{key}" must hold positive ints, '
                                f'got {values!r}')
    _field(manifest, 'with_3d', bool, path)
    if _field(manifest, 'dtype', str, path) != 'float32':
        raise ManifestError(f'{path}: dtype {manifest["dtype"]!r}; the '
                            'runtime feeds float32')
    graphs = _field(manifest, 'graphs', dict, path)
    needed = ['per_frame', 'keyframe_head'
              ] + (['backbone3d'] if manifest['with_3d'] else [])
    for name in needed:
        entry = graphs.get(name)
        if not isinstance(entry, dict):
            raise ManifestError(f'{path}: no "{name}" graph listed')
        file = _field(entry, 'file', str, f'{path} graph "{name}"')
        # A plain name inside the directory, never a path out of it.
        if osp.basename(file) != file or file in ('', '.', '..'):
            raise ManifestError(f'{path}: graph "{name}" file {file!r} is '
                                'not a plain file name')
        graph_path = osp.join(onnx_dir, file)
        if not osp.isfile(graph_path):
            raise ManifestError(f'{graph_path}: missing (listed in {path})')
        digest = _field(entry, 'sha256', str, f'{path} graph "{name}"')
        if sha256_file(graph_path) != digest:
            raise ManifestError(f'{graph_path}: SHA-256 differs from the one '
                                f'in {path}: the graph is not from this '
                                'export')
        for key in ('inputs', 'outputs'):
            _field(entry, key, list, f'{path} graph "{name}"')
    # One class name per class of the graphs (check_manifest then holds
    # those to the config's).
    check_dataset_meta(
        manifest.get('dataset_meta'),
        path,
        manifest['num_classes'],
        error=ManifestError)
    return manifest


def check_manifest(manifest: dict, path: str, bbox_head: nn.Module,
                   with_3d: bool, clip_len: Optional[int],
                   input_size: Optional[Sequence[int]]) -> None:
    """Refuse graphs exported for another model or other settings.

    Args:
        manifest (dict): From :func:`load_manifest`.
        path (str): The manifest file (for the messages).
        bbox_head (nn.Module): The config's head.
        with_3d (bool): Whether the config's model has a 3D branch.
        clip_len (int, optional): The config's clip length (``None``: not
            checked).
        input_size (tuple[int, int], optional): The config's input ``(h,
            w)`` (``None``: not checked).

    Raises:
        ManifestError: Naming the file and each field that differs.
    """
    expected: Dict[str, Any] = dict(
        num_classes=int(getattr(bbox_head, 'num_classes')),
        strides=[int(s) for s in getattr(bbox_head, 'strides')],
        with_3d=bool(with_3d))
    if clip_len is not None:
        expected['clip_len'] = int(clip_len)
    if input_size is not None:
        expected['input_size'] = [int(s) for s in input_size]
    wrong = {
        key: (manifest[key], value)
        for key, value in expected.items() if manifest[key] != value
    }
    if wrong:
        detail = ', '.join(f'{k} {a!r} (config: {b!r})'
                           for k, (a, b) in wrong.items())
        raise ManifestError(f'{path}: the graphs do not fit the config: '
                            f'{detail}; export them again for this config')


def make_session(path: str,
                 providers: Optional[Sequence[Provider]] = None) -> Any:
    """An onnxruntime session on ``path``: every graph optimisation
    (``ORT_ENABLE_ALL``), ``torch.get_num_threads()`` intra-op threads (so that
    the thread settings of a run apply to both backends), worker threads that
    sleep rather than spin between runs.

    A backend holds up to three sessions, run one after another, each with
    its own thread pool. Spinning workers of the session that just ran take
    the cores from the next one: at 2 threads on 2 cores the fast variant's
    streaming went from 22.5 to 14.9 ms per frame without spinning (same
    run, ``tools/analysis/benchmark.py``).

    Raises:
        ValueError: A requested provider is not available in this
            onnxruntime build (rather than onnxruntime's silent fallback to
            the CPU).
    """
    # Imported here: onnxruntime is a deployment dependency, needed only
    # by this backend.
    import onnxruntime as ort
    providers = list(providers or DEFAULT_PROVIDERS)
    available = ort.get_available_providers()
    names = [p[0] if isinstance(p, tuple) else p for p in providers]
    missing = [n for n in names if n not in available]
    if missing:
        raise ValueError(f'execution providers {missing} are not available '
                         f'in this onnxruntime (available: {available}); '
                         'GPU providers need the onnxruntime-gpu package')
    options = ort.SessionOptions()
    options.graph_optimization_level = \
        ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.intra_op_num_threads = torch.get_num_threads()
    options.inter_op_num_threads = 1
    options.add_session_config_entry('session.intra_op.allow_spinning', '0')
    return ort.InferenceSession(
        path, sess_options=options, providers=providers)


class ORTYOWO(nn.Module):
    """An exported YOWO run by onnxruntime, with the interface
    :class:`~mmyowo.apis.YOWOVideoDetector` uses (``predict``,
    ``predict_windows``, ``bbox_head``, ``data_preprocessor``, ``cfg``,
    ``dataset_meta``, ``device``).

    Args:
        onnx_dir (str): An export directory (:func:`~.export_onnx_graphs`).
        bbox_head (nn.Module): The config's ``YOWOHead``: post-processing.
        data_preprocessor (nn.Module): The config's data preprocessor:
            normalisation of the frames.
        with_3d (bool): Whether the config's model has a 3D branch.
        cfg (Config, optional): The config (for the test pipeline).
        providers (sequence, optional): onnxruntime execution providers,
            by priority; default :data:`DEFAULT_PROVIDERS`.
        clip_len (int, optional): The clip length the graphs must take;
            default the config's test pipeline's (as
            :class:`~mmyowo.apis.YOWOVideoDetector` derives it). A config
            without a test pipeline fixes none: the detector must then be
            given the export's ``clip_len`` and ``input_size``, else its
            first call fails naming the graph and the shapes.
        input_size (tuple[int, int], optional): The input ``(h, w)`` the
            graphs must take; default the config's test pipeline's.

    Raises:
        ManifestError: The directory does not hold a valid export for this
            config (clip length, input size, classes, strides, 3D branch).
    """

    def __init__(self,
                 onnx_dir: str,
                 bbox_head: nn.Module,
                 data_preprocessor: nn.Module,
                 with_3d: bool,
                 cfg: Any = None,
                 providers: Optional[Sequence[Provider]] = None,
                 clip_len: Optional[int] = None,
                 input_size: Optional[Sequence[int]] = None) -> None:
        super().__init__()
        # Imported here: apis imports this module lazily (init_detector's
        # backend), and the preprocessing decides the config's settings.
        from mmyowo.apis.preprocessing import (DEFAULT_SETTINGS,
                                               FramePreprocessor,
                                               find_test_pipeline)
        self.onnx_dir = onnx_dir
        self.manifest_path = osp.join(onnx_dir, MANIFEST_NAME)
        self.manifest = load_manifest(onnx_dir)
        # Typed as Any: as an nn.Module attribute its methods would read
        # as ``Tensor | Module``.
        self.bbox_head: Any = bbox_head
        self.data_preprocessor = data_preprocessor
        self.cfg = cfg
        self.dataset_meta = self.manifest.get('dataset_meta')
        self.with_3d = with_3d
        # The networks read host tensors; the provider decides where they
        # run.
        self.device = torch.device('cpu')
        if isinstance(cfg, Config) and find_test_pipeline(cfg):
            preprocessor, settings = FramePreprocessor.from_config(
                cfg, data_preprocessor, input_size=input_size)
            if clip_len is None:
                clip: Dict[str, Any] = dict(DEFAULT_SETTINGS, **settings)
                clip_len = int(clip['clip_len'])
            input_size = preprocessor.input_size
        check_manifest(self.manifest, self.manifest_path, bbox_head, with_3d,
                       clip_len, input_size)
        self.sessions: Dict[str, Any] = {}
        for name, entry in self.manifest['graphs'].items():
            if name in GRAPH_FILES and (name != 'backbone3d' or with_3d):
                self.sessions[name] = make_session(
                    osp.join(onnx_dir, entry['file']), providers)

    @property
    def providers(self) -> List[str]:
        """The execution providers the sessions use."""
        return self.sessions['per_frame'].get_providers()

    # ------------------------------------------------------------------ #
    # the graphs
    # ------------------------------------------------------------------ #
    def _run(self, name: str, inputs: Sequence[Tensor]) -> List[Tensor]:
        """Run graph ``name`` on float32 host tensors (fed in the graph's input
        order)."""
        session = self.sessions[name]
        feeds = {}
        for spec, tensor in zip(session.get_inputs(), inputs):
            fixed = [d for d in spec.shape[1:]]
            if list(tensor.shape[1:]) != fixed or tensor.dtype != \
                    torch.float32:
                raise ValueError(
                    f'{osp.join(self.onnx_dir, GRAPH_FILES[name])}: input '
                    f'"{spec.name}" must be float32 [N, '
                    f'{", ".join(map(str, fixed))}] (the export\'s clip '
                    f'length and input size), got {tensor.dtype} '
                    f'{list(tensor.shape)}')
            feeds[spec.name] = np.ascontiguousarray(
                tensor.detach().cpu().numpy())
        return [torch.from_numpy(out) for out in session.run(None, feeds)]

    def extract_feat_3d(self, windows: Tensor) -> Optional[Tensor]:
        """3D branch on ``[B, 3, L, H, W]`` windows (``None`` without)."""
        if not self.with_3d:
            return None
        return self._run('backbone3d', [windows])[0]

    def key_frame_maps(self, frames: Tensor,
                       feat_3d: Optional[Tensor]) -> List[Tensor]:
        """Head maps of ``[N, 3, H, W]`` key frames with their 3D features."""
        inputs = [frames] if feat_3d is None else [frames, feat_3d]
        return self._run('keyframe_head', inputs)

    # ------------------------------------------------------------------ #
    # the model interface
    # ------------------------------------------------------------------ #
    def predict(self,
                inputs: Tensor,
                data_samples: list,
                rescale: bool = True) -> list:
        """``YOWO.predict``: set ``pred_instances`` of each sample.

        Clips whose key frame is the last run the per-frame graph; any other
        ``key_frame_index`` runs the 3D graph and the key-frame graph.
        """
        idx = YOWO.key_frame_indices(inputs, data_samples)
        if bool((idx == inputs.shape[2] - 1).all()):
            maps = self._run('per_frame', [inputs])
        else:
            frames = inputs[torch.arange(inputs.shape[0]), :, idx]
            maps = self.key_frame_maps(frames, self.extract_feat_3d(inputs))
        results = self.bbox_head.predict_by_feat(
            maps, [s.metainfo for s in data_samples], rescale=rescale)
        for sample, result in zip(data_samples, results):
            sample.pred_instances = result
        return data_samples

    def predict_windows(self,
                        windows: Tensor,
                        metas: Sequence[Sequence[dict]],
                        frame_batch: Optional[int] = None
                        ) -> List[List[InstanceData]]:
        """``YOWO.predict_windows`` (the same batching, decoding and NMS)."""
        return predict_windows_with(self, windows, metas, frame_batch)


def ort_model_from_pytorch(model: nn.Module,
                           out_dir: str,
                           clip_len: int,
                           input_size: Sequence[int],
                           providers: Optional[Sequence[Provider]] = None,
                           opset: int = 17) -> ORTYOWO:
    """Export ``model`` (a CPU YOWO) to ``out_dir`` and load it in onnxruntime,
    sharing its head and data preprocessor: both backends of one model, e.g.
    for a benchmark.

    The graphs are exported for ``clip_len`` and ``input_size``, which
    the caller gives :class:`~mmyowo.apis.YOWOVideoDetector` too (they
    override the config's).
    """
    yowo: Any = model
    export_onnx_graphs(
        model,
        out_dir,
        clip_len,
        input_size,
        opset=opset,
        dataset_meta=getattr(model, 'dataset_meta', None),
        verify=False)
    ort_model = ORTYOWO(
        out_dir,
        yowo.bbox_head,
        yowo.data_preprocessor,
        yowo.with_3d,
        cfg=getattr(model, 'cfg', None),
        providers=providers,
        clip_len=clip_len,
        input_size=input_size)
    return ort_model
