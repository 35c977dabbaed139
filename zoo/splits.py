"""Speaker-disjoint train / held-out splits, the same on every machine.

Every held-out set the cards report comes from :func:`speaker_split`, so a
recipe and ``zoo bench`` agree on which speakers were never trained on.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from typing import Literal, TypeVar

__all__ = ["speaker_split", "stable_fraction"]

T = TypeVar("T")


def stable_fraction(key: str) -> float:
    """A number in [0, 1) from a string, from its SHA-1 (the same on every machine).

    >>> stable_fraction("speaker-1") == stable_fraction("speaker-1")
    True
    """
    return int(hashlib.sha1(key.encode()).hexdigest()[:8], 16) / 16**8


def speaker_split(
    items: Sequence[T],
    heldout: float,
    *,
    balance: Literal["speakers", "clips"] = "speakers",
    salt: str = "zoo",
    speaker: Callable[[T], str] = lambda x: x.speaker,  # type: ignore[attr-defined]
) -> tuple[list[T], list[T]]:
    """``(train, held_out)``: no speaker on both sides, ~``heldout`` of the data held out, in input order.

    ``balance="speakers"`` holds out each speaker whose :func:`stable_fraction`
    is below ``heldout`` (about that share of the speakers). ``balance="clips"``
    takes speakers in the order of a salted hash into the training side until
    it holds ``1 - heldout`` of the items, so the split is balanced in items.

    >>> from types import SimpleNamespace as S
    >>> items = [S(speaker=f"s{i % 4}", n=i) for i in range(8)]
    >>> train, held = speaker_split(items, 0.5, balance="clips")
    >>> len(train), len(held), {x.speaker for x in train} & {x.speaker for x in held}
    (4, 4, set())
    """
    if not 0.0 <= heldout <= 1.0:
        raise ValueError(f"heldout must be a share between 0 and 1, got {heldout}")
    if balance == "speakers":
        held = {speaker(x) for x in items if stable_fraction(speaker(x)) < heldout}
    elif balance == "clips":
        counts: dict[str, int] = {}
        for x in items:
            counts[speaker(x)] = counts.get(speaker(x), 0) + 1
        order = sorted(counts, key=lambda spk: hashlib.sha1(f"{salt}:{spk}".encode()).hexdigest())
        train_share = 1.0 - heldout
        chosen: set[str] = set()
        total = 0
        for spk in order:
            if total >= train_share * len(items):
                break
            chosen.add(spk)
            total += counts[spk]
        held = set(counts) - chosen
    else:
        raise ValueError(f"balance must be 'speakers' or 'clips', got {balance!r}")
    return [x for x in items if speaker(x) not in held], [x for x in items if speaker(x) in held]
