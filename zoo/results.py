"""Typed, frozen results returned by zoo models.

Each task returns one result per input, in input order. An input that failed
gets an :class:`ErrorResult` in its place, so a batch never loses the results
of its other items.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Classification", "ErrorResult", "Result", "Transcript", "Word"]


@dataclass(frozen=True)
class Result:
    """Base of every result. ``source`` names the input (a path, or ``"<array>"``)."""

    source: str

    @property
    def ok(self) -> bool:
        return True

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict, with the result type under ``"type"``."""
        out = {"type": type(self).__name__}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            out[f.name] = _jsonable(value)
        return out


@dataclass(frozen=True)
class ErrorResult(Result):
    """An input that could not be processed: where it came from and why."""

    error: str
    reason: str

    @property
    def ok(self) -> bool:
        return False


@dataclass(frozen=True)
class Classification(Result):
    """A clip-level label with its score and the full score table.

    >>> c = Classification(source="clip.wav", label="yes", score=0.9, scores={"yes": 0.9, "no": 0.1})
    >>> c.label, c.top(1)
    ('yes', [('yes', 0.9)])
    """

    label: str
    score: float
    scores: Mapping[str, float] = field(default_factory=dict)
    #: the window of a long input the label came from (None: the whole input)
    start_s: float | None = None
    end_s: float | None = None

    def top(self, k: int = 5) -> list[tuple[str, float]]:
        """The ``k`` best labels with their scores, best first."""
        return sorted(self.scores.items(), key=lambda kv: -kv[1])[:k]


@dataclass(frozen=True)
class Word:
    """One recognised word with its time span in seconds from the start of the input."""

    text: str
    start_s: float
    end_s: float
    score: float | None = None


@dataclass(frozen=True)
class Transcript(Result):
    """Recognised text, with word timings where the model provides them.

    >>> t = Transcript(source="a.wav", text="hello world", words=(Word("hello", 0.1, 0.5), Word("world", 0.6, 1.0)))
    >>> t.words[1].start_s
    0.6
    """

    text: str
    words: tuple[Word, ...] = ()
    language: str | None = None


def _jsonable(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if hasattr(value, "tolist"):
        return value.tolist()
    return value
