"""The audio-tagging task: what sounds a recording holds, per recording and per stretch of a long one."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from zoo import Chunk, Result, Task
from zoo.task import DemoInput

from .results import Tags, TagSegment

__all__ = ["SILENCE", "AudioTagging", "merge_segments", "window_spans"]

SILENCE = "_silence_"


def window_spans(num_samples: int, window: int, hop: int) -> list[tuple[int, int]]:
    """``(start, end)`` sample spans of ``window``-long windows every ``hop`` covering the input.

    A clip no longer than one window is one span (not padded); otherwise the
    last window ends exactly at the input's end, so no audio is dropped.

    >>> window_spans(80000, 80000, 80000)
    [(0, 80000)]
    >>> window_spans(200000, 80000, 80000)
    [(0, 80000), (80000, 160000), (120000, 200000)]
    """
    if window <= 0 or hop <= 0:
        raise ValueError(f"window and hop must be positive, got {window} and {hop}")
    if num_samples <= window:
        return [(0, num_samples)]
    starts = list(range(0, num_samples - window + 1, hop))
    if starts[-1] + window < num_samples:
        starts.append(num_samples - window)
    return [(s, s + window) for s in starts]


def merge_segments(spans_s: Sequence[tuple[float, float]], tops: Sequence[tuple[str, float]]) -> list[TagSegment]:
    """One :class:`TagSegment` per run of windows with the same top label.

    Each window owns the time from its start to the next window's start (the
    last one to its end), so segments never overlap; a run's score is its best
    window's.

    >>> merge_segments([(0, 5), (5, 10), (8, 13)], [("dog", 0.9), ("dog", 0.7), ("rain", 0.6)])
    [TagSegment(start_s=0, end_s=8, label='dog', score=0.9), TagSegment(start_s=8, end_s=13, label='rain', score=0.6)]
    """
    out: list[TagSegment] = []
    for i, ((start, end), (label, score)) in enumerate(zip(spans_s, tops)):
        stop = spans_s[i + 1][0] if i + 1 < len(spans_s) else end
        if out and out[-1].label == label:
            last = out[-1]
            out[-1] = TagSegment(last.start_s, stop, label, max(last.score, score))
        else:
            out.append(TagSegment(start, stop, label, score))
    return out


class AudioTagging(Task):
    """Tag the sounds in a recording (the 50 ESC-50 classes for the built-in models).

    Inputs up to ``window_s`` (5 s, the length the heads were trained on) are
    one window; longer ones are tagged every ``hop_s`` (default: the window)
    and the recording's scores are each class's best window score, so a short
    event in a long recording still counts. ``labels`` holds the classes
    scoring at least ``threshold``. Digital silence (no sample above
    ``silence_db``, -80 dBFS) is ``_silence_`` without asking the network.
    """

    name = "audio-tagging"
    result_type = Tags
    description = "Tag environmental sounds (dog, rain, siren ...), per recording and per stretch of long ones"
    required_card_keys = ("labels",)
    known_params = ("backbone", "window_s", "hop_s", "threshold", "silence_db")
    aliases = ("tagging", "tags", "sound-tagging")
    headline_metrics = ("accuracy", "cv_accuracy")

    def demo_inputs(self, directory: Path | None = None) -> list[DemoInput]:
        """``<label>_<anything>.flac|wav`` clips, expecting their label (default: none bundled)."""
        if directory is None:
            return []
        clips = sorted(p for p in directory.iterdir() if p.suffix in (".wav", ".flac"))
        return [DemoInput(str(c), c.stem.rsplit("_", 1)[0]) for c in clips]

    def matches(self, result: Result, expected: str) -> bool:
        return result.ok and getattr(result, "label", None) == expected

    def preprocess(self, model: Any, item: Any) -> list[Chunk]:
        params = model.card.params
        rate = item.sample_rate
        window = int(float(params.get("window_s", 5.0)) * rate)
        hop = int(float(params.get("hop_s", params.get("window_s", 5.0))) * rate)
        wav = item.mono()
        silent = wav.numel() == 0 or float(wav.abs().max()) <= 10 ** (float(params.get("silence_db", -80.0)) / 20)
        spans = [(0, int(wav.numel()))] if silent else window_spans(int(wav.numel()), window, hop)
        return [
            Chunk(wav[a:b], b - a, {"start_s": a / rate, "end_s": b / rate, "silent": silent, "windows": len(spans)})
            for a, b in spans
        ]

    def forward(self, model: Any, batch: dict[str, torch.Tensor]) -> list[torch.Tensor]:
        return list(model.net(batch["inputs"], batch["lengths"]).float().cpu())

    def speed_baselines(self, model: Any, inputs: Sequence[Any], names: Sequence[str]) -> list[Any]:
        from .baselines import hf_pipeline_baselines

        return hf_pipeline_baselines(model, inputs, names)

    def postprocess(self, model: Any, item: Any, chunks: Sequence[Chunk], outputs: Sequence[torch.Tensor]) -> Tags:
        labels = tuple(model.net.labels)
        if chunks[0].meta.get("silent"):
            return Tags(source=item.source, label=SILENCE, score=1.0, scores={name: 0.0 for name in labels})
        probs = torch.stack(list(outputs)).amax(0)
        top = int(probs.argmax())
        scores = {labels[i]: float(probs[i]) for i in range(len(labels))}
        threshold = float(model.card.params.get("threshold", 0.3))
        above = tuple(sorted((k for k, v in scores.items() if v >= threshold), key=lambda k: -scores[k]))
        segments: tuple[TagSegment, ...] = ()
        if len(outputs) > 1:
            tops = [(labels[int(p.argmax())], round(float(p.max()), 4)) for p in outputs]
            spans = [(c.meta["start_s"], c.meta["end_s"]) for c in chunks]
            segments = tuple(merge_segments(spans, tops))
        return Tags(
            source=item.source,
            label=labels[top],
            score=float(probs[top]),
            scores=scores,
            labels=above,
            segments=segments,
        )
