"""tools/data/convert_csv.py: every problem of a user's CSV is reported with
its row and value, and nothing is written."""
import runpy
import sys

import pytest

from mmyowo.preparation.csv_annotations import CSVAnnotationError
from ._csv_media import HEADER, assert_tubes, convert_csv, problems, run, tube


def test_label_problems(csv_root):
    ok = 'cam1/a,1,0,0,10,10'
    assert problems(csv_root, [
        f'{ok},runn',
        f'{ok},2',
        f'{ok},run;',
        f'{ok}, run ;run',
        f'{ok},',
    ]) == [
        "row 2: label 'runn' is not in the class list of 3 names (did you "
        "mean 'run'?)",
        "row 3: label '2' is not in the class list of 3 names: labels "
        'given as indices? pass --label-by index',
        "row 4: label 'run;' has an empty entry between ';'",
        "row 5: label 'run ;run' names ['run'] twice",
        'row 6: empty label',
    ]
    index0 = ('--label-by', 'index', '--index-base', '0')
    assert problems(csv_root, [f'{ok},3', f'{ok},x'], *index0) == [
        'row 2: label index 3 is outside [0, 2] (3 classes, --index-base 0)'
        ': 1-based indices? pass --index-base 1',
        "row 3: label 'x' is not an integer index (--label-by index; for "
        'class names pass --label-by name)'
    ]
    index1 = ('--label-by', 'index', '--index-base', '1')
    assert problems(csv_root, [f'{ok},0', f'{ok},7'], *index1) == [
        'row 2: label index 0 is outside [1, 3] (3 classes, --index-base 1)'
        ': 0-based indices? pass --index-base 0',
        'row 3: label index 7 is outside [1, 3] (3 classes, --index-base 1)'
    ]


def test_frame_problems(csv_root):
    assert problems(
        csv_root, ['cam1/a,0,0,0,10,10,run', 'cam1/a,2.5,0,0,10,10,run']) == [
            'row 2: frame 0 is before the first frame, 1 (--frame-base 1): '
            '0-based frame numbers? pass --frame-base 0',
            "row 3: frame '2.5' is not a whole number"
        ]
    assert problems(csv_root, [
        'cam1/a,5,0,0,10,10,run', 'cam1/a,6,0,0,10,10,run'
    ]) == [
        "row 3: frame 6 is past the last frame of video 'cam1/a' (5 frames "
        'on disk, numbered 1..5)'
    ]
    assert problems(
        csv_root, ['cam1/a,5,0,0,10,10,run'], frame_base='0'
    ) == [
        "row 2: frame 5 is past the last frame of video 'cam1/a' (5 frames "
        'on disk, numbered 0..4): 1-based frame numbers? pass --frame-base 1'
    ]


def test_value_and_column_problems(csv_root):
    assert problems(csv_root, [
        'cam1/a,1,0,0,nan,10,run', 'cam1/a,1,0,0,,10,run',
        'cam1/a,1,0,abc,10,10,run', 'cam1/a,1,10,0,5,10,run',
        'cam1/a,1,0,0,10,10', ',1,0,0,10,10,run', '../x,1,0,0,10,10,run'
    ]) == [
        "row 2: x2 is 'nan', not a finite number", 'row 3: empty x2',
        "row 4: y1 'abc' is not a number",
        'row 5: x2 (5) <= x1 (10) in box [10.0, 0.0, 5.0, 10.0]: the columns '
        'are corners x1, y1, x2, y2 (for x, y, width, height write x2 = x + '
        'width)',
        "row 6: 6 fields, the header has 7: ['cam1/a', '1', '0', '0', '10', "
        "'10']", 'row 7: empty video',
        "row 8: video '../x' must be a relative path below the frames / "
        'videos root, without "..", e.g. "clip01" or "class/clip01"'
    ]
    (missing, ) = problems(
        csv_root, ['cam1/a;1;0;0;10;10;run'],
        header='video;frame;x1;y1;x2;y2;label')
    assert missing.startswith("row 1: missing column(s) ['video', 'frame',")
    assert missing.endswith('(the file is read with "," as the delimiter)')
    assert problems(
        csv_root, ['cam1/a,1,0,0,10,10,run,1'],
        header=HEADER + ',trackid') == [
            "row 1: unknown column(s) ['trackid'] (expected video, frame, x1, "
            'y1, x2, y2, label and optionally track_id; remove other '
            'columns, or name the split column with --split-column)'
        ]
    assert problems(csv_root, []) == ['row 2: no box rows after the header']


def test_box_outside_the_frame(csv_root, capsys):
    """Within --box-tolerance: clipped and counted; beyond: an error, or
    clipped and counted with --clip-boxes; nothing inside: an error."""
    assert problems(csv_root, [
        'b,1,-3,0,20,20,run', 'b,2,60,0,70,20,run'
    ]) == [
        'row 2: box [-3.0, 0.0, 20.0, 20.0] lies outside the 50x30 frame of '
        "video 'b' by more than 1 px (pass --clip-boxes to clip such boxes "
        'into the frame)',
        'row 3: box [60.0, 0.0, 70.0, 20.0] lies outside the 50x30 frame of '
        "video 'b' by more than 1 px (pass --clip-boxes to clip such boxes "
        'into the frame)'
    ]
    assert problems(csv_root, ['b,2,60,0,70,20,run'], '--clip-boxes') == [
        "row 2: box [60.0, 0.0, 70.0, 20.0] has no part inside the 50x30 "
        "frame of video 'b'"
    ]
    gt = run(csv_root, ['b,1,-3,0,20,20,run', 'b,2,-0.5,0,20,30.8,run'],
             '--clip-boxes')
    assert_tubes(gt['gttubes']['b'],
                 {0: [tube([1, 0, 0, 20, 20], [2, 0, 0, 20, 30])]})
    report = capsys.readouterr().out
    assert '  boxes clipped into the frame (--clip-boxes): 1\n' in report
    assert '  boxes clipped into the frame (within 1 px): 1\n' in report
    # Pixel boxes refused by the size of the frame, with a hint when the
    # file was declared normalised.
    (found, ) = problems(csv_root, ['b,1,5,3,25,27,run'], coords='normalized')
    assert found.endswith(': pixel coordinates? pass --coords pixel')
    # Normalised boxes declared as pixels.
    assert problems(
        csv_root, ['b,1,0.1,0.1,0.5,0.9,run', 'b,2,0,0,1,1,run']) == [
            'rows 2-3: every box coordinate lies in [0, 1]: normalised '
            'coordinates? pass --coords normalized'
        ]


def test_repeated_rows_and_ambiguous_boxes(csv_root):
    found = problems(csv_root, [
        'b,1,0,0,10,10,run', 'b,1,0,0,10,10,run', 'b,2,0,0,10,10,run',
        'b,2,20,0,30,10,run', 'b,3,0,0,10,10,run', 'b,3,0,0,10,10.2,wave'
    ])
    assert found == [
        "row 3: repeats row 2 (label 'run' on frame 1 of video 'b')",
        "row 5: a second box of label 'run' on frame 2 of video 'b' (row 4 "
        'has the first): without a track_id column a label may have one box '
        'per frame; add track_id to tell the people apart',
        'row 7: box [0.0, 0.0, 10.0, 10.199999809265137] nearly coincides '
        'with box [0.0, 0.0, 10.0, 10.0] of row 6 on frame 3 of video '
        "'b' (IoU 0.980): if this is one person, give both rows the "
        'identical box (or both labels in one row, "a;b")'
    ]
    header = HEADER + ',track_id'
    found = problems(
        csv_root, [
            'b,1,0,0,10,10,run,p1', 'b,1,0,0,10,10,run,p1',
            'b,2,0,0,10,10,run,p1', 'b,2,1,0,11,10,wave,p1',
            'b,2,1,0,11,10,wave,p2'
        ],
        header=header)
    assert found == [
        "row 3: repeats row 2 (label 'run' on track 'p1' on frame 1 of video "
        "'b')",
        "row 5: track 'p1' on frame 2 of video 'b' has box [1.0, 0.0, 11.0, "
        '10.0] but row 4 gives it [0.0, 0.0, 10.0, 10.0] (one person has one '
        'box per frame)'
    ]
    assert problems(
        csv_root, ['b,3,0,0,10,10,run,'], header=header
    ) == [
        'row 2: empty track_id (with a track_id column, every row needs one)'
    ]


def test_command_line_exits_with_the_problems(csv_root, monkeypatch):
    """Run as a script, a wrong file ends with status 1 and the problem list as
    the whole message (no traceback)."""
    csv = csv_root / 'ann.csv'
    csv.write_text(f'{HEADER}\nb,0,0,0,10,10,run\n')
    monkeypatch.setattr(sys, 'argv', [
        'convert_csv.py',
        str(csv), '--out',
        str(csv_root / 'gt.pkl'), '--classes',
        str(csv_root / 'classes.txt'), '--frame-base', '1', '--coords',
        'pixel', '--frames-root',
        str(csv_root / 'frames'), '--split-column', 'split'
    ])
    with pytest.raises(SystemExit) as info:
        runpy.run_path(convert_csv.__file__, run_name='__main__')
    assert info.value.code == (
        f'{csv}: 1 problem(s):\n'
        "  row 1: missing column(s) ['split']; the first row must name the "
        'columns video, frame, x1, y1, x2, y2, label, split and optionally '
        "track_id (found ['video', 'frame', 'x1', 'y1', 'x2', 'y2', "
        "'label'])")
    assert not (csv_root / 'gt.pkl').exists()


def test_file_that_is_not_utf8_csv(csv_root):
    classes = str(csv_root / 'classes.txt')
    latin1 = csv_root / 'latin1.csv'
    latin1.write_bytes(f'{HEADER}\nb,1,0,0,10,10,run\xe9\n'.encode('latin1'))
    quote = csv_root / 'quote.csv'
    quote.write_text(f'{HEADER}\nb,1,0,0,10,10,"run\n')
    expected = ((latin1,
                 "byte b'\\xe9' is not UTF-8 text: save the file as UTF-8"),
                (quote, 'row 3: not CSV text: unexpected end of data'))
    for csv, problem in expected:
        with pytest.raises(CSVAnnotationError) as info:
            convert_csv.main([
                str(csv), '--out',
                str(csv_root / 'gt.pkl'), '--classes', classes, '--frame-base',
                '1', '--coords', 'pixel', '--frames-root',
                str(csv_root / 'frames'), '--train-list',
                str(csv_root / 'train.txt'), '--test-list',
                str(csv_root / 'test.txt')
            ])
        assert info.value.problems == [problem]
        assert str(info.value).startswith(f'{csv}: 1 problem(s):')
