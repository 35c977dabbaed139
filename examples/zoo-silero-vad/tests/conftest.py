"""Where the real test audio lives: $ZOO_DATA, or a ``shared/data`` folder above this checkout."""

from __future__ import annotations

import pytest

import zoo.testing


@pytest.fixture()
def data_dir():
    """``data_dir(name)`` is ``<data>/<name>``, or skips the test saying why."""
    return zoo.testing.shared_data
