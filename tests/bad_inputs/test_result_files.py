"""A write that fails (disk full) while overwriting a result file keeps the
previous file (issue 17, section 3, item 12).

``save_annotations`` (every converter's output), the metric's results file
and the plots opened their target with ``'wb'``: a full disk while
overwriting an existing ``gt.pkl`` left it truncated. The disk fills up here
the way the crash-safety tests make it (``RLIMIT_FSIZE``: writes past the
limit fail with EFBIG), after half of the file.
"""
import os
from contextlib import nullcontext

import numpy as np
import pytest

from mmyowo.datasets.annotations import load_annotations
from mmyowo.evaluation.functional import (load_detection_results,
                                          save_detection_results)
from mmyowo.preparation import conversion
from mmyowo.utils.atomic_io import is_temporary
from mmyowo.visualization.result_plots import plot_class_ap
from ..engine.test_crash_safe_checkpoint import file_size_limit
from ..tools._csv_media import HEADER, convert_csv, make_csv_media


def convert(path, tmp_path):
    """``tools/data/convert_csv.py`` writing its ground truth to ``path``."""
    root = tmp_path / 'csv'
    if not root.exists():
        make_csv_media(root)
        (root / 'ann.csv').write_text('\n'.join(
            [HEADER, 'cam1/a,1,2,3,20,30,run', 'b,3,10,5,40,25,wave']) + '\n')
    convert_csv.main([
        str(root / 'ann.csv'), '--out', path, '--classes',
        str(root / 'classes.txt'), '--frame-base', '1', '--coords', 'pixel',
        '--frames-root',
        str(root / 'frames'), '--train-list',
        str(root / 'train.txt'), '--test-list',
        str(root / 'test.txt')
    ])


def results(path, tmp_path):
    """The frame-mAP metric's ``results_file`` (``mim test``)."""
    # Valid rows: the loader refuses what FrameMAPMetric cannot have written.
    rng = np.random.default_rng(0)
    n = 500
    corner = rng.random((n, 2)) * 50
    detections = np.column_stack([
        rng.integers(0, 2, n),
        rng.integers(1, 25, n),
        rng.integers(0, 2, n),
        rng.random(n), corner, corner + rng.random((n, 2)) * 50
    ])
    save_detection_results(path, detections, ['v1', 'v2'], ['a', 'b'],
                           'gt.pkl', 0)


def plot(path, tmp_path):
    """A plot of ``tools/analysis/plot_results.py``."""
    plot_class_ap(
        np.linspace(0, 1, 24), [f'class {i}' for i in range(24)], path)


WRITERS = {
    'gt.pkl': (convert, load_annotations),
    'gt.json': (convert, load_annotations),
    'results.npz': (results, load_detection_results),
    'ap.png': (plot, None),
}


@pytest.mark.parametrize('name', sorted(WRITERS))
def test_failed_overwrite_keeps_the_previous_file(tmp_path, monkeypatch, name):
    write, load = WRITERS[name]
    path = str(tmp_path / name)
    write(path, tmp_path)
    with open(path, 'rb') as f:
        before = f.read()
    full_disk = limit = file_size_limit(len(before) // 2)
    if write is convert:
        # The disk fills up when the converter writes its output: its
        # progress bar writes to pytest's capture file, which must not meet
        # the limit first.
        save = conversion.save_annotations

        def save_on_full_disk(*args):
            with limit:
                save(*args)

        monkeypatch.setattr(conversion, 'save_annotations', save_on_full_disk)
        full_disk = nullcontext()
    with full_disk, pytest.raises(OSError):
        write(path, tmp_path)
    with open(path, 'rb') as f:
        assert f.read() == before
    if load is not None:
        load(path)
    assert not [n for n in os.listdir(tmp_path) if is_temporary(n)]
