"""mmengine's message hub as plain data, for checkpoints.

mmengine pickles the message hub's ``HistoryBuffer`` objects (numpy arrays
and the buffer's statistics methods) into every runner checkpoint. Reading
those back would mean restoring a library class from file state, whose
``__setstate__`` writes a process-wide table. mmyowo's checkpoint hook
stores each buffer as a plain dict instead (:func:`history_buffer_to_plain`)
and rebuilds it with ``HistoryBuffer``'s constructor from checked numbers on
``--resume`` (:func:`message_hub_from_plain`). Checkpoints of the previous
version and of other projects hold real ``HistoryBuffer`` pickles: the
checkpoint reader turns those into the same plain dict
(:func:`plain_history_buffer`), so they resume too.

Example:
    >>> from mmengine.logging import HistoryBuffer
    >>> plain = history_buffer_to_plain(HistoryBuffer([1.0, 2.0], [1, 1]))
    >>> plain['log_history'], plain['count_history']
    ([1.0, 2.0], [1, 1])
    >>> float(history_buffer_from_plain(plain, 'ckpt.pth').mean())
    1.5
"""
import math
from collections import OrderedDict
from typing import Any, Dict, List, Mapping

import numpy as np
from mmengine.logging import HistoryBuffer

from .safe_pickle import short_repr

#: Key that marks a dict as a plain ``HistoryBuffer`` (its value is the
#: format version).
HISTORY_BUFFER_KEY = '__history_buffer__'
HISTORY_BUFFER_VERSION = 1
#: Largest ``max_length`` read from a file (mmengine's default is 1e6).
MAX_HISTORY_LENGTH = 10**7

__all__ = [
    'HISTORY_BUFFER_KEY', 'history_buffer_from_plain',
    'history_buffer_to_plain', 'is_plain_history_buffer',
    'message_hub_from_plain', 'message_hub_to_plain', 'plain_history_buffer'
]


def plain_history_buffer(max_length: Any, log_history: Any, count_history: Any,
                         where: str) -> Dict[str, Any]:
    """A checked plain ``HistoryBuffer``.

    Args:
        max_length: Positive integer up to :data:`MAX_HISTORY_LENGTH`.
        log_history: 1-D sequence of real numbers.
        count_history: 1-D sequence of numbers, as long as ``log_history``.
        where: File (and key) for messages.

    Returns:
        ``{HISTORY_BUFFER_KEY: 1, 'max_length': int, 'log_history':
        [float], 'count_history': [float or int]}``.

    Raises:
        ValueError: Naming ``where`` and the problem.
    """
    is_int = isinstance(max_length, (int, np.integer)) and \
        not isinstance(max_length, bool)
    if not is_int or not 0 < int(max_length) <= MAX_HISTORY_LENGTH:
        raise ValueError(f'{where}: a message-hub history has max_length '
                         f'{short_repr(max_length, 40)} (expected 1 to '
                         f'{MAX_HISTORY_LENGTH})')
    logs = _numbers(log_history, where, 'log')
    counts = _numbers(count_history, where, 'count')
    if len(logs) != len(counts) or len(logs) > int(max_length):
        raise ValueError(f'{where}: a message-hub history has {len(logs)} '
                         f'values, {len(counts)} counts and max_length '
                         f'{int(max_length)}')
    return {
        HISTORY_BUFFER_KEY: HISTORY_BUFFER_VERSION,
        'max_length': int(max_length),
        'log_history': logs,
        'count_history': counts
    }


def _numbers(values: Any, where: str, what: str) -> List[Any]:
    """A list of Python numbers from a 1-D array or list of numbers."""
    if isinstance(values, np.ndarray):
        if values.ndim != 1 or values.dtype.kind not in 'biuf':
            raise ValueError(f'{where}: a message-hub {what} history is not '
                             'a 1-D numeric array')
        return values.tolist()
    if isinstance(values, (list, tuple)) and all(
            isinstance(v, (int, float)) and not isinstance(v, bool)
            for v in values):
        return list(values)
    raise ValueError(f'{where}: a message-hub {what} history is not a list '
                     'of numbers')


def is_plain_history_buffer(value: Any) -> bool:
    """Whether ``value`` is a dict made by :func:`plain_history_buffer`."""
    return isinstance(value, Mapping) and HISTORY_BUFFER_KEY in value


def history_buffer_to_plain(buffer: HistoryBuffer) -> Dict[str, Any]:
    """The plain form of a live ``HistoryBuffer``."""
    return plain_history_buffer(buffer.max_length,
                                np.asarray(buffer._log_history),
                                np.asarray(buffer._count_history),
                                'message hub')


def history_buffer_from_plain(value: Mapping, where: str) -> HistoryBuffer:
    """A new ``HistoryBuffer`` built by its constructor from checked numbers
    (the process-wide statistics table is not touched).

    Raises:
        ValueError: Naming ``where`` if ``value`` is not a valid plain
            buffer.
    """
    if not is_plain_history_buffer(value) or \
            value[HISTORY_BUFFER_KEY] != HISTORY_BUFFER_VERSION or \
            set(value) != {HISTORY_BUFFER_KEY, 'max_length', 'log_history',
                           'count_history'}:
        raise ValueError(f'{where}: not a message-hub history written by '
                         'mmyowo')
    checked = plain_history_buffer(value['max_length'], value['log_history'],
                                   value['count_history'], where)
    if not all(math.isfinite(v) for v in checked['count_history']):
        raise ValueError(f'{where}: a message-hub history has counts that '
                         'are not finite')
    return HistoryBuffer(checked['log_history'], checked['count_history'],
                         checked['max_length'])


def message_hub_to_plain(state: Mapping) -> Dict[str, Any]:
    """A message-hub state dict whose ``HistoryBuffer`` values are plain dicts
    (the other entries are kept as they are)."""
    plain = dict(state)
    scalars = state.get('log_scalars')
    if isinstance(scalars, Mapping):
        plain['log_scalars'] = OrderedDict(
            (key, history_buffer_to_plain(value) if isinstance(
                value, HistoryBuffer) else value)
            for key, value in scalars.items())
    return plain


def message_hub_from_plain(state: Any, where: str) -> Any:
    """The inverse of :func:`message_hub_to_plain` on a loaded checkpoint.

    Args:
        state: The checkpoint's ``message_hub`` entry.
        where: The checkpoint, for messages.

    Returns:
        The state with live ``HistoryBuffer`` objects (``state`` itself when
        it is not a message-hub dict).

    Raises:
        ValueError: If a history is neither a plain buffer nor a
            ``HistoryBuffer``, naming the key.
    """
    if not isinstance(state, Mapping) or not isinstance(
            state.get('log_scalars'), Mapping):
        return state
    restored = dict(state)
    scalars = {}
    for key, value in state['log_scalars'].items():
        place = f'{where}: message_hub.log_scalars[{key!r}]'
        if isinstance(value, HistoryBuffer):
            scalars[key] = value
        elif is_plain_history_buffer(value):
            scalars[key] = history_buffer_from_plain(value, place)
        else:
            raise ValueError(f'{place} is a {type(value).__name__}, not a '
                             'message-hub history; the checkpoint cannot '
                             'be resumed')
    restored['log_scalars'] = OrderedDict(scalars)
    return restored
