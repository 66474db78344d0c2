"""Fixtures shared by the model tests."""
import io
import logging

import pytest
from mmengine.logging import MMLogger


@pytest.fixture
def log():
    """Text logged at INFO and above to mmengine's current logger."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setLevel(logging.INFO)
    logger = MMLogger.get_current_instance()
    logger.addHandler(handler)
    yield stream
    logger.removeHandler(handler)
