"""Chunk arithmetic for long audio: a small pure function, property-tested.

A long recording is cut into overlapping windows. Each window has a *kept*
span in its middle; the model's output for the edges (``context`` on each
side, where it lacks left or right context) is discarded. The kept spans tile
the recording exactly: every sample (and so every output frame) is kept once,
which is why merged transcripts neither duplicate nor drop words.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Span", "plan_chunks"]


@dataclass(frozen=True)
class Span:
    """Window ``[start, end)`` is run through the model; ``[keep_start, keep_end)`` of it is kept."""

    start: int
    end: int
    keep_start: int
    keep_end: int


def plan_chunks(total: int, chunk: int, context: int, align: int = 1) -> list[Span]:
    """Windows of at most ``chunk`` samples whose kept spans tile ``[0, total)``.

    Args:
        total: samples in the recording.
        chunk: the longest window; recordings up to this length are one window.
        context: samples of context on each side of a kept span (inner edges only).
        align: window starts and span boundaries are multiples of this (a model's
            frame hop), so output frames map to samples exactly.

    >>> [(s.start, s.end, s.keep_start, s.keep_end) for s in plan_chunks(25, chunk=10, context=2)]
    [(0, 8, 0, 6), (4, 14, 6, 12), (10, 20, 12, 18), (16, 25, 18, 25)]
    """
    if total < 0 or chunk <= 0 or context < 0 or align <= 0:
        raise ValueError("need total >= 0, chunk > 0, context >= 0 and align > 0")
    if total <= chunk:
        return [Span(0, total, 0, total)]
    context = -(-context // align) * align  # round up to the alignment
    step = (chunk - 2 * context) // align * align
    if step <= 0:
        raise ValueError(f"chunk ({chunk}) must exceed twice the context ({context}) by at least {align}")
    spans = []
    keep_start = 0
    while keep_start < total:
        keep_end = min(keep_start + step, total)
        if total - max(0, keep_start - context) <= chunk:  # the rest fits in this window: no short tail
            keep_end = total
        spans.append(Span(max(0, keep_start - context), min(total, keep_end + context), keep_start, keep_end))
        keep_start = keep_end
    return spans
