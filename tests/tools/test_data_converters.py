"""Tests for tools/data: videos -> rawframes, UCF101-24 and J-HMDB-21 GT."""
import importlib.util
import os
import os.path as osp
import sys

import cv2
import numpy as np
import pytest
from scipy.io import loadmat, savemat

from mmyowo.datasets.annotations import load_annotations
from mmyowo.datasets.jhmdb21 import JHMDB21_CLASSES
from mmyowo.datasets.ucf24 import UCF24_CLASSES
from mmyowo.preparation.media_probe import probe_rawframes
from .._paths import UCF24_MINI as MINI

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
MINI_VIDEOS = osp.join(MINI, 'videos')
MINI_MAT = osp.join(MINI, 'finalAnnots.mat')


def load_tool(name):
    path = osp.join(ROOT, 'tools', 'data', f'{name}.py')
    spec = importlib.util.spec_from_file_location(f'tool_{name}', path)
    module = importlib.util.module_from_spec(spec)
    # Registered so that worker processes can unpickle its functions.
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


videos_to_rawframes = load_tool('videos_to_rawframes')
convert_ucf24 = load_tool('convert_ucf24')
convert_jhmdb21 = load_tool('convert_jhmdb21')


def mini_video_ids():
    """``Class/v_Class_gXX_cYY`` of the ucf24-mini videos."""
    names = sorted(osp.splitext(n)[0] for n in os.listdir(MINI_VIDEOS))
    return [f'{n.split("_")[1]}/{n}' for n in names]


def mat_entries():
    """``{video: (num_imgs, [(class, sf, boxes), ...])}`` read directly."""
    entries = {}
    for entry in loadmat(MINI_MAT)['annot'][0]:
        tubes = [(int(t['class'][0, 0]), int(t['sf'][0, 0]),
                  t['boxes'].astype(np.float64)) for t in entry['tubes'][0]]
        entries[str(entry['name'][0])] = (int(entry['num_imgs'][0, 0]), tubes)
    return entries


def write_list(path, lines):
    path.write_text('\n'.join(lines) + '\n')
    return str(path)


@pytest.fixture(scope='module')
def mini_rawframes(tmp_path_factory):
    """The ucf24-mini videos extracted once (two workers)."""
    root = tmp_path_factory.mktemp('ucf24mini')
    video_list = write_list(root / 'videos.txt', mini_video_ids())
    results = videos_to_rawframes.main([
        MINI_VIDEOS,
        str(root / 'rawframes'), '--video-list', video_list, '--ext', '.mp4',
        '--flat-video-dir', '--num-workers', '2'
    ])
    return root, results


def test_videos_to_rawframes_matches_decodable_frames(mini_rawframes):
    root, results = mini_rawframes
    assert [v for v, _ in results] == mini_video_ids()
    entries = mat_entries()
    for video, status in results:
        num_imgs = entries[video][0]
        assert status == f'ok: {num_imgs} frames'
        # Frames on disk = frames of the video = num_imgs of the mat.
        assert probe_rawframes(str(root / 'rawframes' / video)) == (num_imgs,
                                                                    256, 340)
    video = 'CliffDiving/v_CliffDiving_g03_c01'
    capture = cv2.VideoCapture(
        osp.join(MINI_VIDEOS, 'v_CliffDiving_g03_c01.mp4'))
    for _ in range(10):
        ok, frame = capture.read()
    capture.release()
    written = cv2.imread(str(root / 'rawframes' / video / '00010.jpg'))
    # JPEG at quality 95: close to the decoded frame, not identical.
    assert np.abs(written.astype(int) - frame.astype(int)).mean() < 3


def test_videos_to_rawframes_skip_overwrite_and_errors(tmp_path):
    video_list = write_list(tmp_path / 'one.txt',
                            ['CliffDiving/v_CliffDiving_g03_c01'])
    args = [
        MINI_VIDEOS,
        str(tmp_path / 'out'), '--video-list', video_list, '--ext', '.mp4',
        '--flat-video-dir'
    ]
    assert videos_to_rawframes.main(args)[0][1] == 'ok: 92 frames'
    frame_dir = tmp_path / 'out' / 'CliffDiving' / 'v_CliffDiving_g03_c01'
    assert videos_to_rawframes.main(args)[0][1] == (
        'skipped: 92 frames of a finished extraction exist (use --overwrite)')
    # A frame added afterwards: the folder is no longer the recorded
    # extraction, so it is extracted again and the stale frame removed.
    (frame_dir / '00093.jpg').write_bytes(b'stale')
    assert videos_to_rawframes.main(args)[0][1] == (
        'ok: 92 frames (replaced 93 frame files of an unfinished or changed '
        'extraction)')
    assert not (frame_dir / '00093.jpg').exists()
    # --overwrite re-extracts a finished folder too.
    assert videos_to_rawframes.main(args + ['--overwrite'])[0][1] == \
        'ok: 92 frames'

    bad_root = tmp_path / 'bad'
    (bad_root / 'Walk').mkdir(parents=True)
    (bad_root / 'Walk' / 'v_empty.avi').write_bytes(b'')
    (bad_root / 'Walk' /
     'v_noise.avi').write_bytes(np.random.default_rng(0).bytes(4096))
    with pytest.raises(RuntimeError) as err:
        videos_to_rawframes.main([str(bad_root), str(tmp_path / 'bad_out')])
    assert 'v_empty.avi' in str(err.value)
    assert 'v_noise.avi' in str(err.value)
    with pytest.raises(FileNotFoundError, match='v_missing'):
        videos_to_rawframes.main([
            str(bad_root),
            str(tmp_path / 'bad_out'), '--video-list',
            write_list(tmp_path / 'm.txt', ['Walk/v_missing'])
        ])


def _check_ucf_gt(gt, train, test, frames_root):
    """Compare a converted GT with the mat read independently."""
    entries = mat_entries()
    assert gt['labels'] == list(UCF24_CLASSES)
    assert gt['train_videos'] == [train] and gt['test_videos'] == [test]
    assert set(gt['nframes']) == set(train + test)
    sx, sy = 340 / 320, 256 / 240
    for video in train + test:
        num_imgs, tubes = entries[video]
        n, h, w = probe_rawframes(osp.join(frames_root, video))
        assert gt['nframes'][video] == n == num_imgs
        assert gt['resolution'][video] == (h, w) == (256, 340)
        converted = [t for ts in gt['gttubes'][video].values() for t in ts]
        assert len(converted) == len(tubes)
        # The converter keeps the mat order of the tubes of each label.
        by_label = {}
        for cls, sf, xywh in tubes:
            by_label.setdefault(cls - 1, []).append((sf, xywh))
        assert set(by_label) == set(gt['gttubes'][video])
        pairs = [
            (tube, sf, xywh) for label, mat_tubes in by_label.items()
            for tube, (sf, xywh) in zip(gt['gttubes'][video][label], mat_tubes)
        ]
        for tube, sf, xywh in pairs:
            expected = np.stack([
                xywh[:, 0] * sx, xywh[:, 1] * sy,
                (xywh[:, 0] + xywh[:, 2]) * sx, (xywh[:, 1] + xywh[:, 3]) * sy
            ], 1)
            expected[:, 0::2] = expected[:, 0::2].clip(0, 340)
            expected[:, 1::2] = expected[:, 1::2].clip(0, 256)
            keep = ((expected[:, 2] - expected[:, 0] >= 1)
                    & (expected[:, 3] - expected[:, 1] >= 1))
            np.testing.assert_array_equal(tube[:, 0],
                                          np.arange(len(xywh))[keep] + sf)
            np.testing.assert_allclose(tube[:, 1:], expected[keep], rtol=1e-6)
            assert (tube[:, 1:3] >= 0).all()
            assert (tube[:, 3] <= 340).all() and (tube[:, 4] <= 256).all()


def test_convert_ucf24_mini(mini_rawframes, tmp_path, capsys):
    root, _ = mini_rawframes
    ids = mini_video_ids()
    train, test = ids[:2], ids[2:]
    # YOWO-style per-frame train list, per-video test list.
    train_list = write_list(tmp_path / 'trainlist.txt',
                            [f'{v}/00001.txt' for v in train])
    test_list = write_list(tmp_path / 'testlist_video.txt', test)
    out = str(tmp_path / 'gt.pkl')
    convert_ucf24.main([
        MINI_MAT, '--out', out, '--train-list', train_list, '--test-list',
        test_list, '--frames-root',
        str(root / 'rawframes')
    ])
    assert f'videos: {len(ids)}' in capsys.readouterr().out
    gt = load_annotations(out)
    _check_ucf_gt(gt, train, test, str(root / 'rawframes'))

    # Measuring the videos themselves gives the same result.
    out_json = str(tmp_path / 'gt.json')
    convert_ucf24.main([
        MINI_MAT, '--out', out_json, '--train-list', train_list, '--test-list',
        test_list, '--videos-root', MINI_VIDEOS, '--video-ext', '.mp4',
        '--flat-video-dir', '--num-workers', '2'
    ])
    from_videos = load_annotations(out_json)
    assert from_videos['nframes'] == gt['nframes']
    assert from_videos['resolution'] == gt['resolution']
    for video, tubes in gt['gttubes'].items():
        for label, arrays in tubes.items():
            for a, b in zip(arrays, from_videos['gttubes'][video][label]):
                np.testing.assert_array_equal(a, b)


def test_convert_ucf24_split_and_disk_checks(mini_rawframes, tmp_path):
    root, _ = mini_rawframes
    ids = mini_video_ids()
    absent = 'Basketball/v_Basketball_g01_c01'  # in the mat, not on disk
    train_list = write_list(tmp_path / 'train.txt', ids[:2] + [absent])
    test_list = write_list(tmp_path / 'test.txt', ids[2:3])
    args = [
        MINI_MAT, '--out',
        str(tmp_path / 'gt.pkl'), '--train-list', train_list, '--test-list',
        test_list, '--frames-root',
        str(root / 'rawframes')
    ]
    with pytest.raises(FileNotFoundError, match='--on-disk-only'):
        convert_ucf24.main(args)
    gt = convert_ucf24.main(args + ['--on-disk-only'])
    assert gt['train_videos'] == [ids[:2]]
    assert absent not in gt['nframes']

    # Without frames on disk: num_imgs and the given frame size.
    gt = convert_ucf24.main([
        MINI_MAT, '--out',
        str(tmp_path / 'gt2.pkl'), '--train-list', train_list, '--test-list',
        test_list, '--frame-size', '320', '240'
    ])
    assert gt['resolution'][absent] == (240, 320)
    assert gt['nframes'][absent] == mat_entries()[absent][0]
    num_imgs, tubes = mat_entries()[absent]
    np.testing.assert_allclose(
        gt['gttubes'][absent][0][0][0, 1:],
        [*tubes[0][2][0, :2], *(tubes[0][2][0, :2] + tubes[0][2][0, 2:])])

    unknown = write_list(tmp_path / 'unknown.txt', ['Walk/v_Walk_g01_c01'])
    with pytest.raises(ValueError, match='unknown.txt: 1 video'):
        convert_ucf24.main([
            MINI_MAT, '--out',
            str(tmp_path / 'gt3.pkl'), '--train-list', unknown, '--test-list',
            test_list
        ])


def _write_mat(path, entries, name_field='videoName'):
    """A finalAnnots-like mat: ``entries`` = [(name, num_imgs, tubes)]."""
    tube_dtype = [('ef', 'O'), ('sf', 'O'), ('class', 'O'), ('boxes', 'O')]
    annot = np.empty((1, len(entries)),
                     dtype=[('num_imgs', 'O'), (name_field, 'O'),
                            ('tubes', 'O')])
    for i, (name, num_imgs, tubes) in enumerate(entries):
        tube_arr = np.empty((1, len(tubes)), dtype=tube_dtype)
        for j, (cls, sf, boxes) in enumerate(tubes):
            # Like finalAnnots.mat: uint8 boxes, uint16 where needed.
            boxes = np.asarray(boxes)
            boxes = boxes.astype(np.uint8 if boxes.max() < 256 else np.uint16)
            tube_arr[0, j] = (np.array([[sf + len(boxes) - 1]],
                                       np.uint8), np.array([[sf]], np.uint8),
                              np.array([[cls]], np.uint8), boxes)
        annot[0, i] = (np.array([[num_imgs]],
                                np.uint8), np.array([name]), tube_arr)
    savemat(path, {'annot': annot})
    return path


def test_convert_ucf24_clips_and_drops_boxes(tmp_path, capsys):
    video = 'Biking/v_Biking_g01_c01'
    overflow = [[250, 10, 60, 100]]  # x + w = 310 overflows uint8
    boxes = [
        [300, 200, 100, 100],  # clipped to the 320x240 frame
        [319, 5, 10, 10],  # 1 px wide after clipping: kept
        [320, 5, 10, 10],  # 0 px wide after clipping: dropped
    ]
    mat = _write_mat(
        str(tmp_path / 'a.mat'), [(video, 5, [(3, 2, overflow),
                                              (3, 3, boxes)])])
    assert loadmat(mat)['annot'][0, 0]['tubes'][0, 0]['boxes'].dtype == \
        np.uint8
    lst = write_list(tmp_path / 'l.txt', [video])
    gt = convert_ucf24.main([
        mat, '--out',
        str(tmp_path / 'gt.pkl'), '--train-list', lst, '--test-list', lst
    ])
    first, second = gt['gttubes'][video][2]
    np.testing.assert_array_equal(first, [[2, 250, 10, 310, 110]])
    np.testing.assert_array_equal(second, [[3, 300, 200, 320, 240],
                                           [4, 319, 5, 320, 15]])
    report = capsys.readouterr().out
    assert 'degenerate boxes dropped: 1' in report
    assert 'boxes clipped into the frame: 2' in report

    # Same boxes, frames on disk of another size: scaled, then clipped.
    gt = convert_ucf24.main([
        mat, '--out',
        str(tmp_path / 'gt.pkl'), '--train-list', lst, '--test-list', lst,
        '--frame-size', '160', '120'
    ])
    np.testing.assert_array_equal(gt['gttubes'][video][2][0][0],
                                  [2, 125, 5, 155, 55])

    bad = _write_mat(
        str(tmp_path / 'b.mat'), [(video, 5, [(4, 1, [[1, 1, 5, 5]])])])
    with pytest.raises(ValueError, match='contradicts the class folder'):
        convert_ucf24.parse_final_annots(bad)
    bad = _write_mat(
        str(tmp_path / 'c.mat'), [(video, 5, [(30, 1, [[1, 1, 5, 5]])])])
    with pytest.raises(ValueError, match=r'c.mat: .*class 30 outside'):
        convert_ucf24.parse_final_annots(bad)
    savemat(str(tmp_path / 'd.mat'), {'other': np.zeros(2)})
    with pytest.raises(ValueError, match='no "annot" struct'):
        convert_ucf24.parse_final_annots(str(tmp_path / 'd.mat'))


def _write_jhmdb_labels(root, video, rows_per_frame):
    folder = root / video
    folder.mkdir(parents=True)
    for frame, rows in rows_per_frame.items():
        (folder /
         f'{frame:05d}.txt').write_text(''.join(' '.join(str(v)
                                                         for v in row) + '\n'
                                                for row in rows))


def test_convert_jhmdb21(tmp_path, capsys):
    labels = tmp_path / 'labels'
    va = 'brush_hair/April_09_brush_hair_u_nm_np1_ba_goo_0'
    vb = 'wave/wave_hello_f_cm_np1_fr_med_1'
    _write_jhmdb_labels(
        labels,
        va,
        {
            1: [(1, 10, 20, 110, 200)],
            2: [(1, 12.5, 20, 112, 200)],
            3: [(1, 14, 20, 330, 250)],  # clipped to 320x240
        })
    _write_jhmdb_labels(labels, vb,
                        {f: [(21, 5 * f, 5, 50 + f, 60)]
                         for f in range(1, 5)})
    # Rawframes of vb only: 6 frames of 64x48 (labels are within them).
    frames = tmp_path / 'rgb-images'
    os.makedirs(frames / vb)
    for f in range(1, 7):
        cv2.imwrite(
            str(frames / vb / f'{f:05d}.png'), np.zeros((48, 64, 3), np.uint8))
    train = write_list(tmp_path / 'trainlist.txt',
                       [f'{va}/{f:05d}.txt' for f in (1, 2, 3)])
    test = write_list(tmp_path / 'testlist.txt', [vb])
    out = str(tmp_path / 'jhmdb.json')
    gt = convert_jhmdb21.main([
        str(labels), '--out', out, '--train-list', train, '--test-list', test,
        '--train-list', test, '--test-list', train
    ])
    assert gt['labels'] == list(JHMDB21_CLASSES)
    assert gt['train_videos'] == [[va], [vb]]
    assert gt['test_videos'] == [[vb], [va]]
    np.testing.assert_array_equal(gt['gttubes'][va][0][0], [[
        1, 10, 20, 110, 200
    ], [2, 12.5, 20, 112, 200], [3, 14, 20, 320, 240]])
    assert gt['nframes'] == {va: 3, vb: 4}
    assert gt['resolution'][va] == (240, 320)
    assert 'boxes clipped into the frame: 1' in capsys.readouterr().out
    loaded = load_annotations(out)
    np.testing.assert_array_equal(loaded['gttubes'][vb][20][0][:, 0],
                                  [1, 2, 3, 4])

    # With rawframes, their count and size win over the labels.
    frames_args = ['--frames-root', str(frames)]
    gt = convert_jhmdb21.main([
        str(labels), '--out', out, '--train-list', test, '--test-list', test,
        *frames_args
    ])
    assert gt['nframes'] == {vb: 6} and gt['resolution'] == {vb: (48, 64)}
    # frame 4: x1 = 20, x2 = 54 inside 64 px; frame 1 unchanged.
    np.testing.assert_array_equal(gt['gttubes'][vb][20][0][[0, 3]],
                                  [[1, 5, 5, 51, 48], [4, 20, 5, 54, 48]])
    with pytest.raises(FileNotFoundError, match='1 split video'):
        convert_jhmdb21.main([
            str(labels), '--out', out, '--train-list', train, '--test-list',
            test, *frames_args
        ])


def test_convert_jhmdb21_errors(tmp_path):
    labels = tmp_path / 'labels'
    video = 'run/v1'
    _write_jhmdb_labels(labels, video, {1: [(22, 1, 1, 5, 5)]})
    lst = write_list(tmp_path / 'l.txt', [video])
    args = [
        str(labels), '--out',
        str(tmp_path / 'gt.pkl'), '--train-list', lst, '--test-list', lst
    ]
    with pytest.raises(ValueError, match=r'00001.txt:1: class 22 outside'):
        convert_jhmdb21.main(args)
    (labels / video / '00001.txt').write_text('12 1 1 5\n')
    with pytest.raises(ValueError, match=r'00001.txt:1: expected'):
        convert_jhmdb21.main(args)
    missing = write_list(tmp_path / 'm.txt', ['run/v2'])
    with pytest.raises(FileNotFoundError, match='run/v2'):
        convert_jhmdb21.main(args[:3] +
                             ['--train-list', missing, '--test-list', lst])
