"""The one place that decodes, resamples, mixes channels or writes audio.

Audio in the zoo is float32 ``(channels, samples)`` and its sample rate travels
with it in :class:`Audio`.

Accepted inputs (:data:`AudioInput`):

- a path (``str`` or ``os.PathLike``) to wav, flac, ogg/opus or mp3 (decoded by
  soundfile); other containers fall back to torchcodec when it is installed;
- ``(array, sample_rate)`` where array is a numpy array or torch tensor,
  1-D ``(samples,)`` or 2-D ``(channels, samples)``;
- a bare array or tensor, taken to be at ``default_rate`` (the model's rate);
- an :class:`Audio`.

Channel policy: multi-channel audio is down-mixed to mono by averaging the
channels (``channels="mean"``, the default); ``channels="first"`` keeps the first
channel, ``channels="keep"`` keeps them all. A 2-D array is read as
``(channels, samples)`` when its first dimension is the smaller one, else as
soundfile's ``(samples, channels)``.

Integer PCM is scaled to [-1, 1): 8-bit (unsigned), 16-bit, 24-bit and 32-bit
WAV all come back as float32; so do uint8, int8, int16 and int32 arrays. Other
integer arrays (int64, uint16...) are refused: no PCM format stores them, and
scaling by their range would turn ordinary values into near-silence. NaN or
infinite samples and empty audio are errors, never silently passed on.

Sample rates are integers from :data:`MIN_RATE` to :data:`MAX_RATE` (1 kHz to
384 kHz); anything else (a ``bool``, a float, 0, 2 MHz) is an :class:`AudioError`.
Resampling between any two rates in that range is exact in ratio and bounded
in memory and time (see :func:`resample`).
"""

from __future__ import annotations

import math
import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Union

import numpy as np
import soundfile as sf
import torch
import torchaudio.functional as AF

from .errors import AudioError

__all__ = [
    "MAX_RATE",
    "MIN_RATE",
    "Audio",
    "AudioInfo",
    "AudioInput",
    "ChannelPolicy",
    "check_rate",
    "describe",
    "info",
    "load",
    "load_segment",
    "peak_db",
    "resample",
    "save",
]

ChannelPolicy = Literal["mean", "first", "keep"]
#: the supported range of sample rates, in Hz
MIN_RATE, MAX_RATE = 1_000, 384_000
#: rate pairs whose reduced ratio p/q has p * q above this skip torchaudio's filter bank (about p * q taps)
MAX_RATIO_PRODUCT = 1_000_000
#: integer array dtypes read as PCM (others are refused)
_PCM_DTYPES = (np.uint8, np.int8, np.int16, np.int32)
AudioInput = Union[str, os.PathLike, np.ndarray, torch.Tensor, tuple, "Audio"]


@dataclass(frozen=True)
class Audio:
    """Decoded audio: float32 ``waveform`` of shape ``(channels, samples)``."""

    waveform: torch.Tensor
    sample_rate: int
    source: str = "<array>"

    @property
    def num_samples(self) -> int:
        return int(self.waveform.shape[-1])

    @property
    def num_channels(self) -> int:
        return int(self.waveform.shape[0])

    @property
    def duration_s(self) -> float:
        return self.num_samples / self.sample_rate

    def mono(self) -> torch.Tensor:
        """The first (after the channel policy, usually only) channel as 1-D."""
        return self.waveform[0]


def describe(x: Any) -> str:
    """A short name for an input, used as ``Result.source``."""
    if isinstance(x, Audio):
        return x.source
    if isinstance(x, (str, os.PathLike)):
        return os.fspath(x)
    if isinstance(x, tuple):
        return "<array>"
    if isinstance(x, torch.Tensor):
        return "<tensor>"
    return "<array>"


def load(
    x: AudioInput,
    sample_rate: int | None = None,
    *,
    default_rate: int | None = None,
    channels: ChannelPolicy = "mean",
) -> Audio:
    """Decode ``x`` into float32 :class:`Audio`, resampled to ``sample_rate``.

    Args:
        x: a path, ``(array, rate)``, a bare array/tensor, or an :class:`Audio`.
        sample_rate: the rate to return; ``None`` keeps the input's rate.
        default_rate: the rate a bare array is assumed to have (defaults to
            ``sample_rate``).
        channels: the channel policy (see the module docstring).

    Raises:
        AudioError: missing file, directory, undecodable or empty audio,
            NaN/Inf samples, or an array of the wrong shape.

    >>> a = load((np.zeros(8000, dtype=np.float32) + 0.1, 8000), 16000)
    >>> a.sample_rate, a.waveform.shape
    (16000, torch.Size([1, 16000]))
    """
    source = describe(x)
    if isinstance(x, Audio):
        wav, rate = x.waveform, x.sample_rate
    elif isinstance(x, (str, os.PathLike)):
        wav, rate = _decode_file(Path(x))
    elif isinstance(x, tuple):
        if len(x) != 2 or not isinstance(x[1], (int, np.integer)) or isinstance(x[1], (bool, np.bool_)):
            got = f"a {type(x[1]).__name__} rate" if len(x) == 2 else f"{len(x)} items"
            raise AudioError(source, f"a tuple input must be (array, sample_rate) with an integer rate, got {got}")
        wav, rate = _as_tensor(x[0], source), int(x[1])
    elif isinstance(x, (np.ndarray, torch.Tensor)):
        rate = default_rate or sample_rate
        if rate is None:
            raise AudioError(source, "a bare array has no sample rate: pass (array, sample_rate)")
        wav = _as_tensor(x, source)
    else:
        raise AudioError(
            source,
            f"unsupported input type {type(x).__name__}: pass a path, (array, rate), a tensor or zoo.audio.Audio",
        )
    check_rate(rate, source)
    wav = _validate(wav, source)
    wav = _apply_channel_policy(wav, channels)
    if sample_rate is not None and rate != sample_rate:
        wav = resample(wav, rate, sample_rate)
        rate = sample_rate
    return Audio(wav.contiguous(), int(rate), source)


def peak_db(x: torch.Tensor, sample_rate: int, frame_s: float = 0.03) -> float:
    """Level of the loudest ``frame_s`` frame of a 1-D signal, in dB relative to full scale.

    A quick speech-presence gate: digital silence is about -200 dB, room tone
    -70 to -50 dB, quiet speech around -35 dB.
    """
    n = max(1, int(frame_s * sample_rate))
    x = x.detach().float().flatten()
    if x.numel() < n:
        x = torch.nn.functional.pad(x, (0, n - x.numel()))
    frames = x[: x.numel() // n * n].reshape(-1, n)
    rms = float(frames.pow(2).mean(-1).max().sqrt())
    return 20.0 * float(np.log10(rms + 1e-10))


def check_rate(rate: Any, source: Any = "<array>") -> int:
    """``rate`` as an int, or :class:`AudioError` when it is not an integer in [MIN_RATE, MAX_RATE].

    >>> check_rate(16000)
    16000
    """
    if isinstance(rate, (bool, np.bool_)) or not isinstance(rate, (int, np.integer)):
        raise AudioError(source, f"the sample rate must be an integer number of Hz, got {rate!r}")
    if not MIN_RATE <= rate <= MAX_RATE:
        raise AudioError(
            source,
            f"sample rate {int(rate)} Hz is outside the supported range {MIN_RATE}-{MAX_RATE} Hz; resample it first",
        )
    return int(rate)


def resample(wav: torch.Tensor, orig_rate: int, new_rate: int) -> torch.Tensor:
    """Band-limited resampling (torchaudio's windowed sinc) in bounded memory for any supported rates.

    Common rate pairs (a reduced ratio ``p / q`` with ``p * q`` at most
    :data:`MAX_RATIO_PRODUCT`, e.g. 44100 -> 16000 is 160/441) use
    ``torchaudio.functional.resample``. Its filter bank grows with ``p * q``
    (a 44101 Hz input would need a 16000 x 44101 bank, over 10 GB), so other
    pairs evaluate the same filter at each output's exact position instead, in
    blocks of bounded size. Either way the output has
    ``ceil(samples * new_rate / orig_rate)`` samples.

    Raises:
        AudioError: a rate outside [MIN_RATE, MAX_RATE].

    >>> resample(torch.zeros(1, 44101), 44101, 16000).shape
    torch.Size([1, 16000])
    """
    check_rate(orig_rate, "resample")
    check_rate(new_rate, "resample")
    if orig_rate == new_rate:
        return wav
    g = math.gcd(int(orig_rate), int(new_rate))
    if (orig_rate // g) * (new_rate // g) <= MAX_RATIO_PRODUCT:
        return AF.resample(wav, orig_rate, new_rate)
    return _resample_at_positions(wav, int(orig_rate), int(new_rate))


def _resample_at_positions(
    wav: torch.Tensor, orig: int, new: int, lowpass_filter_width: int = 6, rolloff: float = 0.99
) -> torch.Tensor:
    """torchaudio's ``sinc_interp_hann`` filter, evaluated per output sample (any ratio, O(block) memory).

    Output ``k`` lies at input position ``k * orig / new``; it sums the input
    samples within ``width`` of that position, weighted by the Hann-windowed
    sinc torchaudio uses, so both paths agree to float precision.
    """
    base = min(orig, new) * rolloff
    width = math.ceil(lowpass_filter_width * orig / base)
    shape = wav.shape
    x = torch.nn.functional.pad(wav.reshape(-1, shape[-1]).float(), (width, width + 2))
    n_out = -(-new * shape[-1] // orig)
    taps = 2 * width + 2
    out = torch.empty(x.shape[0], n_out, dtype=torch.float32)
    block = max(1, (1 << 20) // taps)
    offsets = torch.arange(taps, dtype=torch.long)
    for start in range(0, n_out, block):
        k = torch.arange(start, min(n_out, start + block), dtype=torch.float64)
        pos = k * orig / new
        first = torch.floor(pos).long() - width
        idx = first[:, None] + offsets[None, :]  # (block, taps) input indices
        t = ((idx.double() - pos[:, None]) * (base / orig)).clamp_(-lowpass_filter_width, lowpass_filter_width)
        window = torch.cos(t * math.pi / lowpass_filter_width / 2) ** 2
        t *= math.pi
        kernel = torch.where(t == 0, torch.ones_like(t), torch.sin(t) / t) * window * (base / orig)
        out[:, start : start + k.numel()] = (x[:, idx + width] * kernel.float()).sum(-1)
    return out.reshape(*shape[:-1], n_out)


def save(path: str | os.PathLike, audio: Audio, subtype: str | None = None) -> None:
    """Write ``audio`` with soundfile; the format follows the file extension."""
    data = audio.waveform.detach().cpu().numpy().T
    sf.write(os.fspath(path), data, audio.sample_rate, subtype=subtype)


def _decode_file(path: Path) -> tuple[torch.Tensor, int]:
    src = str(path)
    if not path.exists():
        raise AudioError(src, "no such file; check the path")
    if path.is_dir():
        raise AudioError(src, "is a directory; pass the audio files inside it")
    if path.stat().st_size == 0:
        raise AudioError(src, "the file is empty (0 bytes)")
    try:
        data, rate = sf.read(src, dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError, TypeError) as exc:
        partial = _decode_until_error(path)
        data, rate = partial if partial is not None else _decode_fallback(path, exc)
    return torch.from_numpy(np.ascontiguousarray(data.T)), int(rate)


def _decode_until_error(path: Path, block_s: float = 0.1) -> tuple[np.ndarray, int] | None:
    """Decode block by block up to the first undecodable block (a corrupt or truncated tail).

    Returns ``None`` when the file does not open or not even one block decodes.
    """
    try:
        f = sf.SoundFile(str(path))
    except (sf.LibsndfileError, RuntimeError, TypeError):
        return None
    blocks = []
    with f:
        step = max(1, int(f.samplerate * block_s))
        while True:
            try:
                block = f.read(step, dtype="float32", always_2d=True)
            except (sf.LibsndfileError, RuntimeError):
                break
            if block.shape[0] == 0:
                break
            blocks.append(block)
        rate = f.samplerate
    if not blocks:
        return None
    data = np.concatenate(blocks)
    warnings.warn(
        f"{path}: decoding stopped at {data.shape[0] / rate:.2f} s (corrupt or truncated tail); "
        "using the audio before that point",
        stacklevel=3,
    )
    return data, rate


@dataclass(frozen=True)
class AudioInfo:
    """What a file holds, read from its header without decoding the samples."""

    num_frames: int
    sample_rate: int
    num_channels: int

    @property
    def duration_s(self) -> float:
        return self.num_frames / self.sample_rate


def info(path: str | os.PathLike) -> AudioInfo:
    """Length, rate and channels of an audio file, without decoding it.

    Raises:
        AudioError: missing, empty or unreadable file.
    """
    p = Path(path)
    if not p.is_file():
        raise AudioError(str(p), "no such file; check the path")
    try:
        meta = sf.info(str(p))
    except (sf.LibsndfileError, RuntimeError, TypeError) as exc:
        raise AudioError(str(p), f"not a readable audio file ({exc})") from exc
    return AudioInfo(int(meta.frames), int(meta.samplerate), int(meta.channels))


def load_segment(
    path: str | os.PathLike,
    start_s: float,
    end_s: float,
    sample_rate: int | None = None,
    *,
    channels: ChannelPolicy = "mean",
) -> Audio:
    """Decode only ``[start_s, end_s)`` of a file (seeking), so long files never sit in memory whole.

    A segment that runs into a corrupt or truncated tail comes back shorter
    (possibly with zero samples) with a warning, rather than raising, so a
    long-file reader keeps everything before the damage.

    Raises:
        AudioError: the file does not open, or its sample rate is unsupported.
    """
    src = os.fspath(path)
    try:
        with sf.SoundFile(src) as f:
            rate = check_rate(f.samplerate, src)
            start = max(0, int(round(start_s * rate)))
            stop = min(f.frames, int(round(end_s * rate)))
            data = np.zeros((0, f.channels), dtype=np.float32)
            if stop > start:
                data = _read_span(f, start, stop, src)
    except (sf.LibsndfileError, RuntimeError, TypeError) as exc:
        raise AudioError(src, f"not a readable audio file ({exc})") from exc
    wav = torch.from_numpy(np.ascontiguousarray(data.T))
    if wav.shape[-1] and not torch.isfinite(wav).all():
        raise AudioError(src, "the audio contains NaN or infinite samples; clean or re-encode it")
    wav = _apply_channel_policy(wav, channels)
    if sample_rate is not None and rate != sample_rate and wav.shape[-1]:
        wav = resample(wav, rate, sample_rate)
        rate = sample_rate
    return Audio(wav.contiguous(), int(sample_rate or rate), f"{src}[{start_s:.2f}s:{end_s:.2f}s]")


#: files whose damage was already reported by :func:`load_segment`
_damaged_files: set[str] = set()


def _read_span(f: sf.SoundFile, start: int, stop: int, src: str, block_s: float = 1.0) -> np.ndarray:
    """Frames ``[start, stop)`` of an open file, block by block, up to the first undecodable block."""
    blocks: list[np.ndarray] = []
    pos = start
    step = max(1, int(f.samplerate * block_s))
    try:
        f.seek(start)
        while pos < stop:
            block = f.read(min(step, stop - pos), dtype="float32", always_2d=True)
            if block.shape[0] == 0:
                break
            blocks.append(block)
            pos += block.shape[0]
    except (sf.LibsndfileError, RuntimeError) as exc:  # e.g. "Internal psf_fseek() failed" past a truncation
        if src not in _damaged_files:  # once per file, not once per window of a long file
            if len(_damaged_files) > 1000:
                _damaged_files.clear()
            _damaged_files.add(src)
            warnings.warn(
                f"{src}: could not decode from {pos / f.samplerate:.2f} s ({exc}); the file is corrupt or "
                "truncated there, the audio after that point is treated as missing",
                stacklevel=3,
            )
    if not blocks:
        return np.zeros((0, f.channels), dtype=np.float32)
    return np.concatenate(blocks)


def _decode_fallback(path: Path, first_error: Exception) -> tuple[np.ndarray, int]:
    try:
        from torchcodec.decoders import AudioDecoder  # optional: other containers
    except Exception:
        raise AudioError(
            str(path),
            f"not a readable audio file ({first_error}). Supported: wav, flac, ogg/opus, mp3; "
            "install torchcodec for other containers",
        ) from first_error
    try:
        samples = AudioDecoder(str(path)).get_all_samples()
    except Exception as exc:
        raise AudioError(str(path), f"could not decode: {exc}") from exc
    return samples.data.numpy().T, int(samples.sample_rate)


def _as_tensor(x: Any, source: str) -> torch.Tensor:
    if isinstance(x, np.ndarray):
        if x.dtype == np.uint8:
            x = (x.astype(np.float32) - 128.0) / 128.0
        elif x.dtype in _PCM_DTYPES:
            x = x.astype(np.float32) / float(np.iinfo(x.dtype).max + 1)
        elif np.issubdtype(x.dtype, np.integer):
            raise AudioError(
                source,
                f"array dtype {x.dtype} is not a PCM format; pass float32 in [-1, 1] or int16/int32 PCM "
                "(e.g. x.astype(np.int16) if it holds 16-bit samples)",
            )
        elif not np.issubdtype(x.dtype, np.floating):
            raise AudioError(source, f"array dtype {x.dtype} is not audio; pass float or integer PCM")
        t = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))
    elif isinstance(x, torch.Tensor):
        if not (x.is_floating_point() or x.dtype in (torch.int16, torch.int32, torch.uint8)):
            raise AudioError(source, f"tensor dtype {x.dtype} is not audio")
        t = x.detach().to("cpu")
        if t.dtype == torch.int16:
            t = t.float() / 32768.0
        elif t.dtype == torch.int32:
            t = t.float() / 2147483648.0
        elif t.dtype == torch.uint8:
            t = (t.float() - 128.0) / 128.0
        t = t.float()
    else:
        raise AudioError(source, f"expected a numpy array or torch tensor, got {type(x).__name__}")
    if t.ndim == 1:
        t = t.unsqueeze(0)
    elif t.ndim == 2:
        if t.shape[0] > t.shape[1]:  # soundfile layout (samples, channels)
            t = t.T
    else:
        raise AudioError(source, f"audio must be 1-D or 2-D (channels, samples), got shape {tuple(t.shape)}")
    return t


def _validate(wav: torch.Tensor, source: str) -> torch.Tensor:
    if wav.numel() == 0 or wav.shape[-1] == 0:
        raise AudioError(source, "the audio has no samples (zero length)")
    if not torch.isfinite(wav).all():
        raise AudioError(source, "the audio contains NaN or infinite samples; clean or re-encode it")
    return wav.to(torch.float32)


def _apply_channel_policy(wav: torch.Tensor, channels: ChannelPolicy) -> torch.Tensor:
    if wav.shape[0] == 1 or channels == "keep":
        return wav
    if channels == "mean":
        return wav.mean(dim=0, keepdim=True)
    if channels == "first":
        return wav[:1]
    raise ValueError(f"unknown channel policy {channels!r}; use 'mean', 'first' or 'keep'")
