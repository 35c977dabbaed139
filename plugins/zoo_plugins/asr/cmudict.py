"""The CMU pronouncing dictionary shipped in the ``pocketsphinx`` wheel.

Phone-level CTC models (``--units phones`` in the recipe) output the 39
ARPAbet phones of this dictionary, without stress marks. Their training
targets come from :func:`phonemize` and their beam search spells every word
of the decoding vocabulary with its pronunciations from :func:`pronunciations`.
"""

from __future__ import annotations

import functools
from pathlib import Path

from zoo.errors import ZooError

__all__ = ["PHONES", "phonemize", "pronunciations", "words"]

#: the ARPAbet phone set of the CMU dictionary (no stress), in sorted order
PHONES = (
    "AA AE AH AO AW AY B CH D DH EH ER EY F G HH IH IY JH K L M N NG OW OY P R S SH T TH UH UW V W Y Z ZH"
).split()


def _path() -> Path:
    try:
        import pocketsphinx
    except ImportError as exc:
        raise ZooError(f"the CMU dictionary comes with pocketsphinx: pip install pocketsphinx ({exc})") from exc
    return Path(pocketsphinx.get_model_path()) / "en-us" / "cmudict-en-us.dict"


@functools.lru_cache(maxsize=1)
def pronunciations() -> dict[str, tuple[tuple[str, ...], ...]]:
    """Every word (lower case, variants folded) with its pronunciations, most common first."""
    table: dict[str, list[tuple[str, ...]]] = {}
    with open(_path(), encoding="utf-8", errors="replace") as f:
        for line in f:
            parts = line.split()
            if len(parts) < 2:
                continue
            word = parts[0].split("(", 1)[0].lower()
            table.setdefault(word, []).append(tuple(p.rstrip("012") for p in parts[1:]))
    return {w: tuple(dict.fromkeys(prons)) for w, prons in table.items()}


def words() -> list[str]:
    """Every word of the dictionary, sorted."""
    return sorted(pronunciations())


def phonemize(text: str, unknown: str = "<unk>") -> list[list[str]]:
    """The first pronunciation of each word of a normalised transcript (``[unknown]`` for a word not listed).

    >>> phonemize("hello world")
    [['HH', 'AH', 'L', 'OW'], ['W', 'ER', 'L', 'D']]
    """
    table = pronunciations()
    return [list(table[w][0]) if w in table else [unknown] for w in text.split()]
