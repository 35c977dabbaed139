"""The results of sound tagging (:class:`Tags`) and audio captioning (:class:`Caption`)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from zoo import Result

__all__ = ["Caption", "TagSegment", "Tags"]

#: how many scores ``Tags.to_dict()`` keeps (the best ones); the result itself holds them all
TOP_SCORES = 5


@dataclass(frozen=True)
class TagSegment:
    """A stretch of a long recording where one sound was the top tag (seconds from the start)."""

    start_s: float
    end_s: float
    label: str
    score: float


@dataclass(frozen=True)
class Tags(Result):
    """What sounds a recording holds.

    ``label`` is the top tag (an ESC-50 class name such as ``"dog"``, or
    ``"_silence_"`` for digital silence), ``scores`` every class's probability,
    ``labels`` the classes at or above the model's threshold, best first
    (multi-label), and ``segments`` the top tag per stretch of a recording
    longer than one analysis window (empty for a single window).

    >>> t = Tags(source="a.wav", label="dog", score=0.8, scores={"dog": 0.8, "rain": 0.4}, labels=("dog", "rain"))
    >>> t.summary(), t.top(1)
    ('dog (0.800) + rain', [('dog', 0.8)])
    """

    label: str
    score: float
    scores: Mapping[str, float] = field(default_factory=dict)
    labels: tuple[str, ...] = ()
    segments: tuple[TagSegment, ...] = ()

    def top(self, k: int = 5) -> list[tuple[str, float]]:
        """The ``k`` best labels with their scores, best first."""
        return sorted(self.scores.items(), key=lambda kv: -kv[1])[:k]

    def summary(self) -> str:
        """``"dog (0.800) + rain"``, with the number of segments of a long recording."""
        others = [x for x in self.labels if x != self.label]
        text = f"{self.label} ({self.score:.3f})" + "".join(f" + {x}" for x in others)
        return text + (f", {len(self.segments)} segments" if self.segments else "")

    def to_dict(self, paths: Mapping[str, str | os.PathLike] | None = None) -> dict[str, Any]:
        """Compact: only the :data:`TOP_SCORES` best scores (rounded), the rest as in :meth:`Result.to_dict`."""
        out = super().to_dict(paths)
        out["scores"] = {k: round(v, 4) for k, v in self.top(TOP_SCORES)}
        return out


@dataclass(frozen=True)
class Caption(Result):
    """A sentence saying what is heard ("a dog barks while rain falls").

    >>> Caption(source="a.wav", text="a dog barks").summary()
    'a dog barks'
    """

    text: str
    #: the sounds the caption was built from or names, when the model knows them
    sounds: tuple[str, ...] = ()

    text_field: ClassVar[str | None] = "text"

    def summary(self) -> str:
        """The caption (``"(nothing heard)"`` when empty)."""
        return self.text or "(nothing heard)"
