"""Batched, padding-aware audio features in torch.

:class:`FbankFrontend` reproduces the log-mel filterbank of transformers'
``SeamlessM4TFeatureExtractor`` (the input of ``Wav2Vec2Bert*`` models) on a
padded ``(batch, samples)`` tensor, so the hot path never round-trips through
numpy per item. Each frame only sees its own samples and the per-utterance
normalisation ignores padded frames, so batched features equal single-item ones.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

__all__ = ["FbankFrontend", "num_frames"]


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
