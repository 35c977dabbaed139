"""Batched, padding-aware audio features in torch.

:class:`FbankFrontend` reproduces the log-mel filterbank of transformers'
``SeamlessM4TFeatureExtractor`` (the input of ``Wav2Vec2Bert*`` models) on a
padded ``(batch, samples)`` tensor, so the hot path never round-trips through
numpy per item. Each frame only sees its own samples and the per-utterance
normalisation ignores padded frames, so batched features equal single-item ones.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

__all__ = ["FbankFrontend", "HFAudioInput", "num_frames"]


def num_frames(num_samples: torch.Tensor | int, frame_length: int = 400, hop_length: int = 160) -> torch.Tensor:
    """Frames of an un-centred STFT: ``1 + (n - frame_length) // hop`` (0 if too short)."""
    n = torch.as_tensor(num_samples)
    return torch.where(n >= frame_length, 1 + (n - frame_length) // hop_length, torch.zeros_like(n))


class FbankFrontend(nn.Module):
    """Kaldi-style 80-bin log-mel fbank, normalised per utterance, stacked by ``stride``.

    Input ``(B, T)`` float waveforms in [-1, 1] at 16 kHz plus ``lengths``;
    output ``(B, F, num_mel_bins * stride)`` features and a ``(B, F)`` mask.
    """

    def __init__(self, num_mel_bins: int = 80, stride: int = 2, sample_rate: int = 16000) -> None:
        super().__init__()
        from transformers.audio_utils import mel_filter_bank, window_function

        self.frame_length, self.hop_length, self.n_fft = 400, 160, 512
        self.stride = stride
        window = window_function(self.frame_length, "povey", periodic=False)
        mel = mel_filter_bank(
            num_frequency_bins=self.n_fft // 2 + 1,
            num_mel_filters=num_mel_bins,
            min_frequency=20,
            max_frequency=sample_rate // 2,
            sampling_rate=sample_rate,
            norm=None,
            mel_scale="kaldi",
            triangularize_in_mel_space=True,
        )
        self.register_buffer("window", torch.from_numpy(np.asarray(window, dtype=np.float32)), persistent=False)
        self.register_buffer("mel", torch.from_numpy(np.asarray(mel, dtype=np.float32)), persistent=False)

    def forward(self, waveforms: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = waveforms.float() * 32768.0
        frames = x.unfold(-1, self.frame_length, self.hop_length)  # (B, F, L)
        frames = frames - frames.mean(dim=-1, keepdim=True)  # remove DC offset
        frames = torch.cat([frames[..., :1] * (1 - 0.97), frames[..., 1:] - 0.97 * frames[..., :-1]], dim=-1)
        spec = torch.fft.rfft(frames * self.window, n=self.n_fft).abs().pow(2)
        feats = torch.log(torch.clamp(spec @ self.mel, min=1.192092955078125e-07))  # (B, F, M)
        n_frames = num_frames(lengths.to(feats.device), self.frame_length, self.hop_length)
        mask = torch.arange(feats.shape[1], device=feats.device)[None, :] < n_frames[:, None]
        m = mask.unsqueeze(-1).to(feats.dtype)
        count = m.sum(dim=1, keepdim=True).clamp(min=1)
        mean = (feats * m).sum(dim=1, keepdim=True) / count
        var = ((feats - mean).pow(2) * m).sum(dim=1, keepdim=True) / (count - 1).clamp(min=1)
        feats = (feats - mean) / torch.sqrt(var + 1e-7) * m
        # stack `stride` consecutive frames (padding the end to a multiple of stride)
        pad = (-feats.shape[1]) % self.stride
        if pad:
            feats = torch.nn.functional.pad(feats, (0, 0, 0, pad))
            mask = torch.nn.functional.pad(mask, (0, pad))
        b, f, d = feats.shape
        feats = feats.reshape(b, f // self.stride, d * self.stride)
        mask = mask.reshape(b, f // self.stride, self.stride)[..., -1]  # as SeamlessM4T: drop an incomplete stack
        return feats, mask


class HFAudioInput(nn.Module):
    """Padded waveforms -> the keyword arguments of a transformers audio model.

    ``kind="fbank"`` computes the log-mel input of ``Wav2Vec2Bert*`` models in
    torch (:class:`FbankFrontend`); ``kind="raw"`` feeds waveforms to raw-audio
    models (``Wav2Vec2*``, ``Hubert*``...), normalised per utterance over the
    valid samples when the checkpoint's feature extractor asks for it.
    """

    def __init__(self, kind: str, normalize: bool = False, use_mask: bool = True, stride: int = 2) -> None:
        super().__init__()
        if kind not in ("fbank", "raw"):
            raise ValueError(f"unknown input kind {kind!r}; use 'fbank' or 'raw'")
        self.kind, self.normalize, self.use_mask, self.stride = kind, normalize, use_mask, stride
        self.fbank = FbankFrontend(stride=stride) if kind == "fbank" else None

    @classmethod
    def for_checkpoint(cls, weights_dir: str | Path) -> HFAudioInput:
        """The input a checkpoint expects, read from its ``preprocessor_config.json``."""
        pre = preprocessor_config(weights_dir)
        if pre.get("feature_extractor_type", "") == "SeamlessM4TFeatureExtractor":
            return cls("fbank", stride=int(pre.get("stride", 2)))
        return cls("raw", bool(pre.get("do_normalize", False)), bool(pre.get("return_attention_mask", True)))

    def forward(
        self, waveforms: torch.Tensor, lengths: torch.Tensor, dtype: torch.dtype
    ) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
        """``(kwargs, valid)``: model keyword arguments and a ``(B, T_in)`` mask of valid input steps."""
        if self.fbank is not None:
            feats, mask = self.fbank(waveforms, lengths)
            return {"input_features": feats.to(dtype), "attention_mask": mask.long()}, mask
        mask = torch.arange(waveforms.shape[-1], device=waveforms.device)[None, :] < lengths[:, None]
        x = waveforms.float()
        if self.normalize:
            m = mask.float()
            n = m.sum(-1, keepdim=True).clamp(min=1)
            mean = (x * m).sum(-1, keepdim=True) / n
            var = ((x - mean).pow(2) * m).sum(-1, keepdim=True) / n
            x = (x - mean) / torch.sqrt(var + 1e-7) * m
        kwargs = {"input_values": x.to(dtype)}
        if self.use_mask:
            kwargs["attention_mask"] = mask.long()
        return kwargs, mask


def preprocessor_config(weights_dir: str | Path) -> dict[str, Any]:
    """A checkpoint's ``preprocessor_config.json`` as a dict (empty when absent)."""
    path = Path(weights_dir) / "preprocessor_config.json"
    return json.loads(path.read_text()) if path.exists() else {}
