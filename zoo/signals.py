"""Deterministic test signals: what the conformance kit and the audio tasks' ``example_inputs`` feed a model."""

from __future__ import annotations

import numpy as np

__all__ = ["speech_like", "standard_signals"]


def standard_signals(sample_rate: int, seed: int = 0) -> dict[str, np.ndarray]:
    """Short float32 mono test signals at ``sample_rate``, of different lengths.

    ``silence`` (0.5 s), ``white-noise`` (1 s), ``tone-440hz`` (0.75 s), ``tones``
    (a 300/1200/2500 Hz chord, 1.25 s) and ``speech-like`` (1.5 s, see
    :func:`speech_like`). The lengths differ so that batching pads.

    >>> sorted(standard_signals(8000))
    ['silence', 'speech-like', 'tone-440hz', 'tones', 'white-noise']
    """
    rng = np.random.default_rng(seed)

    def t(duration_s: float) -> np.ndarray:
        return np.arange(int(duration_s * sample_rate)) / sample_rate

    chord = sum(np.sin(2 * np.pi * f * t(1.25)) for f in (300.0, 1200.0, 2500.0)) / 3
    signals = {
        "silence": np.zeros(int(0.5 * sample_rate)),
        "white-noise": 0.1 * rng.standard_normal(int(1.0 * sample_rate)),
        "tone-440hz": 0.3 * np.sin(2 * np.pi * 440.0 * t(0.75)),
        "tones": 0.3 * chord,
        "speech-like": speech_like(sample_rate, 1.5),
    }
    return {k: np.asarray(v, dtype=np.float32) for k, v in signals.items()}


# Formant centre frequencies (Hz) of five vowels, roughly /a/, /i/, /u/, /e/, /o/.
_VOWELS = ((730, 1090, 2440), (270, 2290, 3010), (300, 870, 2240), (530, 1840, 2480), (570, 840, 2410))
_BANDWIDTHS = (90.0, 110.0, 160.0)


def speech_like(sample_rate: int, duration_s: float = 1.5, syllables_per_s: float = 4.0) -> np.ndarray:
    """A deterministic speech-like signal: a gliding harmonic series shaped by formants, syllable-modulated.

    The source is a harmonic series on a pitch that glides around 120 Hz; each
    harmonic is weighted by three formant-like band-pass resonances of a vowel
    that changes every syllable, and the sum is amplitude-modulated at the
    syllable rate, with every fourth syllable silent like a pause between words.

    >>> x = speech_like(16000, 1.0)
    >>> x.shape, x.dtype, float(abs(x).max()) <= 0.5
    ((16000,), dtype('float32'), True)
    """
    n = int(duration_s * sample_rate)
    t = np.arange(n) / sample_rate
    f0 = 120.0 * (1 + 0.12 * np.sin(2 * np.pi * 0.7 * t)) + 8.0 * np.sin(2 * np.pi * 5.0 * t)
    phase = 2 * np.pi * np.cumsum(f0) / sample_rate
    syllable = np.floor(t * syllables_per_s).astype(int)
    formants = np.asarray(_VOWELS, dtype=np.float64)[syllable % len(_VOWELS)]  # (n, 3)
    k = np.arange(1, max(2, int((sample_rate / 2 - 300) / f0.max())) + 1)[:, None]  # (K, 1)
    freq = k * f0[None, :]  # (K, n)
    gain = np.zeros_like(freq)
    for j, bandwidth in enumerate(_BANDWIDTHS):
        gain += 1.0 / (1.0 + ((freq - formants[None, :, j]) / bandwidth) ** 2)
    gain /= np.sqrt(k)  # spectral tilt of a glottal source
    voiced = (gain * np.sin(k * phase[None, :])).sum(axis=0)
    envelope = np.sin(np.pi * (t * syllables_per_s % 1.0)) ** 2
    envelope[syllable % 4 == 3] = 0.0
    x = voiced * envelope
    peak = float(np.abs(x).max()) or 1.0
    return (0.5 * x / peak).astype(np.float32)
