"""Audio I/O: formats, rates, channels, and clear errors for bad input."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf
import torch

from zoo import AudioError
from zoo.audio import Audio, load, save


@pytest.mark.parametrize(
    "subtype",
    ["PCM_U8", "PCM_16", "PCM_24", "PCM_32", "FLOAT", "DOUBLE"],
    ids=["8bit", "16bit", "24bit", "32bit", "float", "double"],
)
def test_wav_subtypes_decode_to_float32(tmp_path, tone, subtype):
    """Every WAV sample format comes back as float32 in [-1, 1] close to the original."""
    path = tmp_path / f"x_{subtype}.wav"
    sf.write(path, tone, 16000, subtype=subtype)
    a = load(path, 16000)
    assert a.waveform.dtype == torch.float32
    assert a.waveform.shape == (1, 16000)
    tol = 2e-2 if subtype == "PCM_U8" else 1e-3
    assert np.abs(a.mono().numpy() - tone).max() < tol


@pytest.mark.parametrize("fmt", ["flac", "ogg", "mp3"])
def test_compressed_formats(tmp_path, tone, fmt):
    """flac, ogg/vorbis and mp3 decode through soundfile."""
    path = tmp_path / f"x.{fmt}"
    sf.write(path, tone, 16000)
    a = load(path, 16000)
    assert a.sample_rate == 16000
    assert abs(a.num_samples - 16000) < 2000  # mp3 adds encoder padding
    assert float(a.mono().abs().max()) > 0.1


@pytest.mark.parametrize("rate", [8000, 22050, 44100, 48000])
def test_resampling_to_model_rate(tmp_path, rate):
    """8 kHz and 48 kHz inputs are resampled; a tone keeps its frequency."""
    t = np.arange(rate) / rate
    path = tmp_path / "x.wav"
    sf.write(path, 0.5 * np.sin(2 * np.pi * 440 * t), rate)
    a = load(path, 16000)
    assert a.sample_rate == 16000 and abs(a.num_samples - 16000) <= 1
    spectrum = np.abs(np.fft.rfft(a.mono().numpy()))
    assert abs(int(spectrum.argmax()) - 440) <= 2


def test_six_channels_downmix_by_mean(tmp_path, tone):
    """Multi-channel audio is averaged to mono (the documented default policy)."""
    data = np.stack([tone * (i + 1) / 6 for i in range(6)], axis=1)
    path = tmp_path / "six.wav"
    sf.write(path, data, 16000, subtype="FLOAT")
    a = load(path, 16000)
    assert a.num_channels == 1
    np.testing.assert_allclose(a.mono().numpy(), data.mean(axis=1), atol=1e-6)
    assert load(path, 16000, channels="keep").num_channels == 6
    np.testing.assert_allclose(load(path, 16000, channels="first").mono().numpy(), data[:, 0], atol=1e-6)


def test_arrays_tensors_and_tuples(tone):
    """Arrays with a rate, bare tensors at the default rate, and int16 PCM are accepted."""
    assert load((tone, 16000)).num_samples == 16000
    assert load(torch.from_numpy(tone), default_rate=16000).num_samples == 16000
    pcm = (tone * 32767).astype(np.int16)
    np.testing.assert_allclose(load((pcm, 16000)).mono().numpy(), tone, atol=1e-4)
    assert load((tone, 8000), 16000).num_samples == 32000


@pytest.mark.parametrize(
    "make, reason",
    [
        pytest.param(lambda p: p / "missing.wav", "no such file", id="missing"),
        pytest.param(lambda p: p, "directory", id="directory"),
        pytest.param(lambda p: _write(p / "empty.wav", b""), "empty", id="empty-file"),
        pytest.param(
            lambda p: _write(p / "text.wav", b"this is not audio at all" * 10), "not a readable audio", id="non-audio"
        ),
        pytest.param(lambda p: _zero_length(p / "zero.wav"), "no samples", id="zero-length"),
    ],
)
def test_bad_files_raise_clear_errors(tmp_path, make, reason):
    """Each bad file raises AudioError carrying the path and a reason that says what is wrong."""
    path = make(tmp_path)
    with pytest.raises(AudioError) as err:
        load(path, 16000)
    assert reason in err.value.reason
    assert str(path) in str(err.value)


def test_truncated_wav_decodes_what_is_there(tmp_path, tone):
    """A WAV cut mid-stream returns the samples that survive (documented), not an exception."""
    path = tmp_path / "cut.wav"
    sf.write(path, tone, 16000, subtype="PCM_16")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    a = load(path, 16000)
    assert 7000 < a.num_samples <= 8000


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf], ids=["nan", "inf", "-inf"])
def test_non_finite_samples_are_rejected(tone, bad):
    """NaN or infinite samples raise instead of poisoning a batch."""
    x = tone.copy()
    x[100] = bad
    with pytest.raises(AudioError, match="NaN or infinite"):
        load((x, 16000))


def test_bare_array_without_rate_is_an_error(tone):
    """A bare array needs a rate from somewhere."""
    with pytest.raises(AudioError, match="no sample rate"):
        load(tone)


def test_save_roundtrip(tmp_path, tone):
    """save() then load() returns the same audio."""
    path = tmp_path / "rt.flac"
    save(path, Audio(torch.from_numpy(tone)[None], 16000))
    np.testing.assert_allclose(load(path).mono().numpy(), tone, atol=1e-4)


def _write(path, data: bytes):
    path.write_bytes(data)
    return path


def _zero_length(path):
    sf.write(path, np.zeros(0, dtype=np.float32), 16000)
    return path
