"""Waveform augmentations shared by the training recipes."""

from __future__ import annotations

import random

import torch

__all__ = ["reverb", "speed_perturb"]


def reverb(x: torch.Tensor, sample_rate: int, rng: random.Random, g: torch.Generator) -> torch.Tensor:
    """Convolve a 1-D signal with a random exponentially decaying room response (RT60 0.1-0.6 s).

    The output keeps the input's length and peak level.
    """
    rt60 = rng.uniform(0.1, 0.6)
    n = int(0.3 * sample_rate)
    t = torch.arange(n) / sample_rate
    ir = torch.randn(n, generator=g) * torch.exp(-6.9 * t / rt60)
    ir[0] = 1.0
    ir = ir / ir.norm()
    size = 1 << (x.numel() + n - 1).bit_length()  # linear (not circular) convolution; a power of two is fast
    y = torch.fft.irfft(torch.fft.rfft(x, size) * torch.fft.rfft(ir, size), size)[: x.numel()]
    return y * (x.abs().max() / (y.abs().max() + 1e-8))


_RESAMPLERS: dict[tuple[int, int], torch.nn.Module] = {}


def speed_perturb(x: torch.Tensor, rng: random.Random, max_change: float = 0.15, step_hz: int = 400) -> torch.Tensor:
    """Play a 1-D signal faster or slower by up to ``max_change`` (tempo, pitch and formants move together).

    The classic speed perturbation of speech recipes: resampling by a factor
    ``f`` and reading the result at the old rate turns one speaker into a
    slightly different-sounding one. Factors are quantised so that the
    resampling kernels stay small and are built once per factor.
    """
    if max_change <= 0:
        return x
    base = 16000  # only a grid for the ratio new/base (steps of 2.5 %); any sample rate works
    factor = rng.uniform(1 - max_change, 1 + max_change)
    new = max(step_hz, round(base / factor / step_hz) * step_hz)
    if new == base:
        return x
    key = (base, new)
    if key not in _RESAMPLERS:
        from torchaudio.transforms import Resample

        _RESAMPLERS[key] = Resample(base, new)
    with torch.no_grad():
        return _RESAMPLERS[key](x.unsqueeze(0)).squeeze(0)
