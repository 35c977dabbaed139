"""The JSB Chorales benchmark data (Boulanger-Lewandowski 2012 split, quarter-note grid).

Any folder holding ``jsb-chorales-quarter.json`` (``{"train"|"valid"|"test": [chorale, ...]}``,
a chorale being a list of frames of MIDI pitches) works as a root.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

__all__ = ["Chorale", "SPLITS", "jsb_split", "jsb_test", "jsb_valid", "load_jsb"]

SPLITS = ("train", "valid", "test")
FILE = "jsb-chorales-quarter.json"


@dataclass(frozen=True)
class Chorale:
    """One benchmark chorale: its frames (quarter-note grid) and where it came from.

    ``path`` is what the bench hands to the model: the frames themselves, a prompt.
    """

    name: str
    frames: tuple[tuple[int, ...], ...]

    @property
    def path(self) -> list[list[int]]:
        return [list(f) for f in self.frames]

    def __len__(self) -> int:
        return len(self.frames)


@lru_cache(maxsize=4)
def _read(path: str) -> dict[str, list[list[list[int]]]]:
    return json.loads(Path(path).read_text())


def load_jsb(root: str | Path, split: str) -> list[list[list[int]]]:
    """The chorales of one split as lists of frames (each a sorted list of MIDI pitches)."""
    if split not in SPLITS:
        raise ValueError(f"unknown JSB split {split!r}; use one of {', '.join(SPLITS)}")
    path = Path(root) / FILE
    if not path.exists():
        raise FileNotFoundError(f"{path} not found: pass the folder holding {FILE}")
    return [[sorted(int(p) for p in frame) for frame in chorale] for chorale in _read(str(path))[split]]


def jsb_split(root: str | Path, split: str) -> Iterator[Chorale]:
    """Benchmark examples of one split."""
    for i, chorale in enumerate(load_jsb(root, split)):
        yield Chorale(f"jsb-{split}-{i:03d}", tuple(tuple(f) for f in chorale))


def jsb_test(root: str | Path) -> Iterator[Chorale]:
    """The 77 test chorales: the standard benchmark."""
    return jsb_split(root, "test")


def jsb_valid(root: str | Path) -> Iterator[Chorale]:
    """The 76 validation chorales (early stopping)."""
    return jsb_split(root, "valid")
