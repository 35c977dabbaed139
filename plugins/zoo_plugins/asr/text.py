"""Text normalisation shared by training, decoding and WER/CER.

The documented normalisation (applied to both references and hypotheses before
scoring, and to training transcripts):

1. Unicode to ASCII where a plain letter exists (``é`` -> ``e``), lower case;
2. ``&`` -> ``and``; hyphens and slashes become spaces;
3. numbers written with digits are spelled out (``42`` -> ``forty two``,
   ``3rd`` -> ``third``, ``1990`` -> ``nineteen ninety``, ``0.35`` -> ``zero
   point three five``, ``50%`` -> ``fifty percent``), as the training and
   reference transcripts write them;
4. every character other than ``a-z``, apostrophe and space is dropped
   (punctuation);
5. apostrophes that do not sit between letters are dropped (quotes);
6. runs of whitespace collapse to one space; leading/trailing space is removed.
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
_NUMBER = re.compile(r"(\d[\d,]*(?:\.\d+)?)(st|nd|rd|th)?(%)?", re.IGNORECASE)


def _spell(match: re.Match) -> str:
    """One number as words (num2words); years 1100-2099 the way they are read."""
    from num2words import num2words

    digits, ordinal, percent = match.group(1).replace(",", ""), match.group(2), match.group(3)
    try:
        if ordinal and digits.isdigit():
            words = num2words(int(digits), to="ordinal")
        elif digits.isdigit() and len(digits) == 4 and 1100 <= int(digits) < 2100 and not percent:
            words = num2words(int(digits), to="year")
        elif "." in digits:
            words = num2words(float(digits))
        else:
            words = num2words(int(digits))
    except (ValueError, OverflowError, ArithmeticError):
        return " ".join(digits)
    return f" {words} percent " if percent else f" {words} "


def normalize(text: str) -> str:
    """Lower-case words of ``a-z`` and inner apostrophes, single-spaced.

    >>> normalize("Not at this particular case, Tom, apologized Whittemore.")
    'not at this particular case tom apologized whittemore'
    >>> normalize("  'Don't' -- rock&roll!  ")
    "don't rock and roll"
    >>> normalize("In 1990, 3rd of 42 (0.5%)")
    'in nineteen ninety third of forty two zero point five percent'
    """
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii").lower()
    if any(c.isdigit() for c in text):
        text = _NUMBER.sub(_spell, text)
    text = text.replace("&", " and ").replace("-", " ").replace("/", " ")
    text = _DROP.sub(" ", text)
    text = _QUOTE.sub("", text)
    return _SPACE.sub(" ", text).strip()
