"""Transformers audio classifiers wrapped to take padded waveforms and lengths."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from torch import nn

from zoo.errors import WeightsError
from zoo.features import FbankFrontend

__all__ = ["AudioClassifierNet", "load_hf_audio_classifier"]


class AudioClassifierNet(nn.Module):
    """``(waveforms (B, T), lengths (B,)) -> logits (B, num_labels)``.

    ``frontend="fbank"`` computes the log-mel input of ``Wav2Vec2Bert*`` models
    in torch; ``frontend="raw"`` feeds waveforms to raw-audio models
    (``Wav2Vec2*``), normalised per utterance over the valid samples when the
    checkpoint's feature extractor asks for it.
    """

    def __init__(self, model: nn.Module, frontend: str, normalize: bool = False, use_mask: bool = True) -> None:
        super().__init__()
        self.model = model
        self.frontend = frontend
        self.normalize = normalize
        self.use_mask = use_mask
        self.fbank = FbankFrontend() if frontend == "fbank" else None
        id2label = model.config.id2label
        self.labels = tuple(id2label[i] for i in range(len(id2label)))

    def forward(self, waveforms: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        dtype = next(self.model.parameters()).dtype
        if self.fbank is not None:
            feats, mask = self.fbank(waveforms, lengths)
            return self.model(input_features=feats.to(dtype), attention_mask=mask.long()).logits
        mask = torch.arange(waveforms.shape[-1], device=waveforms.device)[None, :] < lengths[:, None]
        x = waveforms.float()
        if self.normalize:
            m = mask.float()
            n = m.sum(-1, keepdim=True).clamp(min=1)
            mean = (x * m).sum(-1, keepdim=True) / n
            var = ((x - mean).pow(2) * m).sum(-1, keepdim=True) / n
            x = (x - mean) / torch.sqrt(var + 1e-7) * m
        kwargs = {"attention_mask": mask.long()} if self.use_mask else {}
        return self.model(input_values=x.to(dtype), **kwargs).logits


def load_hf_audio_classifier(
    card: Any, weights_dir: Path, device: torch.device, dtype: torch.dtype
) -> AudioClassifierNet:
    """Build an :class:`AudioClassifierNet` from an HF-format directory (safetensors only)."""
    from transformers import AutoModelForAudioClassification

    pre = _preprocessor_config(weights_dir)
    extractor = pre.get("feature_extractor_type", "")
    try:
        model = AutoModelForAudioClassification.from_pretrained(weights_dir, use_safetensors=True, dtype=dtype)
    except (OSError, ValueError) as exc:
        raise WeightsError(str(weights_dir), f"{card.name}: could not load the checkpoint: {exc}") from exc
    if extractor == "SeamlessM4TFeatureExtractor":
        net = AudioClassifierNet(model, "fbank")
    else:
        net = AudioClassifierNet(
            model,
            "raw",
            normalize=bool(pre.get("do_normalize", False)),
            use_mask=bool(pre.get("return_attention_mask", True)),
        )
    if card.labels and set(card.labels) != set(net.labels):
        raise WeightsError(
            str(weights_dir),
            f"{card.name}: checkpoint labels {sorted(net.labels)} differ from the card's {sorted(card.labels)}",
        )
    return net.to(device).eval()


def _preprocessor_config(weights_dir: Path) -> dict[str, Any]:
    path = Path(weights_dir) / "preprocessor_config.json"
    return json.loads(path.read_text()) if path.exists() else {}
