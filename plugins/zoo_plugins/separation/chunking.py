"""Long mixtures in windows: where the windows go, which source is which, and how they join.

Three small pure functions, property-tested:

- :func:`plan_windows`: windows of at most ``window`` samples tiling a
  recording, each overlapping the next by at least ``overlap`` samples.
- :func:`best_permutation`: the order of a window's sources that best matches
  the previous window's on their shared samples (a separator's source order is
  arbitrary per window; without this, the speakers would swap at window edges).
- :func:`overlap_add`: the windows' sources, reordered, cross-faded over each
  overlap into one ``(n_sources, total)`` tensor.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import torch

__all__ = ["best_permutation", "overlap_add", "plan_windows"]


def plan_windows(total: int, window: int, overlap: int) -> list[tuple[int, int]]:
    """``(start, end)`` windows covering ``[0, total)``; neighbours share at least ``overlap`` samples.

    A recording no longer than ``window`` is one window. Otherwise windows are
    ``window`` long, every ``window - overlap`` samples, and the last one ends
    at ``total`` (it starts earlier instead of being short).

    >>> plan_windows(10, 4, 1)
    [(0, 4), (3, 7), (6, 10)]
    >>> plan_windows(3, 4, 1)
    [(0, 3)]
    """
    if total < 0 or window <= 0 or not 0 <= overlap < window:
        raise ValueError(f"need total >= 0, window > 0 and 0 <= overlap < window, got {total}, {window}, {overlap}")
    if total <= window:
        return [(0, total)]
    hop = window - overlap
    starts = list(range(0, total - window, hop))
    starts.append(total - window)
    return [(s, s + window) for s in starts]


def best_permutation(previous: torch.Tensor, current: torch.Tensor) -> tuple[int, ...]:
    """The order of ``current``'s sources (``(n, T)``) that best matches ``previous`` (``(n, T)``).

    Scored by the summed normalised correlation of matched pairs over the shared samples.

    >>> a = torch.stack([torch.sin(torch.arange(100.0)), torch.randn(100)])
    >>> best_permutation(a, a.flip(0))
    (1, 0)
    """
    n = previous.shape[0]
    p = previous / previous.norm(dim=-1, keepdim=True).clamp(min=1e-8)
    c = current / current.norm(dim=-1, keepdim=True).clamp(min=1e-8)
    sim = p @ c.T  # sim[i, j]: previous source i against current source j
    return max(itertools.permutations(range(n)), key=lambda perm: float(sum(sim[i, perm[i]] for i in range(n))))


def overlap_add(
    windows: Sequence[tuple[int, int]], outputs: Sequence[torch.Tensor], total: int, align: bool = True
) -> torch.Tensor:
    """Join per-window sources ``(n, end - start)`` into ``(n, total)``, aligning source order across windows.

    Each window's sources are reordered by :func:`best_permutation` against the
    joined output so far on their shared samples (unless ``align`` is false: a
    model whose outputs have fixed roles, such as speech and residual), then
    cross-faded in with linear ramps over the overlap (the weights sum to one
    on every sample).

    >>> x = torch.randn(2, 10)
    >>> w = plan_windows(10, 4, 2)
    >>> y = overlap_add(w, [x[:, a:b] if i % 2 else x[:, a:b].flip(0) for i, (a, b) in enumerate(w)], 10)
    >>> bool(torch.allclose(y, x.flip(0)))
    True
    """
    if not outputs:
        raise ValueError("no windows to join")
    n = outputs[0].shape[0]
    out = torch.zeros(n, total, dtype=outputs[0].dtype)
    done = 0  # out[:, :done] holds joined sources
    for (start, end), y in zip(windows, outputs):
        y = y[:, : end - start]
        shared = max(0, done - start)
        if shared > 0:
            if align:
                y = y[list(best_permutation(out[:, start:done], y[:, :shared]))]
            ramp = torch.linspace(0.0, 1.0, shared + 2, dtype=y.dtype)[1:-1]
            out[:, start:done] = out[:, start:done] * (1 - ramp) + y[:, :shared] * ramp
        out[:, done:end] = y[:, shared:]
        done = max(done, end)
    return out
