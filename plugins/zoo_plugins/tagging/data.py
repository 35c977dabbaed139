"""ESC-50 data in its layout: ``ROOT/labels.csv`` (file, label, src_file) and the clips in ``ROOT/audio/``.

Any folder in that layout works (``../shared/data/esc50-dev``, the full
ESC-50 with its ``meta/esc50.csv`` converted, your own recordings). Clips cut
from one source recording (``src_file``) share a cross-validation fold, so a
split never puts one recording on both sides.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

from zoo.splits import stable_fraction

__all__ = ["FOLDS", "HELDOUT_FOLD", "Clip", "esc50", "esc50_heldout", "fold_of"]

#: cross-validation folds over source recordings
FOLDS = 5
#: the fold the shipped tagger never trains on (``esc50-dev-heldout``, what ``zoo bench`` scores)
HELDOUT_FOLD = 0


@dataclass(frozen=True)
class Clip:
    """One labelled clip and the source recording it was cut from."""

    path: str
    label: str
    src_file: str


def fold_of(src_file: str, folds: int = FOLDS) -> int:
    """The cross-validation fold of a source recording, from a stable hash (the same on every machine).

    >>> fold_of("102844") == fold_of("102844"), 0 <= fold_of("102844") < FOLDS
    (True, True)
    """
    return int(stable_fraction(f"esc50-fold:{src_file}") * folds)


def esc50(root: str | Path) -> list[Clip]:
    """Every clip listed in ``ROOT/labels.csv``, in file order.

    Raises:
        FileNotFoundError: ``root`` has no ``labels.csv``.
    """
    root = Path(root)
    table = root / "labels.csv"
    if not table.is_file():
        raise FileNotFoundError(f"{table} not found; pass a folder with labels.csv (file,label,src_file) and audio/")
    audio_dir = root / "audio" if (root / "audio").is_dir() else root
    with open(table, newline="") as f:
        rows = list(csv.DictReader(f))
    return [Clip(str(audio_dir / r["file"]), r["label"], str(r.get("src_file") or r["file"])) for r in rows]


def esc50_heldout(root: str | Path) -> list[Clip]:
    """The clips of fold :data:`HELDOUT_FOLD`: source recordings the shipped tagger never trained on."""
    return [c for c in esc50(root) if fold_of(c.src_file) == HELDOUT_FOLD]
