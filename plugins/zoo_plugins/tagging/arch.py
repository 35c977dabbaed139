"""The tagger: a small pooling head on a frozen pretrained audio encoder.

The encoder is another zoo model, named by the card's ``params.backbone``
(``asr-whisper-tiny-en``) and loaded through :func:`zoo.load`: any model whose
net has ``encode(waveforms, lengths, sample_rate) -> [(frames, dim)]`` works.
Only the head (:class:`zoo.heads.PoolHead`) is stored here (``config.json`` +
``model.safetensors``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from zoo.errors import WeightsError
from zoo.heads import PoolHead, load_backbone, load_head, pad_features, stride_average

__all__ = ["PoolHead", "Tagger", "load_head", "load_tagger", "pad_features", "stride_average"]


class Tagger(nn.Module):
    """``(waveforms (B, T), lengths (B,)) -> probabilities (B, labels)``: encoder features, then the head.

    ``activation`` is ``"softmax"`` (one sound per window, scores sum to 1) or
    ``"sigmoid"`` (independent presence probabilities), as the head was trained.
    ``encode_options`` go to the backbone's ``encode`` as keyword arguments
    (for Whisper: ``layers``, ``full_window``), as the head's features were made.
    """

    def __init__(
        self,
        encoder: Any,
        head: PoolHead,
        labels: tuple[str, ...],
        sample_rate: int,
        activation: str = "softmax",
        encode_options: dict[str, Any] | None = None,
    ) -> None:
        super().__init__()
        self.encoder = encoder  # a zoo Model (not an nn.Module child: it is frozen and shared)
        self.head = head
        self.labels = labels
        self.sample_rate = sample_rate
        self.activation = activation
        self.encode_options = dict(encode_options or {})

    def features(self, waveforms: torch.Tensor, lengths: torch.Tensor) -> list[torch.Tensor]:
        return self.encoder.net.encode(waveforms, lengths, self.sample_rate, **self.encode_options)

    def forward(self, waveforms: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        param = next(self.head.parameters())
        x, mask = pad_features([f.to(param.device, param.dtype) for f in self.features(waveforms, lengths)])
        logits = self.head(x, mask.to(param.device)).float()
        return torch.sigmoid(logits) if self.activation == "sigmoid" else torch.softmax(logits, dim=-1)


def load_tagger(card: Any, weights_dir: Path, device: torch.device, dtype: torch.dtype) -> Tagger:
    """Build the tagger: the backbone named by ``card.params["backbone"]`` (via :func:`zoo.load`) and the head."""
    head, config = load_head(weights_dir)
    labels = tuple(config["labels"])
    if card.labels and tuple(card.labels) != labels:
        raise WeightsError(str(weights_dir), f"{card.name}: the head's labels differ from the card's")
    encoder = load_backbone(card, weights_dir, config, device)
    head = head.to(device=device, dtype=dtype)
    net = Tagger(encoder, head, labels, card.sample_rate, config["activation"], config.get("encode_options"))
    return net.eval()
