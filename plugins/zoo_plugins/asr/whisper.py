"""Encoder-decoder recognisers: ``WhisperForConditionalGeneration`` with batched ``generate``.

Whisper reads 30 s windows; longer recordings are cut into 30 s windows that
overlap by ``context_s`` on each inner edge and run as independent rows of a
batch (see :mod:`.task` and :func:`.chunking.plan_chunks`); each word is kept
from the one window whose kept span holds its midpoint. Word times come from
the model's cross-attention alignment heads (dynamic time warping, as
``transformers`` computes token timestamps); models without alignment heads
spread the words over the window in proportion to their length. Word scores
are ``None``.
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
    """Batched Whisper decoding with word times from the cross-attention alignment heads.

    Card params: ``max_new_tokens`` (128), ``language`` ("en", multilingual
    models only), ``num_beams`` (1: greedy), ``silence_db`` (-55), ``context_s``
    (5: overlap between the 30 s windows of long audio), ``word_timestamps``
    (true: word times by dynamic time warping of the alignment heads; false:
    spread over the window, faster).
    """

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
        #: seconds of overlap on each inner edge of a long input's windows (words are kept once, by midpoint)
        self.context_s = float(params.get("context_s", 5.0))
        heads = getattr(model.generation_config, "alignment_heads", None)
        self.word_timestamps = bool(params.get("word_timestamps", True)) and bool(heads)

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
        feats = self.processor.feature_extractor(
            arrays, sampling_rate=sample_rate, return_tensors="pt", return_attention_mask=True
        )
        param = next(self.model.parameters())
        kwargs: dict[str, Any] = {"max_new_tokens": self.max_new_tokens, "num_beams": self.num_beams}
        if getattr(self.model.generation_config, "is_multilingual", False):
            kwargs |= {"language": self.language, "task": "transcribe"}
        if self.word_timestamps:
            kwargs |= {
                "return_token_timestamps": True,
                "return_dict_in_generate": True,
                "attention_mask": feats.attention_mask.to(param.device),
            }
        out = self.model.generate(feats.input_features.to(param.device, param.dtype), **kwargs)
        durations = [float(n) / sample_rate for n in lengths]
        if not self.word_timestamps:
            texts = self.processor.tokenizer.batch_decode(out, skip_special_tokens=True)
            return [_spread(normalize(t), d) for t, d in zip(texts, durations)]
        seqs, times = out["sequences"].cpu(), out["token_timestamps"].cpu()
        return [self._timed_words(seqs[i], times[i], durations[i]) for i in range(seqs.shape[0])]

    def _timed_words(self, ids: torch.Tensor, times: torch.Tensor, duration_s: float) -> tuple[str, list[Word]]:
        """Group tokens into words (a leading space starts one) and time them from the token times."""
        tok = self.processor.tokenizer
        first_special = int(self.model.generation_config.eos_token_id)  # <|endoftext|>, then control/time tokens
        pieces = [(tok.decode([int(t)]), float(s)) for t, s in zip(ids, times) if int(t) < first_special]
        end_of_speech = min([float(s) for t, s in zip(ids, times) if int(t) == first_special] + [duration_s])
        spans: list[tuple[str, float]] = []
        for piece, start in pieces:
            if not spans or piece.startswith(" "):
                spans.append((piece, start))
            else:
                spans[-1] = (spans[-1][0] + piece, spans[-1][1])
        words: list[Word] = []
        for k, (raw, start) in enumerate(spans):
            end = spans[k + 1][1] if k + 1 < len(spans) else max(end_of_speech, start)
            start, end = min(start, duration_s), min(max(end, start), duration_s)
            parts = normalize(raw).split()  # "1990" -> "nineteen ninety": the span is shared out
            for j, part in enumerate(parts):
                a = start + (end - start) * j / len(parts)
                b = start + (end - start) * (j + 1) / len(parts)
                words.append(Word(part, round(a, 3), round(b, 3), None))
        return " ".join(w.text for w in words), words


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

    # word times read the cross-attention weights, which only the eager kernels return
    attention = "eager" if card.params.get("word_timestamps", True) else "sdpa"
    try:
        model = WhisperForConditionalGeneration.from_pretrained(
            weights_dir, use_safetensors=True, dtype=dtype, attn_implementation=attention
        )
        processor = WhisperProcessor.from_pretrained(weights_dir)
    except (OSError, ValueError) as exc:
        raise WeightsError(str(weights_dir), f"{card.name}: could not load the checkpoint: {exc}") from exc
    return WhisperNet(model, processor, card.sample_rate, dict(card.params)).to(device).eval()


def load_ct2_whisper(card: Any, weights_dir: Path, device: torch.device, dtype: torch.dtype) -> WhisperNet:
    """Build a :class:`WhisperNet` from a CTranslate2 Whisper directory (``model.bin``, ``tokenizer.json``...).

    The checkpoint is converted to an HF directory once, under
    ``<zoo cache>/converted/<card name>-<sha256 of model.bin>-v<converter version>``; the weights
    resolver has already checked the card's sha256 of every package file.
    """
    from zoo.weights import cache_root, file_sha256

    from .ct2 import CONVERTER_VERSION, cached_conversion

    model_bin = Path(weights_dir) / "model.bin"
    if not model_bin.is_file():
        raise WeightsError(str(weights_dir), f"{card.name}: no CTranslate2 model.bin in {weights_dir}")
    declared = (card.weights.get("sha256") or {}) if isinstance(card.weights.get("sha256"), dict) else {}
    digest = declared.get("model.bin") or file_sha256(model_bin)
    converted = cached_conversion(
        Path(weights_dir), f"{card.name}-{digest[:16]}-v{CONVERTER_VERSION}", cache_root() / "converted"
    )
    return load_hf_whisper(card, converted, device, dtype)
