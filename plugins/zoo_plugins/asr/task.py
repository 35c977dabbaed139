"""The speech-recognition task: audio in, :class:`zoo.results.Transcript` out.

Architectures for this task build a network object with a ``transcribe``
method::

    net.transcribe(waveforms: Tensor (B, T), lengths: Tensor (B,), sample_rate: int)
        -> list[tuple[str, list[zoo.results.Word]]]     # one (text, words) per row

Word times are seconds from the start of the row. The task owns batching,
devices and errors through the runner, like every task.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from zoo import Task
from zoo.results import Transcript, Word
from zoo.task import Chunk

__all__ = ["SpeechRecognition"]


class SpeechRecognition(Task):
    """Transcribe speech; the result carries word timings when the model has them."""

    name = "speech-recognition"
    result_type = Transcript
    description = "Transcribe speech to text with word timings"

    def forward(self, model: Any, batch: dict[str, torch.Tensor]) -> list[Any]:
        return list(model.net.transcribe(batch["inputs"], batch["lengths"], model.card.sample_rate))

    def postprocess(self, model: Any, item: Any, chunks: Sequence[Chunk], outputs: Sequence[Any]) -> Transcript:
        texts, words = [], []
        for chunk, (text, chunk_words) in zip(chunks, outputs):
            offset = float(chunk.meta.get("start_s", 0.0))
            if text:
                texts.append(text)
            words += [Word(w.text, w.start_s + offset, w.end_s + offset, w.score) for w in chunk_words]
        return Transcript(source=item.source, text=" ".join(texts).strip(), words=tuple(words))
