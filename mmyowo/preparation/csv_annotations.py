"""Read a plain CSV of person boxes for ``tools/data/convert_csv.py``.

Preparation code: nothing at training or inference time imports it.

The CSV has a header row naming its columns (any order, case-insensitive):
``video, frame, x1, y1, x2, y2, label`` and optionally ``track_id`` and a
split column (``--split-column``). One row is one box of one person on one
frame with one or more action labels (``run;jump``); a person doing several
actions may also be given as several rows with the identical box. Rows are
numbered as the lines of the file, the header being row 1 (what spreadsheet
programs show).

What the file means is declared, never guessed: pixel or normalised
coordinates (:attr:`CSVOptions.coords`), 0- or 1-based frame numbers
(:attr:`CSVOptions.frame_base`), labels by name or by 0- or 1-based index
into the class list. Every row-level problem (a missing or non-numeric
value, NaN, ``x2 <= x1``, an unknown label, an index out of range, a frame
before the first) is collected with its row number and value, with a hint
where the mistake is a usual one (an index or frame off by one, normalised
coordinates declared as pixels), and all of them are raised together as one
:class:`CSVAnnotationError`. The class and video lists, the checks that
need the media on disk (frame counts, frame sizes) and the tube building
live in :mod:`.csv_tubes`.
"""
import csv
import difflib
import math
import os.path as osp
from typing import Dict, List, NamedTuple, Optional, Sequence, Tuple

from ..datasets.annotations import DEFAULT_BOX_TOLERANCE

REQUIRED_COLUMNS = ('video', 'frame', 'x1', 'y1', 'x2', 'y2', 'label')
TRACK_COLUMN = 'track_id'
#: Separates several labels of one box in the ``label`` cell.
LABEL_SEPARATOR = ';'
SPLITS = ('train', 'test')
#: Problems listed in an error message; the rest are counted.
MAX_LISTED_PROBLEMS = 20


class CSVAnnotationError(ValueError):
    """Problems found in an annotation CSV, one line each, naming the row.

    Args:
        source: The CSV file.
        problems: One message per problem, each starting with ``row N``.

    Attributes:
        problems (list[str]): All problems (the message lists the first
            :data:`MAX_LISTED_PROBLEMS`).
    """

    def __init__(self, source: str, problems: Sequence[str]) -> None:
        self.problems = list(problems)
        listed = '\n'.join(f'  {p}'
                           for p in self.problems[:MAX_LISTED_PROBLEMS])
        more = len(self.problems) - MAX_LISTED_PROBLEMS
        tail = f'\n  ... and {more} more' if more > 0 else ''
        super().__init__(f'{source}: {len(self.problems)} problem(s):\n'
                         f'{listed}{tail}')


class CSVOptions(NamedTuple):
    """How to read an annotation CSV (the flags of ``convert_csv.py``).

    Attributes:
        frame_base: Number of the first frame of a video in the file, 0 or
            1.
        coords: ``'pixel'`` (pixels of the frames on disk) or
            ``'normalized'`` (fractions of the frame width / height).
        label_by: ``'name'`` (a name of the class list) or ``'index'``.
        index_base: With ``label_by='index'``: index of the first class, 0
            or 1.
        split_column: Column holding ``train`` / ``test`` per row, if the
            splits come from the file.
        box_tolerance: Pixels a box may lie outside its frame; such boxes
            are clipped into it (and counted).
        clip_boxes: Clip boxes lying further outside too (counted) instead
            of refusing them.
        max_gap: Missing frames a tube may skip; a longer gap between two
            boxes of one person and label starts a new tube.
    """

    frame_base: int
    coords: str
    label_by: str = 'name'
    index_base: Optional[int] = None
    split_column: Optional[str] = None
    box_tolerance: float = DEFAULT_BOX_TOLERANCE
    clip_boxes: bool = False
    max_gap: int = 0


class CSVRow(NamedTuple):
    """One parsed box row.

    Attributes:
        row: Row (line) number in the file, the header being row 1.
        video: Video id (a path relative to the frames / videos root,
            without suffix).
        frame: 1-based frame number (converted from the file's base).
        raw_frame: The frame number as written in the file.
        box: ``(x1, y1, x2, y2)`` as written (pixels or normalised).
        labels: 0-based class indices, in the order written.
        track: The ``track_id`` cell, or ``None`` without that column.
        split: ``'train'`` / ``'test'`` from the split column, else
            ``None``.
    """

    row: int
    video: str
    frame: int
    raw_frame: int
    box: Tuple[float, float, float, float]
    labels: Tuple[int, ...]
    track: Optional[str]
    split: Optional[str]


class _RowProblem(Exception):
    """A problem of one cell, turned into a ``row N: ...`` message."""


def check_options(options: CSVOptions) -> None:
    """Refuse options that do not say what the file means.

    Raises:
        ValueError: For a value outside the documented ones.
    """
    if options.frame_base not in (0, 1):
        raise ValueError(f'frame_base must be 0 or 1, got '
                         f'{options.frame_base!r}')
    if options.coords not in ('pixel', 'normalized'):
        raise ValueError(f'coords must be "pixel" or "normalized", got '
                         f'{options.coords!r}')
    if options.label_by not in ('name', 'index'):
        raise ValueError(f'label_by must be "name" or "index", got '
                         f'{options.label_by!r}')
    if options.label_by == 'index' and options.index_base not in (0, 1):
        raise ValueError('labels by index need index_base 0 or 1, got '
                         f'{options.index_base!r}')
    # Written so that NaN fails too: compared with NaN, every box would lie
    # within the tolerance and be clipped whatever its distance.
    if not (math.isfinite(options.box_tolerance)
            and options.box_tolerance >= 0):
        raise ValueError('box_tolerance must be a finite number of pixels '
                         f'>= 0, got {options.box_tolerance!r}')
    if options.max_gap < 0:
        raise ValueError(f'max_gap must be >= 0, got {options.max_gap!r}')


def read_csv_annotations(path: str, classes: Sequence[str],
                         options: CSVOptions) -> List[CSVRow]:
    """Read and check the rows of an annotation CSV (see module docstring).

    Args:
        path: The CSV file (UTF-8, a byte-order mark is accepted).
        classes: Class names; index = 0-based label.
        options: What the file means.

    Returns:
        The rows, in file order.

    Raises:
        FileNotFoundError: If ``path`` does not exist.
        CSVAnnotationError: Listing every problem with its row.
    """
    check_options(options)
    if not osp.isfile(path):
        raise FileNotFoundError(f'annotation CSV not found: {path}')
    records = _read_records(path)
    if not records:
        raise CSVAnnotationError(path, ['row 1: the file is empty'])
    columns = _columns(records[0][1], options, path)
    rows, problems = [], []
    for line, fields in records[1:]:
        if not any(field.strip() for field in fields):
            continue
        try:
            rows.append(_parse_row(fields, line, columns, classes, options))
        except _RowProblem as err:
            problems.append(f'row {line}: {err}')
    if not rows and not problems:
        problems.append('row 2: no box rows after the header')
    if options.coords == 'pixel' and rows and all(0 <= v <= 1 for row in rows
                                                  for v in row.box):
        problems.append(
            f'rows {rows[0].row}-{rows[-1].row}: every box coordinate lies '
            'in [0, 1]: normalised coordinates? pass --coords normalized')
    if problems:
        raise CSVAnnotationError(path, problems)
    return rows


def _read_records(path: str) -> List[Tuple[int, List[str]]]:
    """``(row, fields)`` of every record; refuse a file that is not CSV
    text."""
    records: List[Tuple[int, List[str]]] = []
    with open(path, newline='', encoding='utf-8-sig') as f:
        # strict: a stray quote is an error, not a field that swallows the
        # rows after it.
        reader = csv.reader(f, strict=True)
        try:
            for fields in reader:
                records.append((reader.line_num, fields))
        except UnicodeDecodeError as err:
            byte = err.object[err.start:err.start + 1]
            raise CSVAnnotationError(path, [
                f'byte {byte!r} is not UTF-8 text: save the file as UTF-8'
            ]) from None
        except csv.Error as err:
            raise CSVAnnotationError(
                path,
                [f'row {reader.line_num + 1}: not CSV text: {err}']) from None
    return records


def _columns(header: List[str], options: CSVOptions,
             path: str) -> Dict[str, int]:
    """Map column names to positions; refuse missing or unknown ones."""
    names = [h.strip().lower() for h in header]
    required = list(REQUIRED_COLUMNS)
    if options.split_column:
        required.append(options.split_column.lower())
    expected = f'{", ".join(required)} and optionally {TRACK_COLUMN}'
    problems = []
    missing = [c for c in required if c not in names]
    if missing:
        hint = ''
        if len(header) == 1 and any(d in header[0] for d in ';\t'):
            hint = ' (the file is read with "," as the delimiter)'
        problems.append(
            f'row 1: missing column(s) {missing}; the first row must name '
            f'the columns {expected} (found {header}){hint}')
    unknown = [
        h for h, n in zip(header, names)
        if n not in required and n != TRACK_COLUMN
    ]
    if unknown and not missing:
        problems.append(
            f'row 1: unknown column(s) {unknown} (expected {expected}; '
            'remove other columns, or name the split column with '
            '--split-column)')
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        problems.append(f'row 1: column(s) {repeated} appear twice')
    if problems:
        raise CSVAnnotationError(path, problems)
    return {name: index for index, name in enumerate(names)}


def _parse_row(fields: List[str], line: int, columns: Dict[str, int],
               classes: Sequence[str], options: CSVOptions) -> CSVRow:
    """One data row as a :class:`CSVRow`; raise :class:`_RowProblem`."""
    if len(fields) != len(columns):
        raise _RowProblem(f'{len(fields)} fields, the header has '
                          f'{len(columns)}: {fields}')

    def cell(name: str) -> str:
        return fields[columns[name]].strip()

    video = _video_id(cell('video'))
    raw_frame = _frame(cell('frame'), options.frame_base)
    x1, y1, x2, y2 = (_number(cell(c), c) for c in ('x1', 'y1', 'x2', 'y2'))
    box = (x1, y1, x2, y2)
    for low, high, name in ((0, 2, 'x'), (1, 3, 'y')):
        if box[high] <= box[low]:
            raise _RowProblem(
                f'{name}2 ({box[high]:g}) <= {name}1 ({box[low]:g}) in box '
                f'{list(box)}: the columns are corners x1, y1, x2, y2 (for '
                'x, y, width, height write x2 = x + width)')
    labels = _labels(cell('label'), classes, options)
    track = None
    if TRACK_COLUMN in columns:
        track = cell(TRACK_COLUMN)
        if not track:
            raise _RowProblem('empty track_id (with a track_id column, '
                              'every row needs one)')
    split = None
    if options.split_column:
        split = cell(options.split_column.lower()).lower()
        if split not in SPLITS:
            raise _RowProblem(f'{options.split_column} '
                              f'{cell(options.split_column.lower())!r} is '
                              f'not one of {SPLITS}')
    return CSVRow(line, video, raw_frame - options.frame_base + 1, raw_frame,
                  box, labels, track, split)


def _video_id(text: str) -> str:
    """A checked video id: a relative path below the media root."""
    if not text:
        raise _RowProblem('empty video')
    parts = text.replace('\\', '/').split('/')
    if text.startswith(('/', '\\')) or '..' in parts or '' in parts:
        raise _RowProblem(f'video {text!r} must be a relative path below '
                          'the frames / videos root, without "..", e.g. '
                          '"clip01" or "class/clip01"')
    if '\\' in text:
        raise _RowProblem(f'video {text!r}: separate folders with "/"')
    return text


def _number(text: str, name: str) -> float:
    """A finite number from a cell named ``name``."""
    if not text:
        raise _RowProblem(f'empty {name}')
    try:
        value = float(text)
    except ValueError:
        raise _RowProblem(f'{name} {text!r} is not a number') from None
    if not math.isfinite(value):
        raise _RowProblem(f'{name} is {text!r}, not a finite number')
    return value


def _frame(text: str, base: int) -> int:
    """A whole frame number, not before the first frame ``base``."""
    value = _number(text, 'frame')
    if value != int(value):
        raise _RowProblem(f'frame {text!r} is not a whole number')
    frame = int(value)
    if frame < base:
        hint = (': 0-based frame numbers? pass --frame-base 0'
                if base == 1 and frame == 0 else '')
        raise _RowProblem(f'frame {frame} is before the first frame, '
                          f'{base} (--frame-base {base}){hint}')
    return frame


def _labels(text: str, classes: Sequence[str],
            options: CSVOptions) -> Tuple[int, ...]:
    """The 0-based labels of a label cell (``a;b`` for several)."""
    items = [item.strip() for item in text.split(LABEL_SEPARATOR)]
    if not any(items):
        raise _RowProblem('empty label')
    if not all(items):
        raise _RowProblem(f'label {text!r} has an empty entry between '
                          f'{LABEL_SEPARATOR!r}')
    labels = [
        _label_by_index(item, len(classes), int(options.index_base or 0))
        if options.label_by == 'index' else _label_by_name(item, classes)
        for item in items
    ]
    repeated = sorted({classes[i] for i in labels if labels.count(i) > 1})
    if repeated:
        raise _RowProblem(f'label {text!r} names {repeated} twice')
    return tuple(labels)


def _label_by_name(name: str, classes: Sequence[str]) -> int:
    """The 0-based label of a class name (with a hint if unknown)."""
    if name in classes:
        return list(classes).index(name)
    if name.lstrip('-').isdigit():
        hint = ': labels given as indices? pass --label-by index'
    else:
        close = difflib.get_close_matches(name, classes, n=1)
        hint = f' (did you mean {close[0]!r}?)' if close else ''
    raise _RowProblem(f'label {name!r} is not in the class list of '
                      f'{len(classes)} names{hint}')


def _label_by_index(text: str, num_classes: int, base: int) -> int:
    """The 0-based label of an index counted from ``base``."""
    try:
        index = int(text)
    except ValueError:
        raise _RowProblem(
            f'label {text!r} is not an integer index (--label-by index; '
            'for class names pass --label-by name)') from None
    label = index - base
    if 0 <= label < num_classes:
        return label
    hint = ''
    if base == 0 and index == num_classes:
        hint = ': 1-based indices? pass --index-base 1'
    elif base == 1 and index == 0:
        hint = ': 0-based indices? pass --index-base 0'
    raise _RowProblem(
        f'label index {index} is outside [{base}, {num_classes - 1 + base}]'
        f' ({num_classes} classes, --index-base {base}){hint}')
