"""Encoder-decoder recognisers: ``WhisperForConditionalGeneration`` with batched ``generate``.

Whisper reads 30 s windows; longer recordings are cut into consecutive 30 s
windows that run as independent rows of a batch (see :mod:`.task`). Whisper
returns text without frame alignment, so word times are spread over the
window's speech in proportion to word length and carry ``score=None``; use a
CTC model when word timing matters.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from zoo.errors import WeightsError
from zoo.results import Word

from .text import normalize

__all__ = ["WhisperNet", "load_hf_whisper"]

WINDOW_S = 30.0


class WhisperNet(nn.Module):
    kind = "seq2seq"
    window_s = WINDOW_S

    def __init__(self, model: nn.Module, processor: Any, sample_rate: int, params: dict[str, Any]) -> None:
        super().__init__()
        self.model, self.processor, self.sample_rate = model, processor, sample_rate
        self.max_new_tokens = int(params.get("max_new_tokens", 128))
        self.language = params.get("language", "en")
        self.num_beams = int(params.get("num_beams", 1))
        #: windows whose loudest 30 ms frame is quieter than this (dBFS) are not decoded (no hallucinations)
        self.silence_db = float(params.get("silence_db", -55.0))

    def transcribe(self, waveforms: torch.Tensor, lengths: torch.Tensor, sample_rate: int):
        from .ctc import silent_rows

        silent = silent_rows(waveforms, lengths, sample_rate, self.silence_db)
        rows = [i for i in range(waveforms.shape[0]) if not silent[i]]
        out: list[tuple[str, list[Word]]] = [("", [])] * waveforms.shape[0]
        if rows:
            for i, res in zip(rows, self._generate(waveforms[rows], lengths[rows], sample_rate)):
                out[i] = res
        return out

    def _generate(self, waveforms: torch.Tensor, lengths: torch.Tensor, sample_rate: int):
        arrays = [waveforms[i, : int(lengths[i])].float().cpu().numpy() for i in range(waveforms.shape[0])]
        feats = self.processor.feature_extractor(arrays, sampling_rate=sample_rate, return_tensors="pt")
        param = next(self.model.parameters())
        kwargs: dict[str, Any] = {"max_new_tokens": self.max_new_tokens, "num_beams": self.num_beams}
        if getattr(self.model.generation_config, "lang_to_id", None):
            kwargs |= {"language": self.language, "task": "transcribe"}
        ids = self.model.generate(feats.input_features.to(param.device, param.dtype), **kwargs)
        texts = self.processor.tokenizer.batch_decode(ids, skip_special_tokens=True)
        return [_spread(normalize(t), float(lengths[i]) / sample_rate) for i, t in enumerate(texts)]


def _spread(text: str, duration_s: float) -> tuple[str, list[Word]]:
    """Words with times spread over the window in proportion to their length (no alignment)."""
    words = text.split()
    if not words:
        return "", []
    total = sum(len(w) + 1 for w in words)
    out, pos = [], 0.0
    for w in words:
        start = pos / total * duration_s
        pos += len(w) + 1
        out.append(Word(w, round(start, 3), round(pos / total * duration_s, 3), None))
    return text, out


def load_hf_whisper(card: Any, weights_dir: Path, device: torch.device, dtype: torch.dtype) -> WhisperNet:
    """Build a :class:`WhisperNet` from an HF-format directory (safetensors only)."""
    from transformers import WhisperForConditionalGeneration, WhisperProcessor

    try:
        model = WhisperForConditionalGeneration.from_pretrained(weights_dir, use_safetensors=True, dtype=dtype)
        processor = WhisperProcessor.from_pretrained(weights_dir)
    except (OSError, ValueError) as exc:
        raise WeightsError(str(weights_dir), f"{card.name}: could not load the checkpoint: {exc}") from exc
    return WhisperNet(model, processor, card.sample_rate, dict(card.params)).to(device).eval()
