"""Benchmark metrics for music generation: exact JSB NLL and style statistics.

``zoo bench`` hands the task's quality results (:class:`ChoraleScore`, one per
chorale: its NLL and a sampled continuation of its opening) and the dataset's
chorales to these functions.

Style statistics compare the continuations with the real chorales: the
total-variation distance between pitch-class histograms, the mean lowest
(bass) and highest (soprano) pitch, notes per frame, and the share of
parallel perfect fifths and octaves between voices of consecutive four-note
frames, so a regression in musicality shows as a number.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import combinations
from typing import Any

import numpy as np

from zoo import Result

__all__ = ["ChoraleScore", "chorale_nll", "parallel_share", "pitch_class_histogram", "style_statistics", "style_of"]


@dataclass(frozen=True, eq=False)
class ChoraleScore(Result):
    """A chorale's exact NLL (nats per time step) and a continuation the model sampled from its opening."""

    nll: float
    frames: int
    continuation: tuple[tuple[int, ...], ...] = ()
    sample_seconds: float = 0.0
    music_seconds: float = 0.0

    def summary(self) -> str:
        return f"{self.nll:.3f} nats/step over {self.frames} steps"


def chorale_nll(results: Sequence[Any], references: Sequence[Any]) -> dict[str, Any]:
    """Frame-weighted mean NLL (the standard number), per-chorale mean, and its standard error."""
    scored = [r for r in results if isinstance(r, ChoraleScore)]
    if not scored:
        return {}
    per = np.array([r.nll for r in scored])
    steps = np.array([r.frames for r in scored])
    out = {
        "nll": round(float((per * steps).sum() / steps.sum()), 4),
        "nll_per_chorale": round(float(per.mean()), 4),
        "nll_stderr": round(float(per.std(ddof=1) / math.sqrt(len(per))), 4) if len(per) > 1 else 0.0,
        "chorales": len(scored),
        "frames": int(steps.sum()),
    }
    sample_s = sum(r.sample_seconds for r in scored)
    music_s = sum(r.music_seconds for r in scored)
    if sample_s > 0:
        out["music_s_per_s"] = round(music_s / sample_s, 2)
    return out


def pitch_class_histogram(pieces: Sequence[Sequence[Sequence[int]]]) -> np.ndarray:
    """Normalised counts of pitch classes over every frame of every piece."""
    counts = np.zeros(12)
    for piece in pieces:
        for frame in piece:
            for p in frame:
                counts[int(p) % 12] += 1
    return counts / max(counts.sum(), 1)


def parallel_share(pieces: Sequence[Sequence[Sequence[int]]]) -> float:
    """Share of voice-pair motions, in consecutive four-note frames, that are parallel fifths or octaves.

    >>> parallel_share([[[48, 55, 64, 72], [50, 57, 65, 74]]])  # 48-55 -> 50-57 is a parallel fifth
    0.2
    """
    moves = parallels = 0
    for piece in pieces:
        for a, b in zip(piece, piece[1:]):
            if len(a) != 4 or len(b) != 4:
                continue
            a, b = sorted(a), sorted(b)
            for i, j in combinations(range(4), 2):
                di, dj = b[i] - a[i], b[j] - a[j]
                if di == 0 and dj == 0:
                    continue
                moves += 1
                before, after = (a[j] - a[i]) % 12, (b[j] - b[i]) % 12
                if di == dj and before == after and before in (0, 7):
                    parallels += 1
    return round(parallels / moves, 4) if moves else 0.0


def style_of(pieces: Sequence[Sequence[Sequence[int]]]) -> dict[str, float]:
    """Voice ranges, notes per frame and parallel share of a set of pieces."""
    frames = [f for piece in pieces for f in piece if f]
    if not frames:
        return {}
    return {
        "bass_mean": round(float(np.mean([min(f) for f in frames])), 2),
        "soprano_mean": round(float(np.mean([max(f) for f in frames])), 2),
        "notes_per_frame": round(float(np.mean([len(f) for f in frames])), 3),
        "parallel_share": parallel_share(pieces),
    }


def style_statistics(results: Sequence[Any], references: Sequence[Any]) -> dict[str, Any]:
    """Style of the sampled continuations against the reference chorales (same openings)."""
    scored = [r for r in results if isinstance(r, ChoraleScore) and r.continuation]
    if not scored:
        return {}
    gen = [r.continuation for r in scored]
    ref = [getattr(e, "frames", e) for e in references]
    g, r = style_of(gen), style_of(ref)
    out = {"pc_hist_tv": round(0.5 * float(np.abs(pitch_class_histogram(gen) - pitch_class_histogram(ref)).sum()), 4)}
    out.update({f"gen_{k}": v for k, v in g.items()})
    out.update({f"ref_{k}": v for k, v in r.items()})
    return out
