"""Extra training chorales from music21's corpus, with JSB valid/test duplicates removed by content.

music21 ships ~370 Bach chorales as MusicXML. Each becomes a list of quarter-note
frames (the pitches sounding on every quarter-note beat, the same grid as JSB).
A chorale is dropped when its harmony matches a JSB valid or test chorale:
its chord 3-grams (bass motion and the intervals above the bass, so any key)
overlap by at least ``threshold`` (Jaccard). The same harmonisation scores
0.5-1.0 against its JSB copy, while distinct chorales, even other settings of
the same tune, score under 0.05 (JSB valid against JSB train: 60 of 76 under 0.05);
0.1 removes everything in between too. Parsing takes minutes, so the result is cached as JSON.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path

__all__ = ["dedupe", "harmony_ngrams", "music21_chorales", "quarter_frames", "similarity"]


def quarter_frames(score) -> list[list[int]]:
    """Pitches sounding at each quarter-note beat of a music21 score (all parts)."""
    events: list[tuple[float, float, int]] = []
    for n in score.flatten().notes:
        start = float(n.offset)
        end = start + float(n.duration.quarterLength)
        if end <= start:  # grace notes
            continue
        for p in n.pitches:
            events.append((start, end, int(p.midi)))
    if not events:
        return []
    last = max(e for _, e, _ in events)
    frames: list[set[int]] = [set() for _ in range(int(math.ceil(last - 1e-6)))]
    for start, end, pitch in events:
        for q in range(int(math.ceil(start - 1e-6)), len(frames)):
            if q >= end - 1e-6:
                break
            frames[q].add(pitch)
    # drop silent frames at either end (pickups and final rests)
    while frames and not frames[0]:
        frames.pop(0)
    while frames and not frames[-1]:
        frames.pop()
    return [sorted(f) for f in frames]


def harmony_ngrams(frames: Sequence[Sequence[int]], n: int = 3) -> set[tuple]:
    """Transposition-invariant n-grams of chords: (bass motion, intervals above the bass) per sounding frame."""
    sounding = [f for f in frames if f]
    symbols = []
    for i, f in enumerate(sounding):
        bass = min(f)
        prev = min(sounding[i - 1]) if i else bass
        symbols.append((bass - prev, tuple(sorted({p - bass for p in f}))))
    return {tuple(symbols[i : i + n]) for i in range(1, len(symbols) - n + 1)}


def similarity(a: set, b: set) -> float:
    """Jaccard overlap of two n-gram sets (0 when either is empty)."""
    if not a or not b:
        return 0.0
    return len(a & b) / len(a | b)


def dedupe(
    candidates: Sequence[Sequence[Sequence[int]]],
    held_out: Sequence[Sequence[Sequence[int]]],
    threshold: float = 0.1,
) -> tuple[list[int], list[tuple[int, int, float]]]:
    """Indices of ``candidates`` unlike every ``held_out`` chorale, and the removed (cand, held, sim) triples."""
    held = [harmony_ngrams(h) for h in held_out]
    keep, removed = [], []
    for i, c in enumerate(candidates):
        grams = harmony_ngrams(c)
        best, j = max(((similarity(grams, h), j) for j, h in enumerate(held)), default=(0.0, -1))
        if best >= threshold:
            removed.append((i, j, round(best, 3)))
        else:
            keep.append(i)
    return keep, removed


def music21_chorales(cache: Path, log=print) -> list[dict]:
    """``[{"name", "frames"}]`` for every chorale in music21's corpus (cached in ``cache``)."""
    if cache.exists():
        return json.loads(cache.read_text())
    from music21 import corpus

    out = []
    for i, path in enumerate(corpus.getComposer("bach")):
        path = Path(path)
        if "bwv" not in path.name.lower():
            continue
        try:
            score = corpus.parse(str(path))
        except Exception as exc:  # a few corpus files do not parse; skip them, say which
            log(f"skip {path.name}: {exc}")
            continue
        frames = quarter_frames(score)
        if len(frames) >= 8 and all(len(f) <= 8 for f in frames):
            out.append({"name": path.stem, "frames": frames})
        if i % 50 == 0:
            log(f"music21 corpus: {i} files read, {len(out)} chorales kept")
    cache.parent.mkdir(parents=True, exist_ok=True)
    cache.write_text(json.dumps(out))
    return out
