"""ResumeValidationHook reads a marker file and checkpoint metas it did not
write: whatever they hold, it validates again rather than crash."""
import json
from types import SimpleNamespace

import pytest
from mmengine.runner import BaseLoop

from mmyowo.engine.hooks.resume_validation_hook import (MARKER,
                                                        ResumeValidationHook)


@pytest.mark.parametrize(
    'content',
    [
        b'[' * 100000,  # json's parser recurses per level: RecursionError
        b'{"token": ',
        b'\xff\xfe',
        b'["token"]',
        b'{"token": 3}',
    ])
def test_unreadable_marker_means_validate_again(tmp_path, content):
    (tmp_path / MARKER).write_bytes(content)
    runner = SimpleNamespace(work_dir=str(tmp_path))
    assert ResumeValidationHook._read_marker(runner) is None


def test_marker_token_is_read(tmp_path):
    (tmp_path / MARKER).write_text(json.dumps(dict(token='ab12')))
    runner = SimpleNamespace(work_dir=str(tmp_path))
    assert ResumeValidationHook._read_marker(runner) == 'ab12'


class _Loop(BaseLoop):

    def __init__(self):  # no runner, no data: only its type matters
        pass

    def run(self):
        pass


@pytest.mark.parametrize('meta', [['pending_validation'], 'meta', 3])
def test_checkpoint_meta_that_is_no_dict_carries_no_token(meta):
    # load_from takes any checkpoint, e.g. converted weights.
    hook = ResumeValidationHook()
    runner = SimpleNamespace(_train_loop=_Loop())
    hook.after_load_checkpoint(runner, dict(meta=meta))
    assert hook._resumed is None
    hook.after_load_checkpoint(
        runner, dict(meta=dict(pending_validation='ab12', epoch=2, iter=8)))
    assert hook._resumed == ('ab12', 2, 8)
