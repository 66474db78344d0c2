"""Bad source data through the data converters under ``tools/data``, called
with command-line arguments as their users call them (``main(argv)``)."""
import importlib.util
import os.path as osp

import numpy as np
import pytest
from scipy.io import savemat

from mmyowo.preparation.csv_annotations import CSVAnnotationError
from .._e2e import REPO
from .._paths import UCF24_MINI
from ._inputs import UNREADABLE_VIDEOS, frames_of, truncated_avi, write_avi


def _tool(name):
    path = osp.join(REPO, 'tools', 'data', f'{name}.py')
    spec = importlib.util.spec_from_file_location(f'battery_{name}', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


videos_to_rawframes = _tool('videos_to_rawframes')
convert_ucf24 = _tool('convert_ucf24')
convert_jhmdb21 = _tool('convert_jhmdb21')
convert_csv = _tool('convert_csv')


def write_list(path, lines):
    path.write_text(''.join(f'{line}\n' for line in lines))
    return str(path)


# --------------------------------------------------------------------- #
# videos_to_rawframes.py
# --------------------------------------------------------------------- #
@pytest.fixture
def test_frames(tiny_data):
    return frames_of(osp.join(tiny_data, 'rawframes', 'test', 'test_0000'))


def test_unreadable_videos_fail_each_named(tmp_path, test_frames):
    root = tmp_path / 'videos'
    write_avi(str(root / 'Walk' / 'v_good.avi'), test_frames)
    paths = {}
    for kind, data in UNREADABLE_VIDEOS.items():
        paths[kind] = root / 'Walk' / f'v_{kind}.avi'
        paths[kind].write_bytes(data)
    with pytest.raises(RuntimeError) as info:
        videos_to_rawframes.main([str(root), str(tmp_path / 'out')])
    text = str(info.value)
    assert text.startswith('frame extraction failed for:')
    for kind, path in paths.items():
        assert f'Walk/v_{kind}: error: {path}: ' in text, kind
    assert 'v_good' not in text
    assert len(list((tmp_path / 'out' / 'Walk' / 'v_good').glob('*.jpg'))) \
        == 24


def test_truncated_video_is_counted_and_listed(tmp_path, test_frames, capsys):
    """Used to be reported as 'ok' with the frames before the cut."""
    root = tmp_path / 'videos'
    write_avi(str(root / 'Walk' / 'v_good.avi'), test_frames)
    full = write_avi(str(tmp_path / 'full.avi'), test_frames)
    path, announced, decoded = truncated_avi(full, root / 'Walk' / 'v_cut.avi')
    results = dict(
        videos_to_rawframes.main([str(root), str(tmp_path / 'out')]))
    assert results['Walk/v_good'] == 'ok: 24 frames'
    assert results['Walk/v_cut'] == (
        f'truncated: {decoded} frames written; {path}: decoding stopped at '
        f'frame {decoded} (0-based) of the {announced} frames the container '
        'announces: the file is truncated or corrupt')
    assert len(list((tmp_path / 'out' / 'Walk' / 'v_cut').glob('*.jpg'))) \
        == decoded
    out = capsys.readouterr().out
    assert '2 extracted (1 truncated), 0 skipped, 0 failed' in out
    assert f'WARNING: Walk/v_cut: {results["Walk/v_cut"]}' in out


def test_video_of_the_list_missing(tmp_path):
    (tmp_path / 'videos').mkdir()
    with pytest.raises(FileNotFoundError, match="'Walk/v_gone' not found"):
        videos_to_rawframes.main([
            str(tmp_path / 'videos'),
            str(tmp_path / 'out'), '--video-list',
            write_list(tmp_path / 'ids.txt', ['Walk/v_gone'])
        ])


# --------------------------------------------------------------------- #
# convert_ucf24.py
# --------------------------------------------------------------------- #
VIDEO = 'Biking/v_Biking_g01_c01'
BIKING = 3  # 1-based class of Biking in UCF101-24


def write_mat(path, sf, cls, boxes, num_imgs=10, name=VIDEO):
    """A finalAnnots-like mat with one tube of float ``boxes`` (``num_imgs`` a
    number or the array stored as is)."""
    tube = np.empty((1, 1),
                    dtype=[('ef', 'O'), ('sf', 'O'), ('class', 'O'),
                           ('boxes', 'O')])
    boxes = np.asarray(boxes, np.float64)
    tube[0, 0] = (np.array([[sf + len(boxes) - 1]]), np.array([[sf]]),
                  np.array([[cls]]), boxes)
    annot = np.empty((1, 1),
                     dtype=[('num_imgs', 'O'), ('videoName', 'O'),
                            ('tubes', 'O')])
    if np.ndim(num_imgs) == 0:
        num_imgs = np.array([[num_imgs]])
    annot[0, 0] = (num_imgs, np.array([name]), tube)
    savemat(str(path), {'annot': annot})
    return str(path)


def convert(mat, tmp_path):
    lst = write_list(tmp_path / 'list.txt', [VIDEO])
    return convert_ucf24.main([
        str(mat), '--out',
        str(tmp_path / 'gt.pkl'), '--train-list', lst, '--test-list', lst
    ])


def test_intact_mat_converts(tmp_path):
    mat = write_mat(tmp_path / 'a.mat', 2, BIKING, [[1, 2, 10, 20]] * 3)
    gt = convert(mat, tmp_path)
    np.testing.assert_array_equal(gt['gttubes'][VIDEO][BIKING - 1][0][:, 0],
                                  [2, 3, 4])


@pytest.mark.parametrize('damage', ['empty', 'text', 'truncated'])
def test_unreadable_mat_names_the_file(tmp_path, damage):
    """Scipy used to fail with its own error (MatReadError, OSError ...) not
    naming the file."""
    with open(osp.join(UCF24_MINI, 'finalAnnots.mat'), 'rb') as f:
        data = f.read()
    path = tmp_path / 'finalAnnots.mat'
    path.write_bytes({
        'empty': b'',
        'text': b'annot = [...]\n' * 20,
        'truncated': data[:len(data) // 2]
    }[damage])
    with pytest.raises(ValueError) as info:
        convert(path, tmp_path)
    assert str(info.value).startswith(
        f'{path}: cannot be read as a MATLAB .mat file (empty, truncated, '
        'corrupt or not a v5 .mat)')


def test_missing_mat(tmp_path):
    path = tmp_path / 'nothing.mat'
    with pytest.raises(FileNotFoundError, match=f'not found: {path}'):
        convert(path, tmp_path)


@pytest.mark.parametrize('sf, cls, boxes, message', [
    (2, BIKING, [[1, 2, 10, 20], [np.nan, 2, 10, 20]],
     'tube 0: frame 3: box [nan, 2.0, 10.0, 20.0] is not finite'),
    (2, BIKING, [[1, 2, np.inf, 20]],
     'tube 0: frame 2: box [1.0, 2.0, inf, 20.0] is not finite'),
    (np.nan, BIKING, [[1, 2, 10, 20]], 'tube 0: sf, ef and class must be '
     'integers'),
    (2, 25, [[1, 2, 10, 20]], 'tube 0: class 25 outside 1..24'),
    (2, 1, [[1, 2, 10, 20]], 'class 1 (Basketball) contradicts the class '
     "folder 'Biking'"),
])
def test_malformed_tube_names_file_video_and_tube(tmp_path, sf, cls, boxes,
                                                  message):
    """Non-finite boxes used to be clipped into the frame (infinity) or counted
    as degenerate (NaN), silently."""
    mat = write_mat(tmp_path / 'a.mat', sf, cls, boxes)
    with pytest.raises(ValueError) as info:
        convert(mat, tmp_path)
    assert str(info.value).startswith(f"{mat}: video '{VIDEO}' ")
    assert message in str(info.value)


@pytest.mark.parametrize('num_imgs, shown', [
    (np.zeros((0, 0)), '[]'),
    (np.array([[10, 11]]), '[10, 11]'),
    (np.nan, '[nan]'),
    (np.inf, '[inf]'),
    (9.5, '[9.5]'),
    (0, '[0]'),
])
def test_bad_num_imgs_names_file_and_video(tmp_path, num_imgs, shown):
    """An empty num_imgs used to raise a bare IndexError, infinity an
    OverflowError; 9.5 was truncated to 9 and 0 accepted."""
    mat = write_mat(tmp_path / 'a.mat', 2, BIKING, [[1, 2, 10, 20]], num_imgs)
    with pytest.raises(ValueError) as info:
        convert(mat, tmp_path)
    assert str(info.value) == (
        f"{mat}: video '{VIDEO}': num_imgs must be one positive integer, "
        f'got {shown}')


def test_empty_video_name_names_file_and_entry(tmp_path):
    mat = write_mat(tmp_path / 'a.mat', 2, BIKING, [[1, 2, 10, 20]], name='')
    with pytest.raises(ValueError) as info:
        convert(mat, tmp_path)
    assert str(info.value) == (
        f'{mat}: annot entry 0: videoName must be one video id '
        '"Class/video", got []')


@pytest.mark.parametrize('boxes, shape', [
    ([[1, 2, 10, 20, 5]] * 3, '(3, 5)'),
    ([[1, 2, 10]] * 4, '(4, 3)'),
])
def test_boxes_without_four_columns_name_file_video_and_tube(
        tmp_path, boxes, shape):
    """Five columns used to fail in numpy's reshape; three columns of four
    boxes were silently read as three boxes of four columns."""
    mat = write_mat(tmp_path / 'a.mat', 2, BIKING, boxes)
    with pytest.raises(ValueError) as info:
        convert(mat, tmp_path)
    assert str(info.value) == (
        f"{mat}: video '{VIDEO}' tube 0: boxes must be an (n, 4) array of "
        f'x, y, w, h, got shape {shape}')


# --------------------------------------------------------------------- #
# convert_jhmdb21.py
# --------------------------------------------------------------------- #
@pytest.mark.parametrize('line, problem', [
    ('1 nan 10 50 50', 'a coordinate is not finite'),
    ('1 10 10 inf 50', 'a coordinate is not finite'),
    ('1 10 10 50', '4 fields'),
    ('1 10 10 fifty 50', "could not convert string to float: 'fifty'"),
    ('inf 10 10 50 50', "class 'inf' is not an integer"),
    ('nan 10 10 50 50', "class 'nan' is not an integer"),
    ('1.5 10 10 50 50', "class '1.5' is not an integer"),
])
def test_malformed_jhmdb_label_line(tmp_path, line, problem):
    """NaN / infinite coordinates used to pass: infinity clipped to the frame
    border, NaN dropped as a "degenerate" box.

    Class ``inf`` used to raise a
    bare OverflowError, class ``1.5`` was read as 1.
    """
    folder = tmp_path / 'labels' / 'wave' / 'v1'
    folder.mkdir(parents=True)
    (folder / '00001.txt').write_text('21 10 10 50 50\n')
    (folder / '00002.txt').write_text(f'21 12 12 52 52\n{line}\n')
    lst = write_list(tmp_path / 'list.txt', ['wave/v1'])
    with pytest.raises(ValueError) as info:
        convert_jhmdb21.main([
            str(tmp_path / 'labels'), '--out',
            str(tmp_path / 'gt.pkl'), '--train-list', lst, '--test-list', lst
        ])
    assert str(info.value) == (
        f'{folder / "00002.txt"}:2: expected "cls x1 y1 x2 y2", got '
        f'{line!r} ({problem})')


def test_jhmdb_class_out_of_range(tmp_path):
    folder = tmp_path / 'labels' / 'wave' / 'v1'
    folder.mkdir(parents=True)
    (folder / '00001.txt').write_text('22 10 10 50 50\n')
    lst = write_list(tmp_path / 'list.txt', ['wave/v1'])
    with pytest.raises(
            ValueError, match=r'00001\.txt:1: class 22 outside '
            r'1\.\.21'):
        convert_jhmdb21.main([
            str(tmp_path / 'labels'), '--out',
            str(tmp_path / 'gt.pkl'), '--train-list', lst, '--test-list', lst
        ])


def convert_jhmdb(tmp_path, videos=('wave/v1', )):
    lst = write_list(tmp_path / 'list.txt', videos)
    return convert_jhmdb21.main([
        str(tmp_path / 'labels'), '--out',
        str(tmp_path / 'gt.pkl'), '--train-list', lst, '--test-list', lst
    ])


def test_jhmdb_video_without_box_is_refused(tmp_path):
    """Label files that are all blank used to end in max() of an empty
    sequence."""
    folder = tmp_path / 'labels' / 'wave' / 'v1'
    folder.mkdir(parents=True)
    (folder / '00001.txt').write_text('\n')
    (folder / '00002.txt').write_text('')
    with pytest.raises(ValueError) as info:
        convert_jhmdb(tmp_path)
    assert str(info.value) == (
        f'{folder}: the label files hold no box (all 2 are blank): remove '
        'the video from the split lists')
    assert not (tmp_path / 'gt.pkl').exists()


def test_jhmdb_build_gt_refuses_a_video_without_box():
    with pytest.raises(ValueError) as info:
        convert_jhmdb21.build_gt({'wave/v1': {}}, [['wave/v1']], [[]], {})
    assert str(info.value) == "video 'wave/v1': no box in its label files"


def test_jhmdb_label_file_named_by_a_non_ascii_digit(tmp_path):
    """'2' in superscript passes str.isdigit() but not int()."""
    folder = tmp_path / 'labels' / 'wave' / 'v1'
    folder.mkdir(parents=True)
    path = folder / '0000\u00b2.txt'
    path.write_text('21 10 10 50 50\n')
    with pytest.raises(ValueError) as info:
        convert_jhmdb(tmp_path)
    assert str(info.value) == (
        f'{path}: label files must be named by frame number, e.g. 00001.txt')


def test_jhmdb_label_file_that_is_not_utf8_text(tmp_path):
    """Used to raise a bare UnicodeDecodeError."""
    folder = tmp_path / 'labels' / 'wave' / 'v1'
    folder.mkdir(parents=True)
    (folder / '00001.txt').write_text('21 10 10 50 50\n')
    (folder / '00002.txt').write_bytes(b'21 12 12 52 52\n21 1\xe9 1 5 5\n')
    with pytest.raises(ValueError) as info:
        convert_jhmdb(tmp_path)
    assert str(info.value) == (
        f"{folder / '00002.txt'}:2: byte b'\\xe9' is not UTF-8 text: save "
        'the file as UTF-8')


# --------------------------------------------------------------------- #
# convert_csv.py
# --------------------------------------------------------------------- #
def _convert_csv(tiny_data, tmp_path, rows):
    csv = tmp_path / 'boxes.csv'
    csv.write_text('video,frame,x1,y1,x2,y2,label\n' +
                   ''.join(f'test/test_0000,{row}\n' for row in rows))
    classes = write_list(tmp_path / 'classes.txt', ['walk', 'run'])
    train = write_list(tmp_path / 'train.txt', ['test/test_0000'])
    test = write_list(tmp_path / 'test.txt', ['test/test_0001'])
    convert_csv.main([
        str(csv), '--out',
        str(tmp_path / 'gt.pkl'), '--classes', classes, '--frame-base', '1',
        '--coords', 'pixel', '--frames-root',
        osp.join(tiny_data,
                 'rawframes'), '--train-list', train, '--test-list', test
    ])
    return str(csv)


@pytest.mark.parametrize('rows, problems', [
    (['1,10,10,50,50,walk', '2,nan,10,50,50,walk', '3,10,10,50,50,fly'], [
        "row 3: x1 is 'nan', not a finite number",
        "row 4: label 'fly' is not in the class list"
    ]),
    (['1,10,10,50,50,walk', '2,10,10,500,50,walk'], [
        'row 3: box [10.0, 10.0, 500.0, 50.0] lies outside the 112x112 '
        "frame of video 'test/test_0000'"
    ]),
])
def test_csv_rows_with_bad_values_are_listed(tiny_data, tmp_path, rows,
                                             problems):
    """Every bad row is named, and nothing is written."""
    with pytest.raises(CSVAnnotationError) as info:
        _convert_csv(tiny_data, tmp_path, rows)
    text = str(info.value)
    assert text.startswith(f'{tmp_path / "boxes.csv"}: ')
    for problem in problems:
        assert problem in text, text
    assert not (tmp_path / 'gt.pkl').exists()
