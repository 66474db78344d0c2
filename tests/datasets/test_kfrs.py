"""Tests of key-frame random sampling (paper §3.1 eq. 1-3)."""
import itertools

import numpy as np
import pytest
from mmaction.registry import TRANSFORMS

from mmyowo.datasets.transforms.kfrs import (KFRSampleFrames, kfrs_bounds,
                                             kfrs_clip_frames,
                                             kfrs_position_range)

# Small clip lengths and steps, each tried on every video length 1..12 and
# every key frame.
CASES = list(itertools.product(range(1, 6), range(1, 4)))
TOTALS = range(1, 13)


def brute_force_frames(key: int, position: int, clip_len: int,
                       step: int) -> np.ndarray:
    """Unclamped clip ``[v_{k-(j-1)p}, ..., v_{k+(L-j)p}]``, frame by frame."""
    return np.array(
        [key + (i - position) * step for i in range(1, clip_len + 1)])


def valid_positions(key: int, total: int, clip_len: int, step: int) -> set:
    """Positions ``j`` whose clip lies inside ``[1, total]`` (eq. 1)."""
    return {
        j
        for j in range(1, clip_len + 1)
        if brute_force_frames(key, j, clip_len, step).min() >= 1
        and brute_force_frames(key, j, clip_len, step).max() <= total
    }


def repeated_frames(key: int, position: int, total: int, clip_len: int,
                    step: int) -> int:
    frames = brute_force_frames(key, position, clip_len, step)
    return int(((frames < 1) | (frames > total)).sum())


def make_results(key: int, total: int, start_index: int = 1) -> dict:
    return dict(
        frame_id=key,
        total_frames=total,
        start_index=start_index,
        video_id='v')


@pytest.mark.parametrize('clip_len,step', CASES)
def test_bounds_match_brute_force(clip_len, step):
    for total, key in ((t, k) for t in TOTALS for k in range(1, t + 1)):
        valid = valid_positions(key, total, clip_len, step)
        j_min, j_max = kfrs_bounds(key, total, clip_len, step)
        assert 1 <= j_min <= clip_len and 1 <= j_max <= clip_len
        if valid:
            # eq. 2-3: exactly the valid positions, as one interval.
            assert set(range(j_min, j_max + 1)) == valid
            assert kfrs_position_range(
                key, total, clip_len, step,
                test_mode=True) == (max(valid), max(valid))
        else:
            assert j_min > j_max
        low, high = kfrs_position_range(key, total, clip_len, step)
        reachable = set(range(low, high + 1))
        if valid:
            assert reachable == valid
        else:
            # Too short a video: the reachable positions repeat the fewest
            # edge frames possible.
            costs = {
                j: repeated_frames(key, j, total, clip_len, step)
                for j in range(1, clip_len + 1)
            }
            best = min(costs.values())
            assert reachable == {j for j, c in costs.items() if c == best}


@pytest.mark.parametrize('clip_len,step', CASES)
def test_clip_frames(clip_len, step):
    for total, key in ((t, k) for t in TOTALS for k in range(1, t + 1)):
        for position in range(1, clip_len + 1):
            frames = kfrs_clip_frames(key, position, total, clip_len, step)
            raw = brute_force_frames(key, position, clip_len, step)
            assert frames.dtype == np.int64 and frames.shape == (clip_len, )
            assert frames[position - 1] == key
            np.testing.assert_array_equal(frames, np.clip(raw, 1, total))
            if position in valid_positions(key, total, clip_len, step):
                np.testing.assert_array_equal(frames, raw)


@pytest.mark.parametrize('total,clip_len,step', [(12, 4, 1), (12, 3, 2),
                                                 (7, 5, 1), (4, 5, 2),
                                                 (30, 8, 3)])
def test_transform_train_reaches_every_valid_position(total, clip_len, step):
    np.random.seed(0)
    sampler = KFRSampleFrames(clip_len=clip_len, frame_interval=step)
    for key in range(1, total + 1):
        valid = valid_positions(key, total, clip_len, step)
        low, high = kfrs_position_range(key, total, clip_len, step)
        seen = []
        for _ in range(40 * clip_len):
            out = sampler(make_results(key, total))
            position = out['key_frame_index'] + 1
            seen.append(position)
            frames = out['frame_inds'] - out['start_index'] + 1
            assert frames[position - 1] == key
            if valid:
                assert position in valid
                assert frames.min() >= 1 and frames.max() <= total
        assert set(seen) == set(range(low, high + 1))
        # Uniform over the range: no position is starved.
        counts = np.bincount(seen)[low:high + 1]
        assert counts.min() >= 0.4 * len(seen) / (high - low + 1)


def test_transform_test_mode_uses_j_max():
    sampler = KFRSampleFrames(clip_len=4, frame_interval=2, test_mode=True)
    total = 20
    for key in range(1, total + 1):
        out = sampler(make_results(key, total, start_index=0))
        _, j_max = kfrs_bounds(key, total, 4, 2)
        assert out['key_frame_index'] == j_max - 1
        # start_index 0 (videos): frame_inds are 0-based positions.
        np.testing.assert_array_equal(
            out['frame_inds'],
            kfrs_clip_frames(key, j_max, total, 4, 2) - 1)


def test_transform_keys_and_start_index():
    sampler = TRANSFORMS.build(
        dict(
            type='KFRSampleFrames',
            clip_len=8,
            frame_interval=1,
            test_mode=True))
    out = sampler(make_results(10, 40, start_index=1))
    # Key frame 10 with 9 frames of past: the last position, YOWO-style.
    np.testing.assert_array_equal(out['frame_inds'], np.arange(3, 11))
    assert out['frame_inds'].dtype == np.int64
    assert out['key_frame_index'] == 7
    assert (out['clip_len'], out['frame_interval'], out['num_clips']) == (8, 1,
                                                                          1)
    # Early key frame: the key frame moves forward instead of repeating v_1.
    out = sampler(make_results(3, 40, start_index=1))
    np.testing.assert_array_equal(out['frame_inds'], np.arange(1, 9))
    assert out['key_frame_index'] == 2


def test_short_video_repeats_edge_frames():
    sampler = KFRSampleFrames(clip_len=8, frame_interval=1, test_mode=True)
    out = sampler(make_results(2, 3, start_index=1))
    np.testing.assert_array_equal(out['frame_inds'], [1, 2, 3, 3, 3, 3, 3, 3])
    assert out['key_frame_index'] == 1


def test_errors():
    with pytest.raises(ValueError, match='clip_len'):
        KFRSampleFrames(clip_len=0)
    with pytest.raises(ValueError, match='frame_interval'):
        KFRSampleFrames(clip_len=4, frame_interval=0)
    with pytest.raises(ValueError, match='video_x.*key frame 11'):
        KFRSampleFrames(clip_len=4)(
            dict(
                frame_id=11,
                total_frames=10,
                start_index=1,
                video_id='video_x'))
    with pytest.raises(ValueError, match='position'):
        kfrs_clip_frames(3, 5, 10, 4, 1)


@pytest.mark.parametrize('test_mode', [False, True])
def test_key_frame_last_is_yowo_sampling(test_mode):
    """``key_frame_position='last'``: the key frame always ends the clip, the
    frames before the video start repeat the first one."""
    np.random.seed(0)
    sampler = TRANSFORMS.build(
        dict(
            type='KFRSampleFrames',
            clip_len=4,
            frame_interval=2,
            test_mode=test_mode,
            key_frame_position='last'))
    for key in range(1, 21):
        out = sampler(make_results(key, 20, start_index=1))
        assert out['key_frame_index'] == 3
        np.testing.assert_array_equal(
            out['frame_inds'], np.clip(key + np.arange(-6, 1, 2), 1, 20))
    assert "key_frame_position='last'" in repr(sampler)
    with pytest.raises(ValueError, match='key_frame_position must be one of'):
        KFRSampleFrames(clip_len=4, key_frame_position='first')
