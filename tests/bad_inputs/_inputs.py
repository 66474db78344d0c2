"""Bad inputs of every kind, made from small generated data.

Malicious pickles reuse the opcode builders of
``tests/utils/test_checkpoint.py`` (written byte by byte, as an attacker
would); truncated videos the helpers of ``tests/apis/test_video_reader.py``.
"""
import io
import os
import shutil
import subprocess
import zipfile
from typing import Callable, Dict, List, Sequence

import cv2
import numpy as np
import torch

from mmyowo.utils import load_checkpoint_file
from ..apis.test_video_reader import opencv_counts, truncate
from ..fileio import _payloads as P

#: Contents of video files that no decoder can read.
UNREADABLE_VIDEOS = {
    'empty': b'',
    'text': b'this is not a video\n' * 50,
    'corrupt': np.random.default_rng(0).bytes(20000),
}


def ann_file(data_root: str) -> str:
    """The annotation file of a synthetic set (``make_tiny_data``)."""
    return os.path.join(data_root, 'annotations', 'synthetic_gt.pkl')


def run_tool(cmd: Sequence[str], cwd, timeout: int = 600):
    """Run a command as its user does; return ``(exit code, output)``."""
    env = dict(os.environ, PYTHONUNBUFFERED='1')
    proc = subprocess.run(
        list(cmd),
        cwd=cwd,
        env=env,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        timeout=timeout)
    return proc.returncode, proc.stdout


# --------------------------------------------------------------------- #
# videos and frames
# --------------------------------------------------------------------- #
def frames_of(frame_dir: str) -> List[np.ndarray]:
    """The BGR frames of a rawframe folder, in order."""
    names = sorted(n for n in os.listdir(frame_dir) if n.endswith('.jpg'))
    return [cv2.imread(os.path.join(frame_dir, n)) for n in names]


def write_avi(path: str, frames: Sequence[np.ndarray]) -> str:
    """An MJPG AVI of BGR ``frames``; its header announces their count."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    h, w = frames[0].shape[:2]
    writer = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*'MJPG'), 10.0,
                             (w, h))
    assert writer.isOpened()
    for frame in frames:
        writer.write(frame)
    writer.release()
    return path


def truncated_avi(src: str, dst: str, keep: float = 0.3):
    """``src`` cut at ``keep`` of its bytes; returns ``(path, announced,
    decodable)`` frame counts, measured with OpenCV."""
    path = truncate(src, dst, keep)
    announced, decoded = opencv_counts(path)
    assert 0 < decoded < announced, (announced, decoded)
    return path, int(announced), decoded


def truncated_mp4(tmp_path, num: int = 12) -> str:
    """An MP4 cut before its index (OpenCV writes ``moov`` last)."""
    full = str(tmp_path / 'full.mp4')
    writer = cv2.VideoWriter(full, cv2.VideoWriter_fourcc(*'mp4v'), 10.0,
                             (64, 64))
    rng = np.random.default_rng(1)
    for _ in range(num):
        writer.write(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8))
    writer.release()
    return truncate(full, tmp_path / 'cut.mp4', 0.5)


def jpeg_bytes(h: int, w: int, seed: int = 0) -> bytes:
    """A textured JPEG (a real entropy-coded body to cut)."""
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, (h // 8 + 1, w // 8 + 1, 3), np.uint8)
    ok, data = cv2.imencode('.jpg', cv2.resize(small, (w, h)))
    assert ok
    return data.tobytes()


# --------------------------------------------------------------------- #
# checkpoints
# --------------------------------------------------------------------- #
def payloads(marker) -> Dict[str, bytes]:
    """Pickles that run ``touch marker``, plant callables or corrupt memory if
    unpickled (tests/fileio/_payloads.py).

    ``os.system`` / ``eval`` through ``__reduce__``; a ``getattr`` chain to
    a function's globals; ``HistoryBuffer`` statistics planting (its
    ``__setstate__`` copies the file's methods into a table every buffer
    of the process uses), also behind an ``OrderedDict`` whose ``items``
    attribute hides the entries; a numpy array whose dtype state makes
    numpy read attacker bytes as an object pointer.
    """
    code = P.code_payloads(f'touch {marker}')
    return {
        name: P.wrap(body)
        for name, body in {
            'os.system': code['os.system'],
            'eval': code['eval'],
            'getattr chain': code['getattr chain'],
            'statistics planting': P.planted_globals(),
            'hidden statistics': P.history_buffer(
                P.ordered_dict_hiding_items()),
            'object dtype': P.object_dtype_array(),
            'dtype class state': P.float_dtype_class_with_object_field(),
        }.items()
    }


def poisoned_copy(real: str, payload: bytes, dst) -> str:
    """The real checkpoint ``real`` with its object graph (``data.pkl``)
    replaced by ``payload``: a trained-looking file, tensors and all."""
    with zipfile.ZipFile(real) as src, zipfile.ZipFile(dst, 'w') as out:
        for info in src.infolist():
            data = src.read(info.filename)
            if info.filename.endswith('/data.pkl'):
                data = payload
            out.writestr(info, data)
    return str(dst)


#: Damaged copies of a checkpoint file: name -> bytes of the original to
#: bytes of the damaged file.
DAMAGE: Dict[str, Callable[[bytes], bytes]] = {
    'empty': lambda data: b'',
    'truncated': lambda data: data[:len(data) // 3],
    'half-written': lambda data: data[:len(data) - 100],
    'text': lambda data: b'epoch 1 of the best model\n',
}


def damaged_copy(real: str, damage: str, dst) -> str:
    with open(real, 'rb') as f:
        data = f.read()
    with open(dst, 'wb') as f:
        f.write(DAMAGE[damage](data))
    return str(dst)


def other_classes_copy(real: str, num_classes: int, dst) -> str:
    """The real checkpoint as if trained for ``num_classes`` classes: the
    head's prediction convs resized (3 anchors x (5 + C) channels), all else
    (optimizer, message hub, meta) kept; saved with ``torch.save``."""
    checkpoint = load_checkpoint_file(real)
    state = checkpoint['state_dict']
    for key in [k for k in state if '.preds.' in k]:
        old = state[key]
        shape = (3 * (5 + num_classes), *old.shape[1:])
        state[key] = torch.zeros(shape, dtype=old.dtype)
    buffer = io.BytesIO()
    torch.save(checkpoint, buffer)
    with open(dst, 'wb') as f:
        f.write(buffer.getvalue())
    return str(dst)


def copy_tree(src: str, dst) -> str:
    shutil.copytree(src, dst)
    return str(dst)
