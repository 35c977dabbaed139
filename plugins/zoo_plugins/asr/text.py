"""Text normalisation shared by training, decoding and WER/CER.

The documented normalisation (applied to both references and hypotheses before
scoring, and to training transcripts):

1. Unicode to ASCII where a plain letter exists (``é`` -> ``e``), lower case;
2. ``&`` -> ``and``; hyphens and slashes become spaces;
3. every character other than ``a-z``, apostrophe and space is dropped
   (punctuation, digits written as digits);
4. apostrophes that do not sit between letters are dropped (quotes);
5. runs of whitespace collapse to one space; leading/trailing space is removed.

Digits are not spelled out: the training data writes numbers as words.
"""

from __future__ import annotations

import re
import unicodedata

__all__ = ["CHARS", "normalize"]

#: the output alphabet of the character CTC models trained here (word boundary = space)
CHARS = "abcdefghijklmnopqrstuvwxyz'"

_DROP = re.compile(r"[^a-z' ]+")
_QUOTE = re.compile(r"(?<![a-z])'|'(?![a-z])")
_SPACE = re.compile(r"\s+")


def normalize(text: str) -> str:
    """Lower-case words of ``a-z`` and inner apostrophes, single-spaced.

    >>> normalize("Not at this particular case, Tom, apologized Whittemore.")
    'not at this particular case tom apologized whittemore'
    >>> normalize("  'Don't' -- rock&roll!  ")
    "don't rock and roll"
    """
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii").lower()
    text = text.replace("&", " and ").replace("-", " ").replace("/", " ")
    text = _DROP.sub(" ", text)
    text = _QUOTE.sub("", text)
    return _SPACE.sub(" ", text).strip()
