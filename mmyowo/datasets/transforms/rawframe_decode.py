"""Decoding clip frames from rawframe folders, boxes kept in pixels."""
import os.path as osp
from typing import Dict, List, Optional

import numpy as np
from mmaction.datasets.transforms import RawFrameDecode
from mmaction.registry import TRANSFORMS
from mmengine.fileio import FileClient

from .frame_io import check_clip_sizes, decode_frame


@TRANSFORMS.register_module()
class RawFrameDecodeKeepBoxes(RawFrameDecode):
    """mmaction's ``RawFrameDecode`` for boxes that are already in pixels, with
    checked frames.

    Decodes as ``RawFrameDecode`` does: frame files
    ``{frame_dir}/{filename_tmpl.format(frame_ind + offset)}`` (``frame_inds``
    already include ``start_index``) read with the ``io_backend`` file client
    and decoded with ``decoding_backend``, RGB frames in RGB order, a ``Flow``
    frame as its ``x`` / ``y`` grayscale files stacked on the last axis, a
    repeated index decoded once and copied. Unlike it, this transform

    - leaves ``gt_bboxes`` / ``proposals`` alone (mmaction multiplies them
      by the frame size, as AVA stores normalised boxes; canonical boxes are
      in pixels, see docs/architecture.md);
    - names the file of a frame that is missing, empty, truncated or not an
      image (see :func:`~.frame_io.decode_frame`);
    - checks that every frame of the clip has the same size, and that this
      size is the ``ori_shape`` the dataset took from the annotation's
      ``resolution`` (skipped when ``results`` have no ``ori_shape``).

    The checks read the bytes already in memory and the decoded shapes, so
    decoding stays one pass per distinct frame.

    Required Keys:

    - frame_dir
    - filename_tmpl
    - frame_inds
    - modality (``'RGB'`` or ``'Flow'``)
    - offset (optional)
    - ori_shape (optional, ``(h, w)`` the boxes refer to)
    - video_id (optional, named in messages)

    Modified Keys:

    - frame_inds (squeezed to 1-D)

    Added Keys:

    - imgs
    - img_shape
    - original_shape

    Args:
        io_backend (str): mmengine file client backend. Defaults to
            ``'disk'``.
        decoding_backend (str): mmcv image decoding backend. Defaults to
            ``'cv2'``.
        **kwargs: Passed to the file client.

    Raises:
        FileNotFoundError: A frame file does not exist (disk backend).
        FrameDecodeError: A frame file is empty, truncated or not an image.
        FrameSizeError: A frame's size differs from the other frames of the
            clip (the frame file is named) or from ``ori_shape`` (the folder,
            the video id and both sizes are named).
        NotImplementedError: ``modality`` is neither ``'RGB'`` nor
            ``'Flow'``.
    """

    # Set to None by RawFrameDecode.__init__ (mmaction has no type
    # information), created at the first use (_client).
    file_client: Optional[FileClient]

    def transform(self, results: Dict) -> Dict:
        """Decode and check the frames ``results['frame_inds']``."""
        directory = results['frame_dir']
        filename_tmpl = results['filename_tmpl']
        modality = results['modality']
        if modality not in ('RGB', 'Flow'):
            raise NotImplementedError(
                f'{directory}: modality {modality!r} is not supported (RGB '
                'or Flow)')
        if results['frame_inds'].ndim != 1:
            results['frame_inds'] = np.squeeze(results['frame_inds'])
        offset = results.get('offset', 0)

        imgs: List[np.ndarray] = []
        sources: List[str] = []
        decoded: Dict[int, int] = {}  # frame index -> position in ``imgs``
        for frame_idx in np.reshape(results['frame_inds'], -1).tolist():
            if frame_idx in decoded:
                # A copy keeps an in-place transform from changing two
                # frames of the clip at once (as RawFrameDecode does).
                imgs.append(imgs[decoded[frame_idx]].copy())
                sources.append(sources[decoded[frame_idx]])
                continue
            decoded[frame_idx] = len(imgs)
            if modality == 'RGB':
                path = osp.join(directory,
                                filename_tmpl.format(frame_idx + offset))
                img = self._decode(path, 'color')
            else:
                paths = [
                    osp.join(directory,
                             filename_tmpl.format(axis, frame_idx + offset))
                    for axis in ('x', 'y')
                ]
                pair = [self._decode(p, 'grayscale') for p in paths]
                # np.stack would fail on a size mismatch without a name.
                check_clip_sizes([f.shape for f in pair], paths, directory)
                path, img = paths[0], np.stack(pair, axis=-1)
            imgs.append(img)
            sources.append(path)

        check_clip_sizes([img.shape for img in imgs], sources, directory,
                         results.get('ori_shape'), results.get('video_id'))
        results['imgs'] = imgs
        results['original_shape'] = imgs[0].shape[:2]
        results['img_shape'] = imgs[0].shape[:2]
        return results

    def _client(self) -> FileClient:
        """The file client, created at the first use."""
        if self.file_client is None:
            self.file_client = FileClient(self.io_backend, **self.kwargs)
        return self.file_client

    def _decode(self, path: str, flag: str) -> np.ndarray:
        """Read and decode one frame file (RGB order for colour frames)."""
        return decode_frame(
            self._client().get(path),
            path,
            flag=flag,
            channel_order='rgb',
            backend=self.decoding_backend)
