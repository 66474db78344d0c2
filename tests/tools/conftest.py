"""Fixtures of the tools tests."""
import pytest

from ._csv_media import make_csv_media


@pytest.fixture
def csv_root(tmp_path):
    """Rawframes of two videos, a class list and split lists (see
    :func:`._csv_media.make_csv_media`)."""
    return make_csv_media(tmp_path)
