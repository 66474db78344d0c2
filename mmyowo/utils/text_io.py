"""Locating where a text file stops being UTF-8, for error messages."""
from typing import Callable, Optional, Tuple


def first_undecodable_line(path: str) -> Optional[Tuple[int, bytes]]:
    """``(1-based line number, first bad byte)`` of the first line of ``path``
    that is not UTF-8 (a byte-order mark accepted on line 1), or ``None`` if
    every line decodes.

    A ``UnicodeDecodeError`` raised by a text-mode file knows neither the
    line nor the offset in the file (the text layer decodes whole chunks), so
    the file is read again as bytes, line by line: a line feed byte never
    occurs inside a UTF-8 character.

    Example:
        >>> import tempfile
        >>> with tempfile.NamedTemporaryFile(suffix='.txt') as f:
        ...     _ = f.write(b'a\\nb\\xe9\\n')
        ...     f.flush()
        ...     first_undecodable_line(f.name)
        (2, b'\\xe9')
    """
    with open(path, 'rb') as handle:
        for number, line in enumerate(handle, start=1):
            try:
                line.decode('utf-8-sig' if number == 1 else 'utf-8')
            except UnicodeDecodeError as err:
                return number, line[err.start:err.start + 1]
    return None


def not_utf8_message(path: str, err: UnicodeDecodeError,
                     where: Callable[[int], str]) -> str:
    """The error message for a text file ``path`` that is not UTF-8.

    Args:
        path (str): The file.
        err (UnicodeDecodeError): What reading it as text raised.
        where (callable): Formats a 1-based line number as the place in the
            caller's convention (e.g. ``'a.csv, line 3'`` or ``'a.txt:3'``).

    Returns:
        str: ``'<where>: byte b'\\xe9' is not UTF-8 text: save the file as
        UTF-8'``, or, if the file now decodes (it changed since), ``err``
        with the path.
    """
    found = first_undecodable_line(path)
    if found is None:
        return f'{path}: not UTF-8 text ({err}): save the file as UTF-8'
    number, byte = found
    return (f'{where(number)}: byte {byte!r} is not UTF-8 text: save the '
            'file as UTF-8')
