"""Run docformatter, aware of paper citations and hyphenated literals.

``tools/lint.sh`` and ``.pre-commit-config.yaml`` run docformatter through
this entry point, which changes two things and leaves the rest (arguments,
settings from ``setup.cfg``, exit status) to docformatter's command line:

1. docformatter ends a docstring's summary at the first word that ends with
   a period (``e.g.`` and ``i.e.`` excepted), so ``The detector (paper §3,
   eq. 4).`` would become the summary ``The detector (paper §3, eq.`` and
   the description ``4).``. The blank after the abbreviations in
   :data:`ABBREVIATION` is hidden while it looks for the end of the first
   sentence.
2. docformatter wraps with :mod:`textwrap`, which breaks lines after hyphens
   and so splits literals such as ``--doctest-modules`` or ``frame-mAP``;
   here lines break at blanks only.

Usage: ``python tools/run_docformatter.py [docformatter arguments]``
"""
import re
import sys
import textwrap
from typing import Any, List, Tuple

from docformatter import __main__ as docformatter_main
from docformatter import strings, syntax

#: An abbreviation (figure, equation, table, section, et al., versus,
#: confer) and the blank after it.
ABBREVIATION = re.compile(r'\b(Figs?|[Ee]qs?|Tabs?|Secs?|al|vs|cf)\.([ \n])')
#: Stand-ins for the blank: not whitespace, so the word goes on.
HIDDEN = {' ': '\x00', '\n': '\x01'}

_split_first_sentence = strings.split_first_sentence


def _reveal(text: str) -> str:
    """Put the blanks hidden by :func:`split_first_sentence` back."""
    for blank, hidden in HIDDEN.items():
        text = text.replace(hidden, blank)
    return text


def split_first_sentence(text: str) -> Tuple[str, str]:
    """Split off the first sentence, not ending it at an abbreviation.

    docformatter's ``split_first_sentence`` on ``text`` with the blanks after
    abbreviations hidden.

    Args:
        text (str): The docstring's contents.

    Returns:
        tuple[str, str]: The first sentence and the rest, as docformatter's
        function returns them.
    """
    hidden = ABBREVIATION.sub(lambda m: m.group(1) + '.' + HIDDEN[m.group(2)],
                              text)
    sentence, rest = _split_first_sentence(hidden)
    return _reveal(sentence), _reveal(rest)


class BlankOnlyTextwrap:
    """The :mod:`textwrap` module for docformatter, breaking at blanks only.

    ``wrap`` and ``fill`` never break after a hyphen; every other attribute
    is :mod:`textwrap`'s.
    """

    def __getattr__(self, name: str) -> Any:
        """Every other attribute of :mod:`textwrap`."""
        return getattr(textwrap, name)

    @staticmethod
    def wrap(text: str, width: int = 70, **kwargs: Any) -> List[str]:
        """:func:`textwrap.wrap` with ``break_on_hyphens=False``."""
        return textwrap.wrap(text, width, break_on_hyphens=False, **kwargs)

    @staticmethod
    def fill(text: str, width: int = 70, **kwargs: Any) -> str:
        """:func:`textwrap.fill` with ``break_on_hyphens=False``."""
        return textwrap.fill(text, width, break_on_hyphens=False, **kwargs)


def main() -> int:
    """Run docformatter's command line with both changes.

    Returns:
        int: docformatter's exit status (3: a file was or would be changed).
    """
    strings.split_first_sentence = split_first_sentence
    syntax.textwrap = BlankOnlyTextwrap()
    return docformatter_main.main()


if __name__ == '__main__':
    sys.exit(main())
