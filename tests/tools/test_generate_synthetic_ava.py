"""The synthetic AVA-layout generator and its CLI."""
import filecmp
import os
import os.path as osp
import runpy
import sys

import pytest

from mmyowo.preparation.synthetic_ava import generate_synthetic_ava

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
SMALL = dict(
    num_train_videos=1,
    num_val_videos=1,
    seconds=2,
    fps=10,
    frame_size=(48, 64))


def test_same_seed_gives_identical_files(tmp_path):
    a = generate_synthetic_ava(str(tmp_path / 'a'), seed=4, **SMALL)
    b = generate_synthetic_ava(str(tmp_path / 'b'), seed=4, **SMALL)
    for key in a:
        if key == 'rawframes':
            cmp = filecmp.dircmp(a[key], b[key])
            assert not cmp.left_only and not cmp.right_only
            for sub in cmp.common_dirs:
                names = os.listdir(osp.join(a[key], sub))
                match, mismatch, errors = filecmp.cmpfiles(
                    osp.join(a[key], sub),
                    osp.join(b[key], sub),
                    names,
                    shallow=False)
                assert not mismatch and not errors and len(match) == 20
        else:
            assert filecmp.cmp(a[key], b[key], shallow=False), key


def test_overwrite_replaces_only_its_own_files(tmp_path):
    files = generate_synthetic_ava(
        str(tmp_path), seed=0, **dict(SMALL, seconds=3))
    other = tmp_path / 'annotations' / 'notes.txt'
    other.write_text('mine')
    with pytest.raises(FileExistsError, match='overwrite'):
        generate_synthetic_ava(str(tmp_path), seed=0, **SMALL)
    generate_synthetic_ava(str(tmp_path), seed=0, overwrite=True, **SMALL)
    video = 'synth_train_000'
    # The longer earlier run's frames 21..30 are gone, other files stay.
    assert sorted(os.listdir(
        osp.join(files['rawframes'],
                 video))) == [f'img_{i:05d}.jpg' for i in range(1, 21)]
    assert other.read_text() == 'mine'


@pytest.mark.parametrize('kwargs,match', [
    (dict(seconds=1), 'seconds >= 2'),
    (dict(num_val_videos=0), 'at least one video'),
    (dict(frame_size=(8, 80)), 'too small'),
])
def test_bad_arguments(tmp_path, kwargs, match):
    with pytest.raises(ValueError, match=match):
        generate_synthetic_ava(str(tmp_path), **dict(SMALL, **kwargs))


def test_cli(tmp_path, monkeypatch, capsys):
    out = str(tmp_path / 'cli')
    monkeypatch.setattr(sys, 'argv', [
        'generate_synthetic_ava.py', out, '--num-train-videos', '1',
        '--num-val-videos', '2', '--seconds', '2', '--fps', '10',
        '--frame-size', '48', '64', '--seed', '5'
    ])
    runpy.run_path(
        osp.join(REPO, 'tools', 'data', 'generate_synthetic_ava.py'),
        run_name='__main__')
    printed = capsys.readouterr().out
    assert 'timestamp_end=902' in printed
    csv = osp.join(out, 'annotations', 'ava_val_v2.2.csv')
    assert csv in printed
    with open(csv) as handle:
        videos = {line.split(',')[0] for line in handle}
    assert videos == {'synth_val_000', 'synth_val_001'}
