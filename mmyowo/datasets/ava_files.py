"""Checked readers of the AVA annotation files (MMAction2's AVA layout).

AVA v2.2 (``tools/data/ava`` of MMAction2 downloads and unzips
``ava_v2.2.zip``) ships

- ``ava_{train,val}_v2.2.csv``: one row per (person box, action) of a key
  frame, ``video_id, timestamp, x1, y1, x2, y2, action_id, person_id``;
  ``timestamp`` in whole seconds of the original video (902 .. 1798), box
  corners normalised to ``[0, 1]`` by the frame width / height,
  ``action_id`` 1-based (80 actions);
- ``ava_{train,val}_excluded_timestamps_v2.2.csv``: ``video_id,
  timestamp`` key frames left out of training and evaluation;
- ``ava_action_list_v2.2.pbtxt`` (the 80 actions) and
  ``ava_action_list_v2.2_for_activitynet_2019.pbtxt`` (the 60 evaluated
  ones).

mmaction parses them with bare ``split(',')`` / ``int()`` calls, so a
damaged line fails deep inside numpy or with an assertion that does not
say where. These readers name the file, the line and the problem. Blank
lines are skipped; a box with zero area (``x2 <= x1`` or ``y2 <= y1``) can
neither be learnt nor matched, so the training reader skips it and counts
it (the caller logs the count), while the evaluation keeps a flat box
(``x2 == x1`` or ``y2 == y1``) as official AVA ground truth (it stays
unmatched) and refuses an inverted one (``x2 < x1`` or ``y2 < y1``, which
the ActivityNet evaluator rejects as invalid box data).
"""
import csv
from collections import OrderedDict
from typing import Dict, Iterator, List, Optional, Sequence, Set, Tuple

import numpy as np
from mmaction.evaluation import read_labelmap

from ..utils.text_io import not_utf8_message

#: Tolerance on the normalised box corners (AVA writes 3 decimals).
BOX_TOLERANCE = 1e-3
#: AVA v2.2 annotates seconds 900-1800 of each movie; MMAction2's
#: ``tools/data/ava`` cuts the videos to them and extracts 30 frames a
#: second.
AVA_TIMESTAMP_START, AVA_TIMESTAMP_END, AVA_FPS = 900, 1800, 30


class AVAFileError(ValueError):
    """An AVA annotation file is malformed; the message names file and line."""


def _rows(path: str) -> Iterator[Tuple[int, List[str]]]:
    """Yield ``(line_number, fields)`` of the non-blank CSV lines.

    Raises:
        AVAFileError: The file cannot be opened, is not UTF-8 text (a
            byte-order mark is accepted) or is not CSV (a field longer than
            the csv module's limit), naming the line.
    """
    try:
        # utf-8-sig: a byte-order mark would otherwise start the first
        # video id, which then matches no frame folder.
        handle = open(path, newline='', encoding='utf-8-sig')
    except OSError as err:
        raise AVAFileError(f'{path}: cannot read the file ({err})') from err
    with handle:
        reader = csv.reader(handle)
        try:
            for number, fields in enumerate(reader, start=1):
                fields = [f.strip() for f in fields]
                if not any(fields):
                    continue
                yield number, fields
        except UnicodeDecodeError as err:
            raise AVAFileError(
                not_utf8_message(path, err,
                                 lambda n: f'{path}, line {n}')) from None
        except csv.Error as err:
            raise AVAFileError(
                f'{path}, line {reader.line_num}: not CSV text: {err}'
            ) from None


def _parse(path: str, number: int, text: str, kind: type, what: str):
    """``kind(text)``, or an :class:`AVAFileError` naming file and line."""
    try:
        return kind(text)
    except ValueError:
        raise AVAFileError(
            f'{path}, line {number}: {what} {text!r} is not '
            f'{"an integer" if kind is int else "a number"}') from None


def read_ava_boxes(
    path: str,
    timestamp_range: Optional[Tuple[int, int]],
    num_actions: Optional[int],
    require_person_id: bool = True,
    keep_empty_boxes: bool = False,
    clip: bool = True,
) -> Tuple['OrderedDict[Tuple[str, int], List[dict]]', int]:
    """Read an AVA ground-truth CSV into records per key frame.

    Args:
        path (str): ``ava_{train,val}_v2.2.csv``.
        timestamp_range (tuple[int, int], optional): ``[start, end)`` of the
            valid timestamps (the frames on disk cover it); None accepts
            any.
        num_actions (int, optional): Largest valid ``action_id`` (ids are
            1-based); None accepts any id >= 1.
        require_person_id (bool): Whether the 8th column (person id) must
            be present (ground truth); 7 columns are accepted otherwise.
        keep_empty_boxes (bool): Keep flat boxes (evaluation: they are
            ground truth nothing can match) instead of skipping them
            (training); an inverted box is then an error.
        clip (bool): Clip the corners to ``[0, 1]``; False keeps them as
            written (the ActivityNet evaluator matches the ground truth as
            read, corners up to :data:`BOX_TOLERANCE` outside included).

    Returns:
        tuple: ``OrderedDict`` ``(video_id, timestamp) -> [record]`` in file
        order, each record ``dict(entity_box=float64 (4,) normalised xyxy,
        label=action_id, entity_id=person id or -1)``; and the number of
        zero-area rows skipped (0 with ``keep_empty_boxes``).

    Raises:
        AVAFileError: A row with a wrong number of columns, a field that is
            not a number, a timestamp outside ``timestamp_range``, a box
            corner outside ``[0, 1]`` (boxes must be normalised), an
            inverted box with ``keep_empty_boxes``, or an action id outside
            ``[1, num_actions]``; or a file without any row.
    """
    start, end = timestamp_range or (-np.inf, np.inf)
    largest = np.inf if num_actions is None else num_actions
    columns = (8, ) if require_person_id else (7, 8)
    records: 'OrderedDict[Tuple[str, int], List[dict]]' = OrderedDict()
    skipped = 0
    for number, fields in _rows(path):
        if len(fields) not in columns:
            expected = ' or '.join(map(str, columns))
            last = ', person_id' if require_person_id else '[, person_id]'
            raise AVAFileError(
                f'{path}, line {number}: expected {expected} columns '
                f'(video_id, timestamp, x1, y1, x2, y2, action_id{last}), '
                f'got {len(fields)}: {",".join(fields)!r}')
        video = fields[0]
        if not video:
            raise AVAFileError(f'{path}, line {number}: empty video id')
        timestamp = _parse(path, number, fields[1], int, 'timestamp')
        if not start <= timestamp < end:
            raise AVAFileError(
                f'{path}, line {number}: timestamp {timestamp} is outside '
                f'[{start}, {end}) (timestamp_start / timestamp_end of the '
                'dataset: the frames on disk must cover it)')
        box = np.array([
            _parse(path, number, text, float, 'box corner')
            for text in fields[2:6]
        ])
        if not np.all((box >= -BOX_TOLERANCE) & (box <= 1 + BOX_TOLERANCE)):
            raise AVAFileError(
                f'{path}, line {number}: box {box.tolist()} is not '
                'normalised to [0, 1] (AVA stores x1, y1, x2, y2 divided by '
                'the frame width / height)')
        action = _parse(path, number, fields[6], int, 'action id')
        if not 1 <= action <= largest:
            raise AVAFileError(
                f'{path}, line {number}: action id {action} is outside [1, '
                f'{largest}] (1-based AVA action ids)')
        entity = (
            _parse(path, number, fields[7], int, 'person id')
            if require_person_id else -1)
        if keep_empty_boxes and (box[2] < box[0] or box[3] < box[1]):
            raise AVAFileError(
                f'{path}, line {number}: box {box.tolist()} is inverted '
                '(x2 < x1 or y2 < y1; the corners are x1, y1, x2, y2)')
        if not keep_empty_boxes and (box[2] <= box[0] or box[3] <= box[1]):
            skipped += 1
            continue
        records.setdefault((video, timestamp), []).append(
            dict(
                entity_box=np.clip(box, 0, 1) if clip else box,
                label=action,
                entity_id=entity))
    if not records and not skipped:
        raise AVAFileError(f'{path}: the file holds no annotation row')
    return records, skipped


def read_ava_exclusions(path: Optional[str]) -> Set[Tuple[str, int]]:
    """Read an AVA exclusion CSV (``video_id,timestamp`` per line).

    Args:
        path (str, optional): The file; None gives an empty set.

    Returns:
        set: The excluded ``(video_id, timestamp)`` key frames.

    Raises:
        AVAFileError: A row without exactly 2 columns or a timestamp that is
            not an integer.
    """
    excluded: Set[Tuple[str, int]] = set()
    if path is None:
        return excluded
    for number, fields in _rows(path):
        if len(fields) != 2:
            raise AVAFileError(
                f'{path}, line {number}: expected 2 columns (video_id, '
                f'timestamp), got {len(fields)}: {",".join(fields)!r}')
        excluded.add(
            (fields[0], _parse(path, number, fields[1], int, 'timestamp')))
    return excluded


def read_ava_label_map(path: str) -> Dict[int, str]:
    """Read an AVA label map ``.pbtxt`` with mmaction's reader, checked.

    Args:
        path (str): ``ava_action_list_v2.2*.pbtxt``.

    Returns:
        dict: ``{action_id: name}`` in file order.

    Raises:
        AVAFileError: The file cannot be read, names no action, or gives an
            id twice.
    """
    try:
        with open(path, encoding='utf-8') as handle:
            label_map, _ = read_labelmap(handle)
    except (OSError, ValueError, IndexError) as err:
        raise AVAFileError(
            f'{path}: not a readable AVA label map ({err})') from err
    names: Dict[int, str] = {}
    for item in label_map:
        if item['id'] in names:
            raise AVAFileError(f'{path}: action id {item["id"]} is listed '
                               'twice')
        names[item['id']] = item['name']
    if not names:
        raise AVAFileError(
            f'{path}: no action found (expected "  name: ..." and '
            '"  id: N" / "  label_id: N" lines)')
    return names


def class_names(names: Dict[int, str], ids: Sequence[int]) -> Tuple[str, ...]:
    """Names of the actions ``ids`` (``'action_{id}'`` where unnamed)."""
    return tuple(names.get(i, f'action_{i}') for i in ids)
