"""CTC speech recognisers from transformers (``Wav2Vec2ForCTC``, ``Wav2Vec2BertForCTC``, ...).

The net returns per-frame log-probabilities; decoding happens after the
chunks of a long recording are merged (see :mod:`.chunking`), so a word that
straddles two chunks is decoded once.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import torch
from torch import nn

from zoo.audio import peak_db
from zoo.errors import WeightsError
from zoo.features import HFAudioInput
from zoo.results import Word

from .decoders import CTCVocab, build_decoder

__all__ = ["CTCNet", "load_hf_ctc"]


class CTCNet(nn.Module):
    """``log_probs(waveforms, lengths)`` per row, and ``decode(log_probs)`` to ``(text, words)``."""

    kind = "ctc"

    def __init__(
        self,
        model: nn.Module,
        inputs: HFAudioInput,
        vocab: CTCVocab,
        frame_samples: int,
        sample_rate: int,
        params: dict[str, Any],
    ) -> None:
        super().__init__()
        self.model, self.inputs, self.vocab = model, inputs, vocab
        self.frame_samples, self.sample_rate = frame_samples, sample_rate
        self.frame_s = frame_samples / sample_rate
        self.params = dict(params)
        default = "beam-lm" if vocab.units == "phones" else "greedy"  # phones need a lexicon to make words
        self.decoder = build_decoder(str(self.params.get("decoder", default)), vocab, self.params)
        #: a chunk whose loudest 30 ms frame is quieter than this (dBFS) is silence: no words
        self.silence_db = float(self.params.get("silence_db", -55.0))
        #: words whose mean token probability is below this are dropped (noise, music)
        self.min_word_score = float(self.params.get("min_word_score", 0.0))

    def log_probs(self, waveforms: torch.Tensor, lengths: torch.Tensor) -> list[torch.Tensor]:
        kwargs, valid = self.inputs(waveforms, lengths, next(self.model.parameters()).dtype)
        logits = self.model(**kwargs).logits.float()
        if self.inputs.kind == "fbank":
            frames = valid.sum(-1)
        else:
            frames = self.model._get_feat_extract_output_lengths(lengths)
        frames = frames.clamp(max=logits.shape[1])
        lp = torch.log_softmax(logits, dim=-1)
        silent = silent_rows(waveforms, lengths, self.sample_rate, self.silence_db)
        out = []
        for i in range(lp.shape[0]):
            row = lp[i, : int(frames[i])].cpu()
            if silent[i]:  # force all-blank: silence never produces words
                row = torch.full_like(row, -1e4)
                row[:, self.vocab.blank] = 0.0
            out.append(row)
        return out

    def decode(self, log_probs: torch.Tensor) -> tuple[str, list[Word]]:
        text, words = self.decoder(log_probs, self.frame_s)
        if self.min_word_score > 0:
            words = [w for w in words if w.score is None or w.score >= self.min_word_score]
            text = " ".join(w.text for w in words)
        return text, words

    def transcribe(self, waveforms: torch.Tensor, lengths: torch.Tensor, sample_rate: int):
        return [self.decode(lp) for lp in self.log_probs(waveforms, lengths)]


def silent_rows(waveforms: torch.Tensor, lengths: torch.Tensor, sample_rate: int, threshold_db: float) -> list[bool]:
    """Per row: is even the loudest 30 ms frame quieter than ``threshold_db`` dBFS?"""
    return [peak_db(waveforms[i, : int(lengths[i])], sample_rate) < threshold_db for i in range(waveforms.shape[0])]


def frame_samples_of(config: Any, inputs: HFAudioInput) -> int:
    """Input samples per output frame of a transformers CTC model."""
    if inputs.kind == "fbank":
        step = 160 * inputs.stride  # 10 ms fbank frames, stacked by ``stride``
    else:
        step = math.prod(config.conv_stride)  # raw-waveform conv feature encoder
    if getattr(config, "add_adapter", False):
        step *= getattr(config, "adapter_stride", 2) ** getattr(config, "num_adapter_layers", 1)
    return int(step)


def load_hf_ctc(card: Any, weights_dir: Path, device: torch.device, dtype: torch.dtype) -> CTCNet:
    """Build a :class:`CTCNet` from an HF-format directory (safetensors only) with its ``vocab.json``."""
    from transformers import AutoModelForCTC

    vocab_file = Path(weights_dir) / "vocab.json"
    if not vocab_file.exists():
        raise WeightsError(str(weights_dir), f"{card.name}: a CTC checkpoint needs its vocab.json beside the weights")
    vocab_json = json.loads(vocab_file.read_text())
    tok_cfg_file = Path(weights_dir) / "tokenizer_config.json"
    tok_cfg = json.loads(tok_cfg_file.read_text()) if tok_cfg_file.exists() else {}
    blank = tok_cfg.get("pad_token", "<pad>")
    delimiter = tok_cfg.get("word_delimiter_token", "|")
    if isinstance(blank, dict):
        blank = blank.get("content", "<pad>")
    try:
        model = AutoModelForCTC.from_pretrained(weights_dir, use_safetensors=True, dtype=dtype)
    except (OSError, ValueError) as exc:
        raise WeightsError(str(weights_dir), f"{card.name}: could not load the checkpoint: {exc}") from exc
    if model.config.pad_token_id is not None and blank not in vocab_json:
        blank = next(t for t, i in vocab_json.items() if i == model.config.pad_token_id)
    vocab = CTCVocab.from_vocab(vocab_json, blank=blank, delimiter=delimiter)
    inputs = HFAudioInput.for_checkpoint(weights_dir)
    net = CTCNet(model, inputs, vocab, frame_samples_of(model.config, inputs), card.sample_rate, dict(card.params))
    return net.to(device).eval()
