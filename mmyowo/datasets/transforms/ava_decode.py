"""Decoding AVA rawframes: normalised boxes become pixels here, once."""
from typing import Dict

import numpy as np
from mmaction.registry import TRANSFORMS

from .rawframe_decode import RawFrameDecodeKeepBoxes

# Normalised corners may exceed [0, 1] by this much (rounding in the CSV).
_NORM_TOLERANCE = 1e-3


@TRANSFORMS.register_module()
class AVARawFrameDecode(RawFrameDecodeKeepBoxes):
    """Checked rawframe decoding for normalised (AVA) boxes.

    AVA stores box corners divided by the frame width and height, and AVA
    videos differ in size, so the pixel boxes exist only once the frames
    are decoded. This transform decodes (and checks) the frames as
    :class:`RawFrameDecodeKeepBoxes` does, then multiplies ``gt_bboxes``
    (and ``proposals``, if any) by ``(w, h, w, h)`` of the decoded frames,
    as mmaction's ``RawFrameDecode`` does, and records that size as
    ``ori_shape``: later transforms (zoom, ``Resize``, ``Flip``) work in
    pixels as on UCF101-24, and the head maps predictions back to
    ``ori_shape`` pixels, which ``YOWOAVAMetric`` divides by the same size.
    This is the only place in the AVA path where boxes change units.

    Required Keys:

    - frame_dir, filename_tmpl, frame_inds, modality (as
      :class:`RawFrameDecodeKeepBoxes`)
    - gt_bboxes (np.ndarray, optional): ``(n, 4)`` xyxy in ``[0, 1]``
    - proposals (np.ndarray, optional): ``(m, 4)`` xyxy in ``[0, 1]``

    Modified Keys:

    - frame_inds (squeezed to 1-D)
    - gt_bboxes, proposals: float32 pixels of the decoded frames

    Added Keys:

    - imgs, img_shape, original_shape
    - ori_shape: ``(h, w)`` of the decoded frames

    Raises:
        ValueError: ``results`` already hold an ``ori_shape`` (boxes of such
            a dataset are in pixels: use ``RawFrameDecodeKeepBoxes``) or a
            box corner outside ``[0, 1]``.
    """

    def transform(self, results: Dict) -> Dict:
        """Decode the clip, then scale the normalised boxes to pixels."""
        where = results.get('img_key', results.get('frame_dir'))
        if 'ori_shape' in results:
            raise ValueError(
                f'{where}: {type(self).__name__} is for datasets with '
                'normalised boxes and no ori_shape (AVA); these samples come '
                'with an ori_shape, i.e. pixel boxes: use '
                'RawFrameDecodeKeepBoxes')
        results = super().transform(results)
        h, w = results['img_shape']
        scale = np.array([w, h, w, h], dtype=np.float32)
        for key in ('gt_bboxes', 'proposals'):
            boxes = results.get(key)
            if boxes is None:
                continue
            boxes = np.asarray(boxes, dtype=np.float32)
            if boxes.size and not ((boxes >= -_NORM_TOLERANCE).all() and
                                   (boxes <= 1 + _NORM_TOLERANCE).all()):
                raise ValueError(
                    f'{where}: {key} are not normalised to [0, 1] (max '
                    f'{boxes.max():.3f}); {type(self).__name__} multiplies '
                    'them by the frame size')
            results[key] = np.clip(boxes, 0, 1) * scale
        results['ori_shape'] = (h, w)
        return results
