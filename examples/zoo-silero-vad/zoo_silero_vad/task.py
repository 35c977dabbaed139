"""The voice-activity-detection task: audio in, :class:`SpeechSegments` out.

Architectures for this task build a network with a frame hop and a method that
scores every frame::

    net.frame_s: float                                     # seconds per frame
    net.speech_probs(waveforms: Tensor (B, T), lengths: Tensor (B,), sample_rate: int)
        -> list[numpy.ndarray]                             # per row: P(speech) per frame

The task turns frame probabilities into segments with hysteresis
(:func:`probs_to_segments`); its thresholds come from the card's ``params``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from zoo import Chunk, Result, Task

__all__ = ["Segment", "SpeechSegments", "VoiceActivityDetection", "probs_to_segments"]


@dataclass(frozen=True)
class Segment:
    """One stretch of speech, in seconds from the start of the input."""

    start_s: float
    end_s: float

    @property
    def duration_s(self) -> float:
        return self.end_s - self.start_s


@dataclass(frozen=True)
class SpeechSegments(Result):
    """Where an input has speech.

    >>> r = SpeechSegments(source="a.wav", segments=(Segment(0.5, 1.25),), duration_s=2.0)
    >>> r.speech_s, r.has_speech
    (0.75, True)
    """

    segments: tuple[Segment, ...] = ()
    duration_s: float = 0.0

    @property
    def speech_s(self) -> float:
        """Total seconds of speech."""
        return sum(s.duration_s for s in self.segments)

    @property
    def has_speech(self) -> bool:
        return bool(self.segments)

    def summary(self) -> str:
        """How many segments, and the first few spans."""
        spans = [f"{s.start_s:.2f}-{s.end_s:.2f} s" for s in self.segments]
        more = f", ... (+{len(spans) - 4})" if len(spans) > 4 else ""
        head = f"{len(spans)} segment{'s' * (len(spans) != 1)}"
        return f"{head}: {', '.join(spans[:4])}{more}" if spans else head


def probs_to_segments(
    probs: Sequence[float],
    frame_s: float,
    duration_s: float,
    threshold: float = 0.5,
    neg_threshold: float | None = None,
    min_speech_s: float = 0.25,
    min_silence_s: float = 0.1,
    pad_s: float = 0.03,
) -> tuple[Segment, ...]:
    """Speech segments from per-frame speech probabilities, with hysteresis.

    Speech starts at a frame with ``p >= threshold`` and ends once ``p`` has
    stayed below ``neg_threshold`` (default ``threshold - 0.15``) for
    ``min_silence_s``; probabilities in between keep the current state.
    Segments shorter than ``min_speech_s`` are dropped; the rest are widened by
    ``pad_s`` on each side (within ``[0, duration_s]``) and merged where they meet.

    >>> probs_to_segments([0, 0, .9, .9, .9, .9, .1, .1, .1, 0], 0.1, 1.0, min_speech_s=0.2, pad_s=0)
    (Segment(start_s=0.2, end_s=0.6),)
    """
    low = threshold - 0.15 if neg_threshold is None else neg_threshold
    raw: list[tuple[float, float]] = []
    start: float | None = None
    quiet_since: float | None = None
    for i, p in enumerate(probs):
        t = i * frame_s
        if start is None:
            if p >= threshold:
                start = t
            continue
        if p >= threshold:
            quiet_since = None
        elif p < low:
            quiet_since = t if quiet_since is None else quiet_since
            if t + frame_s - quiet_since >= min_silence_s - 1e-9:
                raw.append((start, quiet_since))
                start = quiet_since = None
    if start is not None:
        raw.append((start, quiet_since if quiet_since is not None else len(probs) * frame_s))
    out: list[list[float]] = []
    for a, b in raw:
        if b - a < min_speech_s - 1e-9:
            continue
        a, b = max(0.0, a - pad_s), min(duration_s, b + pad_s)
        if out and a <= out[-1][1]:
            out[-1][1] = max(out[-1][1], b)
        else:
            out.append([a, b])
    return tuple(Segment(round(a, 4), round(b, 4)) for a, b in out)


class VoiceActivityDetection(Task):
    """Find the stretches of speech in audio (none in silence or noise)."""

    name = "voice-activity-detection"
    result_type = SpeechSegments
    description = "Find where speech is: start/end seconds of each speech segment"
    aliases = ("vad",)

    def forward(self, model: Any, batch: dict[str, torch.Tensor]) -> list[np.ndarray]:
        return list(model.net.speech_probs(batch["inputs"], batch["lengths"], model.card.sample_rate))

    def postprocess(
        self, model: Any, item: Any, chunks: Sequence[Chunk], outputs: Sequence[np.ndarray]
    ) -> SpeechSegments:
        probs = np.concatenate([np.asarray(o, dtype=np.float64).reshape(-1) for o in outputs])
        p = model.card.params
        segments = probs_to_segments(
            probs.tolist(),
            frame_s=float(model.net.frame_s),
            duration_s=item.duration_s,
            threshold=float(p.get("threshold", 0.5)),
            neg_threshold=float(p["neg_threshold"]) if "neg_threshold" in p else None,
            min_speech_s=float(p.get("min_speech_s", 0.25)),
            min_silence_s=float(p.get("min_silence_s", 0.1)),
            pad_s=float(p.get("pad_s", 0.03)),
        )
        return SpeechSegments(source=item.source, segments=segments, duration_s=round(item.duration_s, 4))
