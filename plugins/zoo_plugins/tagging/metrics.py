"""Tagging and captioning metrics for ``zoo bench``."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

__all__ = ["average_precision", "tagging_metrics"]


def average_precision(scores: Sequence[float], positive: Sequence[bool]) -> float:
    """Average precision of a ranking (the area under the precision-recall steps); NaN with no positive.

    >>> average_precision([0.9, 0.8, 0.1], [True, False, True])
    0.8333333333333333
    """
    order = sorted(range(len(scores)), key=lambda i: -scores[i])
    hits, total, n_pos = 0, 0.0, sum(bool(p) for p in positive)
    if not n_pos:
        return float("nan")
    for rank, i in enumerate(order, 1):
        if positive[i]:
            hits += 1
            total += hits / rank
    return total / n_pos


def tagging_metrics(results: Sequence[Any], examples: Sequence[Any]) -> dict[str, Any]:
    """Top-1 accuracy (with its standard error), top-5 accuracy and mAP over the classes present.

    Failed inputs count as wrong (and score 0 for every class). ``examples`` carry the class in ``.label``.
    """
    n = len(examples)
    truth = [e.label for e in examples]
    correct = sum(r.ok and r.label == t for r, t in zip(results, truth))
    top5 = sum(r.ok and t in [k for k, _ in r.top(5)] for r, t in zip(results, truth))
    acc = correct / n if n else float("nan")
    aps = []
    for label in sorted(set(truth)):
        scores = [float(r.scores.get(label, 0.0)) if r.ok else 0.0 for r in results]
        aps.append(average_precision(scores, [t == label for t in truth]))
    return {
        "accuracy": round(acc, 4),
        "accuracy_stderr": round(math.sqrt(acc * (1 - acc) / n), 4) if n else None,
        "top5_accuracy": round(top5 / n, 4) if n else None,
        "map": round(sum(aps) / len(aps), 4) if aps else None,
        "clips": n,
        "classes": len(set(truth)),
    }
