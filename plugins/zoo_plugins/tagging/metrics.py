"""Tagging and captioning metrics for ``zoo bench``."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

__all__ = ["average_precision", "caption_metrics", "tagging_metrics"]


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


def caption_metrics(results: Sequence[Any], examples: Sequence[Any], references: int = 5) -> dict[str, Any]:
    """The share of captions naming the clip's sound (``.label``), and BLEU-4 / CIDEr-D.

    BLEU-4 and CIDEr-D (``pycocoevalcap``, when installed) compare each caption
    with ``references`` sentences the caption grammar writes for the clip's
    class (seeded): they measure wording the grammar could produce, not human
    caption quality. Failed inputs count as not naming the sound.
    """
    import random

    from .grammar import caption_scene, names_sound

    n = len(examples)
    named = [r.ok and names_sound(r.text, e.label) for r, e in zip(results, examples)]
    rate = sum(named) / n if n else float("nan")
    out: dict[str, Any] = {
        "sound_named": round(rate, 4),
        "sound_named_stderr": round(math.sqrt(rate * (1 - rate) / n), 4) if n else None,
        "clips": n,
    }
    try:
        from pycocoevalcap.bleu.bleu import Bleu
        from pycocoevalcap.cider.cider import Cider
    except ImportError:
        return out
    rng = random.Random(1234)
    hyps = {i: [r.text if r.ok else ""] for i, r in enumerate(results)}
    refs = {i: [caption_scene([e.label], None, rng) for _ in range(references)] for i, e in enumerate(examples)}
    if n:
        out["bleu_4"] = round(float(Bleu(4).compute_score(refs, hyps, verbose=0)[0][3]), 4)
        out["cider_d"] = round(float(Cider().compute_score(refs, hyps)[0]), 4)
    return out
