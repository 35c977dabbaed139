"""Keyword-spotting metrics for ``zoo bench``: accuracy, per-class accuracy, confusion matrix."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from .task import LABELS

__all__ = ["classification_metrics"]


def classification_metrics(results: Sequence[Any], examples: Sequence[Any]) -> dict[str, Any]:
    """Accuracy (with its standard error), per-class accuracy and the confusion matrix.

    Failed inputs count as wrong. ``examples`` carry the reference in ``.label``.
    """
    n = len(examples)
    predicted = [r.label if r.ok else "<error>" for r in results]
    truth = [e.label for e in examples]
    correct = sum(p == t for p, t in zip(predicted, truth))
    acc = correct / n if n else float("nan")
    per_class = {}
    confusion = {t: {p: 0 for p in (*LABELS, "<error>")} for t in LABELS}
    for p, t in zip(predicted, truth):
        confusion.setdefault(t, {}).setdefault(p, 0)
        confusion[t][p] += 1
    for label in LABELS:
        total = sum(confusion[label].values())
        if total:
            per_class[label] = round(confusion[label][label] / total, 4)
    return {
        "accuracy": round(acc, 4),
        "accuracy_stderr": round(math.sqrt(acc * (1 - acc) / n), 4) if n else None,
        "per_class_accuracy": per_class,
        "confusion": {t: {p: c for p, c in row.items() if c} for t, row in confusion.items()},
    }
