"""Transformers audio classifiers wrapped to take padded waveforms and lengths."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from zoo.errors import WeightsError
from zoo.features import HFAudioInput

__all__ = ["AudioClassifierNet", "load_hf_audio_classifier"]


class AudioClassifierNet(nn.Module):
    """``(waveforms (B, T), lengths (B,)) -> logits (B, num_labels)`` for any transformers audio classifier."""

    def __init__(self, model: nn.Module, inputs: HFAudioInput) -> None:
        super().__init__()
        self.model = model
        self.inputs = inputs
        id2label = model.config.id2label
        self.labels = tuple(id2label[i] for i in range(len(id2label)))

    def forward(self, waveforms: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        kwargs, _ = self.inputs(waveforms, lengths, next(self.model.parameters()).dtype)
        return self.model(**kwargs).logits


def load_hf_audio_classifier(
    card: Any, weights_dir: Path, device: torch.device, dtype: torch.dtype
) -> AudioClassifierNet:
    """Build an :class:`AudioClassifierNet` from an HF-format directory (safetensors only)."""
    from transformers import AutoModelForAudioClassification

    try:
        model = AutoModelForAudioClassification.from_pretrained(weights_dir, use_safetensors=True, dtype=dtype)
    except (OSError, ValueError) as exc:
        raise WeightsError(str(weights_dir), f"{card.name}: could not load the checkpoint: {exc}") from exc
    net = AudioClassifierNet(model, HFAudioInput.for_checkpoint(weights_dir))
    if card.labels and set(card.labels) != set(net.labels):
        raise WeightsError(
            str(weights_dir),
            f"{card.name}: checkpoint labels {sorted(net.labels)} differ from the card's {sorted(card.labels)}",
        )
    return net.to(device).eval()
