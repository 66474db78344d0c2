"""Make the real-video test fixture ``tests/data/ucf24-mini`` (kept in git).

How the committed files were made, and how to make them again::

    python tests/data/make_ucf24_mini.py SOURCE tests/data/ucf24-mini

``SOURCE`` holds the corrected UCF101-24 annotations ``finalAnnots.mat``
(3,194 videos; Singh et al., the file of the YOWO family) and
``videos/v_*.mp4``, the UCF101 clips of the ``Class/v_Class_gXX_cYY`` ids
(raw MPEG-4 streams of 340x256, as in the YOWO data release).

Kept:

- :data:`VIDEOS`, copied byte for byte: the clips the tests decode (the
  real-data end-to-end run trains on the first two and tests on the third;
  the converter, decoding, inference and demo tests read them too);
- of ``finalAnnots.mat``, the entries of those videos, of
  :data:`EXTRA_ENTRIES` (annotated videos without a clip, which the
  converter tests expect in the file but not on disk) and of every split-1
  training video (groups g08-g25: 2,284 videos, 403,282 boxes), from which
  the anchor test recomputes the k-means anchors quoted in
  ``configs/yowo_plus_ucf24.py`` and the README. The other test-split
  entries (groups g01-g07) are left out.

The cut-down file keeps the structure of the original exactly (a ``1 x N``
struct ``annot`` with fields ``num_imgs``, ``name``, ``tubes``; tubes with
``ef``, ``sf``, ``class``, ``boxes``; the same integer types), written with
``scipy.io.savemat`` (MATLAB v5, compressed); the script reads it back and
compares every kept entry with the original before it finishes.
"""
import argparse
import os
import os.path as osp
import re
import shutil
from typing import List, Optional, Sequence

import numpy as np
from scipy.io import loadmat, savemat

#: The clips kept, as ``Class/video`` ids.
VIDEOS = (
    'Basketball/v_Basketball_g07_c04',
    'HorseRiding/v_HorseRiding_g01_c03',
    'CliffDiving/v_CliffDiving_g03_c01',
)
#: Entries kept without their clip (test-split videos the tests name).
EXTRA_ENTRIES = ('Basketball/v_Basketball_g01_c01', )
#: Split 1 of UCF101-24 tests on groups 1-7 and trains on groups 8-25.
FIRST_TRAIN_GROUP = 8


def video_group(name: str) -> int:
    """The group ``gXX`` of a ``Class/v_Class_gXX_cYY`` id."""
    found = re.search(r'_g(\d\d)_c\d\d$', name)
    if found is None:
        raise ValueError(f'{name!r} is no UCF101 video id')
    return int(found.group(1))


def kept_indices(names: Sequence[str]) -> List[int]:
    """Positions of the entries the fixture keeps, in the file's order."""
    wanted = set(VIDEOS) | set(EXTRA_ENTRIES)
    missing = wanted - set(names)
    if missing:
        raise ValueError(f'entries not in the source file: {sorted(missing)}')
    return [
        i for i, name in enumerate(names)
        if name in wanted or video_group(name) >= FIRST_TRAIN_GROUP
    ]


def check_same(original: np.ndarray, copy: np.ndarray) -> None:
    """Raise if two ``annot`` entries differ in any value or type."""
    for field in ('num_imgs', 'name'):
        a, b = original[field], copy[field]
        if a.dtype != b.dtype or not np.array_equal(a, b):
            raise AssertionError(f'{original["name"]}: {field} differs')
    tubes_a, tubes_b = original['tubes'], copy['tubes']
    if tubes_a.shape != tubes_b.shape or tubes_a.dtype != tubes_b.dtype:
        raise AssertionError(f'{original["name"]}: tubes differ')
    for tube_a, tube_b in zip(tubes_a.flat, tubes_b.flat):
        for field in tubes_a.dtype.names:
            a, b = tube_a[field], tube_b[field]
            if a.dtype != b.dtype or not np.array_equal(a, b):
                raise AssertionError(
                    f'{original["name"]}: tube {field} differs')


def main(argv: Optional[Sequence[str]] = None) -> None:
    """Write the fixture (see the module docstring)."""
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('source', help='folder with finalAnnots.mat, videos/')
    parser.add_argument('out', help='fixture folder to write')
    args = parser.parse_args(argv)

    annot = loadmat(osp.join(args.source, 'finalAnnots.mat'))['annot']
    names = [str(entry['name'][0]) for entry in annot[0]]
    subset = annot[:, kept_indices(names)]
    os.makedirs(osp.join(args.out, 'videos'), exist_ok=True)
    out_mat = osp.join(args.out, 'finalAnnots.mat')
    savemat(out_mat, {'annot': subset}, do_compression=True)

    written = loadmat(out_mat)['annot']
    if written.shape != subset.shape or written.dtype != subset.dtype:
        raise AssertionError('the written annot struct differs')
    for original, copy in zip(subset[0], written[0]):
        check_same(original, copy)
    for video in VIDEOS:
        name = osp.basename(video) + '.mp4'
        shutil.copyfile(
            osp.join(args.source, 'videos', name),
            osp.join(args.out, 'videos', name))
    print(f'{out_mat}: {subset.shape[1]} of {annot.shape[1]} entries; '
          f'{len(VIDEOS)} videos')


if __name__ == '__main__':
    main()
