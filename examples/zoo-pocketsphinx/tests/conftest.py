"""Where the real test audio lives: $ZOO_DATA, or a ``shared/data`` folder above this checkout."""

from __future__ import annotations

import os
from pathlib import Path

import pytest


def _find_data() -> Path | None:
    if os.environ.get("ZOO_DATA"):
        return Path(os.environ["ZOO_DATA"])
    for parent in Path(__file__).resolve().parents:
        if (parent / "shared" / "data").is_dir():
            return parent / "shared" / "data"
    return None


DATA = _find_data()


def _data_dir(name: str) -> Path:
    if DATA is None or not (DATA / name).is_dir():
        pytest.skip(f"real audio folder {name!r} not found (set ZOO_DATA to the shared data folder)")
    return DATA / name


@pytest.fixture()
def data_dir():
    """``data_dir(name)`` is ``<data>/<name>``, or skips the test saying why."""
    return _data_dir
