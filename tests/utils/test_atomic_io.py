"""Atomic writes' temporaries and the shared JSON reader of
:mod:`mmyowo.utils.atomic_io`."""
import os
import os.path as osp

import pytest

from mmyowo.utils.atomic_io import (atomic_output_path, atomic_write_bytes,
                                    claim_temporary, is_temporary, load_json,
                                    parse_json, release_temporary,
                                    temporary_path)

#: Above Linux's largest pid_max (2**22): no process has this id.
DEAD_PID = 2**22 + 1


class _Refused(ValueError):
    """A caller's own error type."""


def test_temporary_path_can_keep_the_suffix(tmp_path):
    final = str(tmp_path / 'out.mp4')
    tmp = temporary_path(final, keep_suffix=True)
    assert osp.dirname(tmp) == str(tmp_path)
    # OpenCV picks the container from the suffix.
    assert tmp.endswith('.mp4') and osp.basename(tmp).startswith('.out')
    assert is_temporary(tmp)
    assert is_temporary(temporary_path(final))
    assert not is_temporary(final)


def test_stale_suffixed_temporary_is_removed(tmp_path):
    stale = tmp_path / f'.out.tmp-{DEAD_PID}-0a1b2c3d.mp4'
    stale.write_bytes(b'half a video')
    atomic_write_bytes(b'x', tmp_path / 'other.bin')
    assert not stale.exists()


def test_temporary_naming_an_impossible_pid_is_stale(tmp_path):
    # os.kill refuses such a pid with OverflowError: no process has it.
    stale = tmp_path / f'.a.tmp-{2**64}-0a1b2c3d'
    stale.write_bytes(b'x')
    atomic_write_bytes(b'x', tmp_path / 'other.bin')
    assert not stale.exists()


def test_claimed_temporary_survives_cleanup(tmp_path):
    tmp = claim_temporary(str(tmp_path / 'out.jsonl'))
    try:
        with open(tmp, 'x') as f:
            f.write('{}\n')
        atomic_write_bytes(b'x', tmp_path / 'other.bin')
        assert osp.exists(tmp)
    finally:
        release_temporary(tmp)
    # Released and never renamed: a leftover of this process, now stale.
    atomic_write_bytes(b'y', tmp_path / 'other.bin')
    assert not osp.exists(tmp)


def test_atomic_output_path_renames_on_success(tmp_path):
    final = tmp_path / 'out.mp4'
    final.write_bytes(b'previous')
    with atomic_output_path(str(final)) as tmp:
        assert tmp.endswith('.mp4') and is_temporary(tmp)
        # A cleanup meanwhile (another write in the folder) keeps it.
        with open(tmp, 'wb') as f:
            f.write(b'new')
        atomic_write_bytes(b'x', tmp_path / 'other.bin')
        assert final.read_bytes() == b'previous'
    assert final.read_bytes() == b'new'
    assert not [n for n in os.listdir(tmp_path) if is_temporary(n)]


def test_atomic_output_path_keeps_previous_file_on_error(tmp_path):
    final = tmp_path / 'out.mp4'
    final.write_bytes(b'previous')
    with pytest.raises(RuntimeError, match='crash'):
        with atomic_output_path(str(final)) as tmp:
            with open(tmp, 'wb') as f:
                f.write(b'half')
            raise RuntimeError('crash')
    assert final.read_bytes() == b'previous'
    assert not [n for n in os.listdir(tmp_path) if is_temporary(n)]


def test_atomic_output_path_without_output_keeps_previous_file(tmp_path):
    final = tmp_path / 'out.mp4'
    final.write_bytes(b'previous')
    with atomic_output_path(str(final)):
        pass  # e.g. a source without frames: nothing written
    assert final.read_bytes() == b'previous'


def test_fast_writes_leave_cleanup_to_the_caller(tmp_path):
    stale = tmp_path / f'.a.tmp-{DEAD_PID}-0a1b2c3d'
    stale.write_bytes(b'x')
    atomic_write_bytes(
        b'frame', tmp_path / '1.jpg', durable=False, remove_stale=False)
    assert (tmp_path / '1.jpg').read_bytes() == b'frame'
    assert stale.exists()


def test_load_json(tmp_path):
    path = tmp_path / 'a.json'
    path.write_text('{"a": [1, 2]}')
    assert load_json(str(path), _Refused) == {'a': [1, 2]}


@pytest.mark.parametrize(
    'data, problem',
    [
        # json's scanner recurses once per level: RecursionError.
        (b'[' * 100000, 'nested'),
        (b'{"a": 1', 'invalid JSON'),
        (b'\xff\xfe{}', 'invalid JSON'),
    ])
def test_load_json_refusals_name_the_file(tmp_path, data, problem):
    path = tmp_path / 'bad.json'
    path.write_bytes(data)
    with pytest.raises(_Refused, match=problem) as info:
        load_json(str(path), _Refused)
    assert str(path) in str(info.value)


def test_parse_json_names_the_source():
    with pytest.raises(_Refused, match=r'log\.json:3: .*nested'):
        parse_json('[' * 100000, 'log.json:3', _Refused)
