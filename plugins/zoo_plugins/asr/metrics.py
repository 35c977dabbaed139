"""Speech-recognition metrics: WER and CER (jiwer) after :func:`.text.normalize`.

Both references and hypotheses are normalised the same way (see :mod:`.text`).
A failed input counts as an empty hypothesis (every reference word deleted).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from .text import normalize

__all__ = ["asr_metrics", "score"]


def _ratio_stderr(errors: list[int], sizes: list[int]) -> float | None:
    """Standard error of sum(errors)/sum(sizes) over utterances (delta method)."""
    n = len(errors)
    total = sum(sizes)
    if n < 2 or total == 0:
        return None
    r = sum(errors) / total
    mean_size = total / n
    resid = [e - r * s for e, s in zip(errors, sizes)]
    var = sum(x * x for x in resid) / (n - 1)
    return math.sqrt(var / n) / mean_size


def score(references: Sequence[str], results: Sequence[Any]) -> dict[str, Any]:
    """WER/CER (with standard errors) of ``results`` (Transcripts or strings) against ``references``."""
    import jiwer

    refs = [normalize(r) for r in references]
    hyps = [normalize(getattr(r, "text", r) if getattr(r, "ok", True) else "") for r in results]
    word_errors, word_sizes, char_errors, char_sizes = [], [], [], []
    for ref, hyp in zip(refs, hyps):
        if not ref:
            word_errors.append(len(hyp.split()))
            word_sizes.append(0)
            char_errors.append(len(hyp))
            char_sizes.append(0)
            continue
        w = jiwer.process_words(ref, hyp)
        c = jiwer.process_characters(ref, hyp)
        word_errors.append(w.substitutions + w.deletions + w.insertions)
        word_sizes.append(w.substitutions + w.deletions + w.hits)
        char_errors.append(c.substitutions + c.deletions + c.insertions)
        char_sizes.append(c.substitutions + c.deletions + c.hits)
    n_words, n_chars = sum(word_sizes), sum(char_sizes)
    wer = sum(word_errors) / n_words if n_words else float("nan")
    cer = sum(char_errors) / n_chars if n_chars else float("nan")
    wse, cse = _ratio_stderr(word_errors, word_sizes), _ratio_stderr(char_errors, char_sizes)
    return {
        "wer": round(wer, 4),
        "wer_stderr": round(wse, 4) if wse is not None else None,
        "cer": round(cer, 4),
        "cer_stderr": round(cse, 4) if cse is not None else None,
        "reference_words": n_words,
    }


def asr_metrics(results: Sequence[Any], examples: Sequence[Any]) -> dict[str, Any]:
    """The ``zoo bench`` metric: examples carry the reference transcript in ``.text``."""
    return score([e.text for e in examples], results)
