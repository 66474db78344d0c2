"""Source data that the preparation tools under ``tools/data`` used to turn
into wrong results without a word, called as their users call them
(``main(argv)`` with command-line arguments): a video in both split lists,
rawframes numbered from ``00000``, a NaN box tolerance, an extraction killed
half way and rerun, two video files of one id."""
import json
import multiprocessing
import os
import os.path as osp
import resource
import signal

import cv2
import numpy as np
import pytest
from mmaction.registry import DATASETS
from mmengine.registry import init_default_scope

from mmyowo.preparation.csv_annotations import CSVOptions, read_csv_annotations
from mmyowo.preparation.media_probe import probe_rawframes
from .test_converters import convert_csv, videos_to_rawframes, write_list

VIDEO = 'walk/clip01'
#: The test video of the conversions (no rows: a video without action).
OTHER = 'walk/clip02'
HW = (48, 64)


def frame_value(number: int) -> int:
    """Grey level of the frame file numbered ``number`` (tells them apart)."""
    return 10 + 20 * number


def write_frames(root, numbers, videos=(VIDEO, OTHER)):
    """Uniform grey frames ``{root}/{video}/{n:05d}.jpg`` of grey
    :func:`frame_value`."""
    for video in videos:
        os.makedirs(root / video, exist_ok=True)
        for n in numbers:
            image = np.full((*HW, 3), frame_value(n), np.uint8)
            assert cv2.imwrite(str(root / video / f'{n:05d}.jpg'), image)


def write_video(path, num_frames):
    """An MJPG AVI of ``num_frames`` grey frames (its header counts them)."""
    os.makedirs(osp.dirname(path), exist_ok=True)
    writer = cv2.VideoWriter(
        str(path), cv2.VideoWriter_fourcc(*'MJPG'), 25.0, (HW[1], HW[0]))
    assert writer.isOpened()
    for n in range(num_frames):
        writer.write(np.full((*HW, 3), n % 256, np.uint8))
    writer.release()
    return str(path)


def csv_args(tmp_path,
             rows,
             frames_root,
             train=(VIDEO, ),
             test=(OTHER, ),
             frame_base=1):
    """Arguments of ``convert_csv.py`` for rows of :data:`VIDEO`."""
    csv = tmp_path / 'boxes.csv'
    csv.write_text('video,frame,x1,y1,x2,y2,label\n' +
                   ''.join(f'{VIDEO},{row}\n' for row in rows))
    return [
        str(csv), '--out',
        str(tmp_path / 'gt.pkl'), '--classes',
        write_list(tmp_path / 'classes.txt', ['walk', 'run']), '--frame-base',
        str(frame_base), '--coords', 'pixel', '--frames-root',
        str(frames_root), '--train-list',
        write_list(tmp_path / 'train.txt', train), '--test-list',
        write_list(tmp_path / 'test.txt', test)
    ]


# --------------------------------------------------------------------- #
# convert_csv.py
# --------------------------------------------------------------------- #
def test_csv_video_in_both_split_lists(tmp_path):
    """Used to be written into both splits: tested on its training boxes
    (the ``--split-column`` path already refused this)."""
    root = tmp_path / 'rawframes'
    write_frames(root, range(1, 9))
    args = csv_args(tmp_path, ['2,10,10,40,30,walk'], root, [VIDEO, OTHER],
                    [OTHER])
    with pytest.raises(ValueError) as info:
        convert_csv.main(args)
    assert str(info.value) == (
        'a video must be in the train list or the test list of a split, not '
        'in both (it would be tested on the boxes it was trained on):\n'
        f'  split 0: 1 video(s) in both {tmp_path / "train.txt"} and '
        f"{tmp_path / 'test.txt'}: ['{OTHER}']")
    assert not (tmp_path / 'gt.pkl').exists()
    # Disjoint lists convert.
    write_list(tmp_path / 'train.txt', [VIDEO])
    gt = convert_csv.main(args)
    assert gt['train_videos'] == [[VIDEO]]
    assert gt['test_videos'] == [[OTHER]]


def test_csv_rawframes_numbered_from_zero(tmp_path):
    """``00000.jpg`` ...

    ``00011.jpg``: counting from ``00001`` used to give
    11 frames and shift every box one frame late. Refused unless declared;
    declared, the boxes land on their frames through the dataset.
    """
    root = tmp_path / 'rawframes'
    write_frames(root, range(0, 12))
    # 0-based CSV frames 3-5: the files 00003.jpg-00005.jpg.
    rows = [f'{f},10,10,40,30,walk' for f in (3, 4, 5)]
    args = csv_args(tmp_path, rows, root, frame_base=0)
    with pytest.raises(ValueError) as info:
        convert_csv.main(args)
    frame_dir = root / VIDEO
    assert (
        f'{frame_dir}: frame 00000.jpg is numbered before the first '
        'frame 00001.jpg (start index 1): the frames are numbered from '
        '0; declare it (convert_csv.py --start-index 0, and '
        'start_index=0 in the dataset config) or renumber them from 1') in str(
            info.value)
    assert not (tmp_path / 'gt.pkl').exists()

    gt = convert_csv.main(args + ['--start-index', '0'])
    assert gt['nframes'] == {VIDEO: 12, OTHER: 12}
    np.testing.assert_array_equal(gt['gttubes'][VIDEO][0][0][:, 0],
                                  [4, 5, 6])  # 1-based, as always

    init_default_scope('mmaction')
    pipeline = [
        dict(type='KFRSampleFrames', clip_len=1, test_mode=True),
        dict(type='RawFrameDecodeKeepBoxes')
    ]
    dataset = DATASETS.build(
        dict(
            type='SpatioTemporalActionDataset',
            ann_file=str(tmp_path / 'gt.pkl'),
            data_prefix=dict(img=str(root)),
            start_index=0,
            pipeline=pipeline))
    keys = [dataset[i] for i in range(len(dataset))]
    assert [k['frame_id'] for k in keys] == [4, 5, 6]
    for key, file_number in zip(keys, (3, 4, 5)):
        # The key frame is the file the CSV row named (JPEG: nearly).
        assert abs(key['imgs'][0].mean() - frame_value(file_number)) < 2
        np.testing.assert_array_equal(key['gt_bboxes'], [[10, 10, 40, 30]])
    # Every frame, the last one (00011.jpg) included.
    every = DATASETS.build(
        dict(
            type='SpatioTemporalActionDataset',
            ann_file=str(tmp_path / 'gt.pkl'),
            data_prefix=dict(img=str(root)),
            start_index=0,
            key_frames='all',
            pipeline=pipeline))
    for index in (0, len(every) - 1):
        key = every[index]
        assert abs(key['imgs'][0].mean() -
                   frame_value(key['frame_id'] - 1)) < 2
    assert key['frame_id'] == 12


def test_csv_start_index_one_on_frames_from_one(tmp_path):
    """The declared start index is checked against the files too."""
    root = tmp_path / 'rawframes'
    write_frames(root, range(1, 9))
    args = csv_args(tmp_path, ['2,10,10,40,30,walk'], root)
    assert convert_csv.main(args)['nframes'] == {VIDEO: 8, OTHER: 8}
    with pytest.raises(ValueError, match='first frame .*00000.jpg not found'):
        convert_csv.main(args + ['--start-index', '0'])
    # Videos have no file numbering to declare.
    videos = ['--videos-root' if a == '--frames-root' else a for a in args]
    with pytest.raises(SystemExit):
        convert_csv.main(videos + ['--start-index', '0'])


@pytest.mark.parametrize('value', ['nan', '-1', 'inf'])
def test_csv_box_tolerance_must_be_a_number(tmp_path, capsys, value):
    """``--box-tolerance nan`` used to accept a box 250 px outside the frame
    and clip it without an error (every comparison with NaN is false)."""
    root = tmp_path / 'rawframes'
    write_frames(root, range(1, 9))
    args = csv_args(tmp_path, ['2,-250,10,40,30,walk'], root)
    with pytest.raises(SystemExit) as info:
        convert_csv.main(args + ['--box-tolerance', value])
    assert info.value.code == 2
    assert (f"argument --box-tolerance: '{value}' is not a finite number of "
            'pixels >= 0') in capsys.readouterr().err
    assert not (tmp_path / 'gt.pkl').exists()
    # The API refuses it as well.
    with pytest.raises(ValueError, match='box_tolerance must be a finite'):
        read_csv_annotations(
            str(tmp_path / 'boxes.csv'), ['walk', 'run'],
            CSVOptions(
                frame_base=1, coords='pixel', box_tolerance=float(value)))
    # A number: the box lies outside by more, and is refused.
    with pytest.raises(ValueError, match='lies outside the 64x48 frame'):
        convert_csv.main(args + ['--box-tolerance', '5'])


# --------------------------------------------------------------------- #
# videos_to_rawframes.py
# --------------------------------------------------------------------- #
def test_extraction_interrupted_then_rerun(tmp_path, monkeypatch):
    """A run stopped after 40 of 120 frames, then run again, used to report '0
    extracted, 1 skipped' and leave 40 frames, which the converters then
    counted as the video's length."""
    video = write_video(tmp_path / 'videos' / 'walk' / 'clip01.avi', 120)
    out = tmp_path / 'rawframes'
    args = [str(tmp_path / 'videos'), str(out)]
    real_write = videos_to_rawframes.write_frame
    written = []

    def write_then_interrupt(path, *rest):
        if len(written) == 40:
            raise KeyboardInterrupt  # as a kill: no cleanup code runs after
        written.append(path)
        return real_write(path, *rest)

    monkeypatch.setattr(videos_to_rawframes, 'write_frame',
                        write_then_interrupt)
    with pytest.raises(KeyboardInterrupt):
        videos_to_rawframes.main(args)
    monkeypatch.setattr(videos_to_rawframes, 'write_frame', real_write)
    frame_dir = out / VIDEO
    assert len(os.listdir(frame_dir)) == 40

    results = dict(videos_to_rawframes.main(args))
    assert results[VIDEO] == (
        'ok: 120 frames (replaced 40 frame files of an unfinished or '
        'changed extraction)')
    assert probe_rawframes(str(frame_dir)) == (120, *HW)
    record = json.loads((frame_dir / '.extracted.json').read_text())
    assert record == dict(
        frames=120, filename_tmpl='{:05d}.jpg', video=video, announced=120)
    # Finished: a third run skips it.
    assert dict(videos_to_rawframes.main(args))[VIDEO] == (
        'skipped: 120 frames of a finished extraction exist (use '
        '--overwrite)')
    # A frame lost afterwards: not finished any more, extracted again.
    (frame_dir / '00120.jpg').unlink()
    assert dict(videos_to_rawframes.main(args))[VIDEO].startswith(
        'ok: 120 frames (replaced 119 frame files')


FRAME_LIMIT = 8 * 1024  # bytes a killed write gets to disk


def write_noise_video(path, num_frames):
    """An MJPG AVI of noise: each frame's JPEG exceeds :data:`FRAME_LIMIT`."""
    os.makedirs(path.parent, exist_ok=True)
    rng = np.random.default_rng(0)
    writer = cv2.VideoWriter(
        str(path), cv2.VideoWriter_fourcc(*'MJPG'), 25.0, (160, 120))
    for _ in range(num_frames):
        writer.write(rng.integers(0, 256, (120, 160, 3), np.uint8))
    writer.release()


def killed_mid_write(target, *args):
    """Run ``target(*args)`` in a child killed by SIGXFSZ as soon as a file it
    writes grows past :data:`FRAME_LIMIT`, as a kill during the write."""

    def run():
        signal.signal(signal.SIGXFSZ, signal.SIG_DFL)
        resource.setrlimit(resource.RLIMIT_FSIZE, (FRAME_LIMIT, FRAME_LIMIT))
        target(*args)

    child = multiprocessing.get_context('fork').Process(target=run)
    child.start()
    child.join(60)
    assert child.exitcode == -signal.SIGXFSZ


def test_frame_write_killed_leaves_no_partial_frame(tmp_path):
    """A frame whose writer was killed half way used to stay under its final
    name, a truncated JPEG that a dataset would read."""
    path = tmp_path / 'videos' / 'walk' / 'clip01.avi'
    write_noise_video(path, 3)
    frame_dir = tmp_path / 'rawframes' / VIDEO
    task = (VIDEO, str(path), str(frame_dir), '{:05d}.jpg', 95, False)
    killed_mid_write(videos_to_rawframes.extract_frames, task)
    assert [n for n in os.listdir(frame_dir) if not n.startswith('.')] == []
    # The rerun extracts every frame and removes the dead temporary.
    assert videos_to_rawframes.extract_frames(task)[1] == 'ok: 3 frames'
    assert sorted(os.listdir(frame_dir)) == [
        '.extracted.json', '00001.jpg', '00002.jpg', '00003.jpg'
    ]


def test_two_video_files_of_one_id(tmp_path):
    """``clip01.avi`` and ``clip01.mp4``: the second used to be 'skipped' as if
    extracted, its frames never written."""
    root = tmp_path / 'videos'
    avi = write_video(root / 'walk' / 'clip01.avi', 10)
    mp4 = root / 'walk' / 'clip01.mp4'
    mp4.write_bytes(open(avi, 'rb').read())
    write_video(root / 'walk' / 'clip02.avi', 10)
    with pytest.raises(ValueError) as info:
        videos_to_rawframes.main([str(root), str(tmp_path / 'out')])
    assert str(info.value) == (
        '1 video id(s) name several files, whose frames would go to one '
        'folder (one id must name one video: remove or rename the extra '
        'files, or pass --ext with one suffix):\n'
        f'  {VIDEO}: {avi}, {mp4}')
    assert not (tmp_path / 'out').exists()
    # Listed by id: which file is meant is just as unclear.
    with pytest.raises(ValueError, match=f'{VIDEO}: {avi}, {mp4}'):
        videos_to_rawframes.main([
            str(root),
            str(tmp_path / 'out'), '--video-list',
            write_list(tmp_path / 'ids.txt', [VIDEO])
        ])
    # One suffix: one file per id.
    results = dict(
        videos_to_rawframes.main(
            [str(root), str(tmp_path / 'out'), '--ext', '.avi']))
    assert results == {VIDEO: 'ok: 10 frames', 'walk/clip02': 'ok: 10 frames'}


@pytest.mark.parametrize(
    'record',
    [
        # json's parser recurses per level: RecursionError.
        b'[' * 100000,
        # int(inf): OverflowError.
        b'{"frames": 1e400, "filename_tmpl": "{:05d}.jpg"}',
        b'\xff\xfe',
        b'["frames"]',
    ])
def test_unreadable_completion_record_means_extract_again(tmp_path, record):
    frame_dir = tmp_path / VIDEO
    write_frames(tmp_path, [1, 2], videos=[VIDEO])
    (frame_dir / '.extracted.json').write_bytes(record)
    assert videos_to_rawframes.completed_frames(str(frame_dir),
                                                '{:05d}.jpg') is None
