"""Bad inputs through ``python tools/demo.py`` run as its user runs it (a
subprocess, about 10 s each): a malicious checkpoint and a truncated video with
``--strict``; checkpoints that do not load through its ``main`` in this
process.

The demo's other video cases go through ``YOWOVideoDetector``
(test_inference_api.py), which it runs.
"""
import os.path as osp

import pytest

from mmyowo.utils import CheckpointLoadError, CheckpointMismatchError
from .._e2e import PYTHON, REPO
from ..tools.test_demo import demo, read_back
from ._inputs import (damaged_copy, frames_of, other_classes_copy, payloads,
                      poisoned_copy, run_tool, truncated_avi, write_avi)

DEMO = osp.join(REPO, 'tools', 'demo.py')


def test_demo_refuses_a_malicious_checkpoint(trained, tiny_data, tmp_path,
                                             marker):
    bad = poisoned_copy(trained['checkpoint'],
                        payloads(marker)['eval'], tmp_path / 'evil.pth')
    video = write_avi(
        str(tmp_path / 'in.avi'),
        frames_of(osp.join(tiny_data, 'rawframes', 'test', 'test_0000')))
    out = str(tmp_path / 'out.mp4')
    code, text = run_tool([PYTHON, DEMO, trained['config'], bad, video, out],
                          cwd=tmp_path)
    assert code == 1
    assert f'CheckpointLoadError: {bad}: the file holds a builtins.eval ' \
        'object, not a checkpoint; it was not built' in text, text[-3000:]
    assert not osp.exists(out)


def test_demo_strict_on_a_truncated_video(trained, tiny_data, tmp_path):
    """Documented (README, tools/demo.py): the decodable frames are written,
    the warning names the file and the frame where decoding stopped, and
    ``--strict`` exits 1."""
    full = write_avi(
        str(tmp_path / 'full.avi'),
        frames_of(osp.join(tiny_data, 'rawframes', 'test', 'test_0000')))
    video, announced, decoded = truncated_avi(full, tmp_path / 'cut.avi')
    out = str(tmp_path / 'out.mp4')
    cmd = [
        PYTHON, DEMO, trained['config'], trained['checkpoint'], video, out,
        '--strict'
    ]
    code, text = run_tool(cmd, cwd=tmp_path)
    assert code == 1, text[-3000:]
    assert (f'VideoTruncatedWarning: {video}: decoding stopped at frame '
            f'{decoded} (0-based) of the {announced} frames the container '
            'announces') in text
    assert text.rstrip().endswith(
        f'{video}: truncated or corrupt input (--strict): {decoded} of '
        f'{announced} announced frames decoded')
    assert len(read_back(out)) == decoded


@pytest.mark.parametrize('kind', ['other classes', 'truncated'])
def test_demo_refuses_a_checkpoint_that_does_not_load(trained, tiny_data,
                                                      tmp_path, kind):
    """``main(argv)`` in this process (the subprocess path is above): a
    checkpoint of another number of classes, or a truncated file, stops the
    demo before any frame is read, naming the file."""
    if kind == 'other classes':
        bad = other_classes_copy(trained['checkpoint'], 3,
                                 tmp_path / 'three.pth')
        error, message = CheckpointMismatchError, 'the checkpoint does not fit'
    else:
        bad = damaged_copy(trained['checkpoint'], 'truncated',
                           tmp_path / 'cut.pth')
        error, message = CheckpointLoadError, 'a damaged zip archive'
    video = write_avi(
        str(tmp_path / 'in.avi'),
        frames_of(osp.join(tiny_data, 'rawframes', 'test', 'test_0000')))
    out = tmp_path / 'out.mp4'
    with pytest.raises(error) as info:
        demo.main([trained['config'], bad, video, str(out)])
    assert str(info.value).startswith(f'{bad}: {message}')
    assert not out.exists()
