"""The keyword-spotting task: 1-second clips in, one of 12 labels out."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from zoo import Chunk, Classification, Result, Task
from zoo.task import DemoInput

__all__ = ["KEYWORDS", "LABELS", "KeywordSpotting", "window_starts"]

KEYWORDS = ("yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go")
SILENCE = "_silence_"
LABELS = (*KEYWORDS, SILENCE, "_unknown_")


def window_starts(num_samples: int, window: int, hop: int) -> list[int]:
    """Start offsets of ``window``-long windows every ``hop`` samples covering the clip.

    The last window ends exactly at the clip's end, so no audio is dropped.

    >>> window_starts(16000, 16000, 8000)
    [0]
    >>> window_starts(40000, 16000, 8000)
    [0, 8000, 16000, 24000]
    """
    if num_samples <= window:
        return [0]
    starts = list(range(0, num_samples - window + 1, hop))
    if starts[-1] + window < num_samples:
        starts.append(num_samples - window)
    return starts


class KeywordSpotting(Task):
    """Classify a clip as one of the Speech Commands labels.

    Clips shorter than ``clip_s`` (1 s) are zero-padded at the end, as in training.
    Longer clips are scanned with 1 s windows every ``hop_s`` (0.5 s); the
    window with the most confident keyword decides the label (if no window's
    top label is a keyword, the most confident window does; near-ties within
    1e-4 go to the earliest window), and the result carries that window's
    ``start_s``/``end_s``.

    Input that cannot hold a word is not left to the network: digital silence
    (no sample louder than ``silence_db``, default -80 dBFS) is ``_silence_``
    with score 1.0, and a clip shorter than ``min_s`` (0.1 s) that is not
    silent is an error for that item.
    """

    name = "keyword-spotting"
    result_type = Classification
    description = "Spot one of 10 keywords (or silence / unknown word) in a short clip"
    required_card_keys = ("labels",)
    hf_pipeline_task = "audio-classification"
    #: card params the task reads (``zoo run --param`` accepts these)
    known_params = ("clip_s", "hop_s", "min_s", "silence_db")
    aliases = ("kws",)
    headline_metrics = ("accuracy",)

    def demo_inputs(self, directory: Path | None = None) -> list[DemoInput]:
        """``<label>_<anything>.wav`` clips, expecting their label (default: the bundled, synthesised ones)."""
        clips = sorted((directory or Path(__file__).parent / "examples").glob("*.wav"))
        return [DemoInput(str(c), c.stem.split("_")[0]) for c in clips]

    def matches(self, result: Result, expected: str) -> bool:
        return result.ok and getattr(result, "label", None) == expected

    def preprocess(self, model: Any, item: Any) -> list[Chunk]:
        rate = item.sample_rate
        window = int(float(model.card.params.get("clip_s", 1.0)) * rate)
        hop = int(float(model.card.params.get("hop_s", 0.5)) * rate)
        wav = item.mono()
        silent = float(wav.abs().max()) <= 10 ** (float(model.card.params.get("silence_db", -80.0)) / 20)
        min_s = float(model.card.params.get("min_s", 0.1))
        if not silent and wav.shape[-1] < min_s * rate:
            from zoo.errors import AudioError

            raise AudioError(
                item.source,
                f"the clip is {1000 * wav.shape[-1] / rate:.1f} ms long, too short to hold a word; "
                f"keyword spotting needs at least {1000 * min_s:.0f} ms",
            )
        chunks = []
        for start in window_starts(wav.shape[-1], window, hop):
            piece = wav[start : start + window]
            if piece.shape[-1] < window:
                piece = torch.nn.functional.pad(piece, (0, window - piece.shape[-1]))
            chunks.append(
                Chunk(piece, window, {"start_s": start / rate, "end_s": (start + window) / rate, "silent": silent})
            )
        return chunks

    def forward(self, model: Any, batch: dict[str, torch.Tensor]) -> list[torch.Tensor]:
        logits = model.net(batch["inputs"], batch["lengths"])
        return list(torch.softmax(logits.float(), dim=-1).cpu())

    def postprocess(
        self, model: Any, item: Any, chunks: Sequence[Chunk], outputs: Sequence[torch.Tensor]
    ) -> Classification:
        labels = model.net.labels
        if chunks and chunks[0].meta.get("silent") and SILENCE in labels:
            return Classification(
                source=item.source,
                label=SILENCE,
                score=1.0,
                scores={name: float(name == SILENCE) for name in labels},
                start_s=chunks[0].meta.get("start_s"),
                end_s=chunks[0].meta.get("end_s"),
            )
        keyword_ids = [i for i, name in enumerate(labels) if not name.startswith("_")]
        best = 0
        if len(outputs) > 1:
            tops = [(float(p.max()), int(p.argmax())) for p in outputs]
            with_keyword = [k for k, (_, arg) in enumerate(tops) if arg in keyword_ids]
            pool = with_keyword or list(range(len(outputs)))
            top_score = max(tops[k][0] for k in pool)
            # near-ties go to the earliest window, so batching noise (~1e-6) cannot flip the choice
            best = min(k for k in pool if tops[k][0] >= top_score - 1e-4)
        probs = outputs[best]
        top = int(probs.argmax())
        scores = {labels[i]: float(probs[i]) for i in range(len(labels))}
        meta = chunks[best].meta
        return Classification(
            source=item.source,
            label=labels[top],
            score=float(probs[top]),
            scores=scores,
            start_s=meta.get("start_s"),
            end_s=meta.get("end_s"),
        )
