"""Writing image files atomically."""
import os.path as osp
from typing import Sequence

import cv2
import numpy as np

from .atomic_io import atomic_write_bytes


def write_image(path: str, image: np.ndarray,
                params: Sequence[int] = ()) -> None:
    """Encode ``image`` (BGR, as ``cv2.imwrite``) by the suffix of ``path`` and
    write it so that ``path`` never holds a partial image.

    A kill during ``cv2.imwrite`` would leave a truncated image under the
    final name; here the encoded bytes take the name only once whole. Not
    fsync'ed and the folder's stale temporaries are not removed (both cost
    milliseconds per call, and frame writers call this thousands of times:
    they call :func:`~mmyowo.utils.atomic_io.remove_stale_temporaries` once
    per folder): a kill leaves whole images, only a power loss may lose the
    last ones.

    Args:
        path (str): Image file; its suffix (``.jpg``, ``.png``, ...) picks
            the format.
        image (np.ndarray): ``uint8`` ``(h, w)`` or ``(h, w, 3)`` BGR image.
        params (Sequence[int]): ``cv2.imencode`` parameters, e.g.
            ``[cv2.IMWRITE_JPEG_QUALITY, 95]``.

    Raises:
        OSError: Naming ``path``, when the image cannot be encoded (e.g. a
            suffix OpenCV does not know) or written.
    """
    try:
        ok, data = cv2.imencode(osp.splitext(path)[1], image, list(params))
    except cv2.error as err:
        raise OSError(f'{path}: cannot encode the image: {err}') from err
    if not ok:
        raise OSError(f'{path}: cannot encode the image')
    try:
        atomic_write_bytes(
            data.tobytes(), path, durable=False, remove_stale=False)
    except OSError as err:
        raise OSError(f'{path}: cannot write the image: {err}') from err
