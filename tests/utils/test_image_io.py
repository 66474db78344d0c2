import os

import cv2
import numpy as np
import pytest

from mmyowo.utils.atomic_io import is_temporary
from mmyowo.utils.image_io import write_image


def test_write_image_round_trip_and_replaces(tmp_path):
    path = str(tmp_path / 'sub' / 'a.png')
    image = np.arange(48 * 80 * 3, dtype=np.uint8).reshape(48, 80, 3)
    write_image(path, image)
    np.testing.assert_array_equal(cv2.imread(path), image)
    write_image(path, image[::-1].copy())
    np.testing.assert_array_equal(cv2.imread(path), image[::-1])
    assert not [n for n in os.listdir(tmp_path / 'sub') if is_temporary(n)]


def test_write_image_refusals_name_the_file(tmp_path):
    image = np.zeros((8, 8, 3), np.uint8)
    with pytest.raises(OSError, match=r'a\.unknown: cannot encode'):
        write_image(str(tmp_path / 'a.unknown'), image)
    blocker = tmp_path / 'file'
    blocker.write_text('x')
    with pytest.raises(OSError, match=r'b\.jpg: cannot write the image'):
        write_image(str(blocker / 'b.jpg'), image)
    assert not (tmp_path / 'a.unknown').exists()
