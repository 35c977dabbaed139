"""A corpus of hostile-but-realistic audio inputs, generated on the fly (nothing is committed).

Every task that reads audio must survive all of them: each input gives a
:class:`zoo.Result` in its place, never an exception out of the call and never
``None``; inputs marked ``"error"`` must come back as an :class:`zoo.ErrorResult`
(with a reason), inputs marked ``"ok"`` as a real result. ``"any"`` inputs (a
1-sample clip, say) may do either, as long as it is one of the two. The
conformance kit (:mod:`zoo.testing`) and ``tests/test_hostile.py`` run it.

>>> import tempfile
>>> with tempfile.TemporaryDirectory() as d:
...     names = [c.name for c in hostile_cases(16000, d)]
>>> "odd-rate-44101" in names and "int64-array" in names
True
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import soundfile as sf

__all__ = ["ODD_RATES", "HostileCase", "hostile_cases"]

Expect = Literal["ok", "error", "any"]

#: sample rates whose exact ratio to 16 kHz has huge terms (the old resampler needed GBs for them)
ODD_RATES = (200_003, 44_101, 8_001)


@dataclass(frozen=True)
class HostileCase:
    """One hostile input: ``name`` (a test id), ``input`` (what to pass the model), ``expect`` and why."""

    name: str
    input: Any
    expect: Expect
    why: str = ""


def _tone(rate: int, seconds: float, amplitude: float = 0.3) -> np.ndarray:
    t = np.arange(int(rate * seconds), dtype=np.float64) / rate
    return (amplitude * np.sin(2 * np.pi * 440.0 * t)).astype(np.float32)


def hostile_cases(sample_rate: int, directory: str | os.PathLike) -> Iterator[HostileCase]:
    """Yield the corpus for a model at ``sample_rate``; bad files are written into ``directory``.

    Args:
        sample_rate: the model's rate (arrays that should work are made at it).
        directory: an empty, writable folder (e.g. pytest's ``tmp_path``).
    """
    d = Path(directory)
    r = sample_rate
    clip = _tone(r, 1.0)

    # -- files ---------------------------------------------------------
    yield HostileCase("missing-file", str(d / "missing.wav"), "error", "no such file")
    yield HostileCase("directory", str(d), "error", "a folder, not a file")
    (d / "empty.wav").write_bytes(b"")
    yield HostileCase("empty-file", str(d / "empty.wav"), "error", "0 bytes")
    (d / "notes.wav").write_text("this is not audio\n" * 20)
    yield HostileCase("text-as-wav", str(d / "notes.wav"), "error", "text renamed .wav")
    sf.write(d / "zero-frames.wav", np.zeros(0, np.float32), r)
    yield HostileCase("zero-frames-wav", str(d / "zero-frames.wav"), "error", "a valid header, no samples")
    sf.write(d / "good.wav", clip, r, subtype="PCM_16")
    data = (d / "good.wav").read_bytes()
    (d / "header-only.wav").write_bytes(data[:44])
    yield HostileCase("header-only-wav", str(d / "header-only.wav"), "error", "truncated right after the header")
    (d / "half.wav").write_bytes(data[: len(data) // 2])
    yield HostileCase("truncated-wav", str(d / "half.wav"), "ok", "half the samples are there")
    sf.write(d / "long.flac", np.tile(clip, 4), r, format="FLAC")
    flac = (d / "long.flac").read_bytes()
    (d / "truncated.flac").write_bytes(flac[: len(flac) * 2 // 3])
    yield HostileCase("truncated-flac", str(d / "truncated.flac"), "ok", "decodes up to the damage")
    sf.write(d / "odd-rate.wav", _tone(200_003, 0.25), 200_003, subtype="PCM_16")
    yield HostileCase("odd-rate-file-200003", str(d / "odd-rate.wav"), "ok", "resampled in bounded memory")
    sf.write(d / "stereo.wav", np.stack([clip, -clip], axis=1), r, subtype="FLOAT")
    yield HostileCase("stereo-file", str(d / "stereo.wav"), "ok", "down-mixed")
    sf.write(d / "nan.wav", np.full(r // 2, np.nan, np.float32), r, subtype="FLOAT")
    yield HostileCase("nan-file", str(d / "nan.wav"), "error", "NaN samples in a float WAV")

    # -- arrays --------------------------------------------------------
    yield HostileCase("empty-array", (np.zeros(0, np.float32), r), "error", "no samples")
    yield HostileCase("nan-array", (np.full(r, np.nan, np.float32), r), "error", "NaN samples")
    yield HostileCase("inf-array", (np.full(r, np.inf, np.float32), r), "error", "infinite samples")
    yield HostileCase("3d-array", (np.zeros((1, 1, r), np.float32), r), "error", "not (channels, samples)")
    yield HostileCase("int64-array", ((clip * 32767).astype(np.int64), r), "error", "no PCM format is int64")
    yield HostileCase("bool-array", (np.ones(r, bool), r), "error", "booleans are not audio")
    yield HostileCase("complex-array", (clip.astype(np.complex64), r), "error", "complex is not audio")
    yield HostileCase("object-array", (np.array(["a", "b"], dtype=object), r), "error", "not numbers")
    yield HostileCase("int16-array", ((clip * 32767).astype(np.int16), r), "ok", "16-bit PCM")
    yield HostileCase("uint8-array", ((clip * 127 + 128).astype(np.uint8), r), "ok", "8-bit unsigned PCM")
    yield HostileCase("float64-array", (clip.astype(np.float64), r), "ok", "double precision")
    yield HostileCase("loud-array", (clip * 1e6, r), "ok", "far beyond full scale, still finite")
    yield HostileCase("digital-silence", (np.zeros(r, np.float32), r), "ok", "all zeros")
    yield HostileCase("one-sample", (np.full(1, 0.5, np.float32), r), "any", "1 sample: a result or a clear error")
    yield HostileCase("long-channels-first", (np.stack([clip] * 8), r), "ok", "8 channels")

    # -- rates ---------------------------------------------------------
    yield HostileCase("bool-rate", (clip, True), "error", "True is not a sample rate")
    yield HostileCase("float-rate", (clip, 16000.0), "error", "the rate must be an integer")
    yield HostileCase("zero-rate", (clip, 0), "error", "not positive")
    yield HostileCase("negative-rate", (clip, -16000), "error", "not positive")
    yield HostileCase("huge-rate", (clip, 10_000_000), "error", "outside the supported range")
    yield HostileCase("tiny-rate", (clip, 1), "error", "outside the supported range")
    for odd in ODD_RATES:
        yield HostileCase(f"odd-rate-{odd}", (_tone(odd, 0.25), odd), "ok", "resampled in bounded memory")

    # -- not audio at all ----------------------------------------------
    yield HostileCase("none", None, "error", "None")
    yield HostileCase("dict", {"path": "x.wav"}, "error", "an unsupported type")
    yield HostileCase("wrong-tuple", (clip, r, "extra"), "error", "a 3-tuple")
