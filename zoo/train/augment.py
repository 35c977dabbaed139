"""Waveform augmentations shared by the training recipes."""

from __future__ import annotations

import random

import torch

__all__ = ["reverb"]


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
