"""Keyword spotting: the bundled model on real speech, bad inputs, the recipe."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace

import numpy as np
import pytest
import soundfile as sf
from zoo_plugins.kws.data import TRAIN_SHARE, speech_commands
from zoo_plugins.kws.task import LABELS, window_starts

import zoo
from zoo.splits import speaker_split

from .conftest import REPO, data_dir

EXAMPLES = sorted((REPO / "plugins" / "zoo_plugins" / "kws" / "examples").glob("*.wav"))


@pytest.fixture(scope="module")
def kws():
    return zoo.load("kws-wav2vec2", device="cpu")


def test_labels_are_the_speech_commands_set(kws):
    assert kws.net.labels == LABELS
    assert tuple(kws.card.labels) == LABELS
    assert sum(p.numel() for p in kws.net.parameters()) <= 5_000_000


def test_load_by_task_name():
    """The task name loads the model the registry marks as the task's default."""
    default = [n for n in zoo.list_models(task="keyword-spotting") if zoo.info(n).default]
    assert len(default) == 1
    assert zoo.load("keyword-spotting", device="cpu").name == default[0]


TRAINED = [n for n in zoo.list_models(task="keyword-spotting") if "speech-commands-dev-heldout" in zoo.info(n).metrics]


@pytest.mark.parametrize("name", TRAINED)
def test_card_metric_matches_zoo_load(name):
    """The held-out accuracy on each card is what zoo.load measures on the same clips."""
    dev = speech_commands(data_dir("speech-commands-dev"))
    _, heldout = speaker_split(dev, 1 - TRAIN_SHARE, balance="clips")
    model = zoo.load(name, device="cpu")
    metric = model.card.metrics["speech-commands-dev-heldout"]
    assert metric["split"] == f"speaker_split(speech-commands-dev, {TRAIN_SHARE:g})[1]"
    assert metric["clips"] == len(heldout)
    results = model([e.path for e in heldout], progress=False)
    assert len(results) == len(heldout) and all(r.ok for r in results)
    accuracy = float(np.mean([r.label == e.label for r, e in zip(results, heldout)]))
    assert abs(accuracy - metric["accuracy"]) < 0.005


def test_a_thousand_real_clips_in_order(kws):
    """All 1,035 real dev clips: one result per clip, in input order, each with .label and .score."""
    paths = [e.path for e in speech_commands(data_dir("speech-commands-dev"))]
    assert len(paths) >= 1000
    results = kws(paths, progress=False)
    assert [r.source for r in results] == paths
    assert all(r.ok and r.label in LABELS and 0 <= r.score <= 1 for r in results)


def test_example_clips(kws):
    """The bundled synthetic examples are recognised (they are easy: TTS, no noise)."""
    results = kws([str(p) for p in EXAMPLES])
    hits = sum(r.label == p.stem.split("_")[0] for r, p in zip(results, EXAMPLES))
    assert hits >= len(EXAMPLES) - 1


def test_long_clip_finds_the_keyword_window(kws, tmp_path):
    """A keyword inside 4 s of quiet audio is found, with the window it came from."""
    clip, rate = sf.read(EXAMPLES[0], dtype="float32")
    long = np.zeros(rate * 4, dtype=np.float32)
    long[int(2.2 * rate) : int(2.2 * rate) + len(clip)] = clip
    r = kws((long, rate))
    assert r.label == EXAMPLES[0].stem.split("_")[0]
    assert 1.0 <= r.start_s <= 2.7 and r.end_s - r.start_s == pytest.approx(1.0)


@pytest.mark.parametrize("subtype", ["PCM_U8", "PCM_24", "FLOAT"])
def test_wav_formats_through_the_model(kws, tmp_path, subtype):
    clip, rate = sf.read(EXAMPLES[0], dtype="float32")
    path = tmp_path / "x.wav"
    sf.write(path, clip, rate, subtype=subtype)
    assert kws(str(path)).label == kws(str(EXAMPLES[0])).label


@pytest.mark.parametrize("rate", [8000, 48000])
def test_other_rates_and_six_channels(kws, tmp_path, rate):
    import torch

    from zoo.audio import resample

    clip, sr = sf.read(EXAMPLES[0], dtype="float32")
    x = resample(torch.from_numpy(clip)[None], sr, rate)[0].numpy()
    path = tmp_path / "six.wav"
    sf.write(path, np.stack([x] * 6, axis=1), rate, subtype="FLOAT")
    r = kws(str(path))
    # the file is read, mixed down and resampled exactly as the same mono signal handed over at 16 kHz
    same = kws((resample(torch.from_numpy(x)[None], rate, 16000)[0].numpy(), 16000))
    assert r.ok and r.label == same.label
    assert max(abs(r.scores[k] - same.scores[k]) for k in LABELS) < 1e-4
    if rate > sr:  # upsampling keeps the whole band, so the prediction is the original clip's
        assert r.label == kws(str(EXAMPLES[0])).label


def test_bad_inputs_in_one_batch(kws, tmp_path):
    """Every kind of bad input gets its own error record; good inputs still get results."""
    (tmp_path / "empty.wav").write_bytes(b"")
    (tmp_path / "notes.txt").write_text("not audio")
    sf.write(tmp_path / "zero.wav", np.zeros(0, dtype=np.float32), 16000)
    good = str(EXAMPLES[0])
    inputs = [
        good,
        str(tmp_path / "missing.wav"),
        str(tmp_path),
        str(tmp_path / "empty.wav"),
        str(tmp_path / "notes.txt"),
        str(tmp_path / "zero.wav"),
        (np.full(16000, np.nan, np.float32), 16000),
        good,
    ]
    results = kws(inputs)
    assert [r.ok for r in results] == [True, False, False, False, False, False, False, True]
    assert all(r.source for r in results)
    assert results[0].label == results[-1].label


def test_very_short_clip_is_padded(kws):
    r = kws((np.zeros(800, dtype=np.float32), 16000))
    assert r.ok and r.label in LABELS


def test_window_starts():
    assert window_starts(100, 100, 50) == [0]
    assert window_starts(260, 100, 50) == [0, 50, 100, 150, 160]
    for n in range(1, 1000, 37):
        starts = window_starts(n, 100, 50)
        assert starts[0] == 0 and (n <= 100 or starts[-1] + 100 == n)


@pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng is not installed (apt-get install espeak-ng)")
def test_recipe_smoke(tmp_path):
    """`zoo train kws-wav2vec2 --tiny` runs end to end and writes a loadable checkpoint."""
    data_dir("speech-commands-noise")
    from zoo.cli import main

    out = tmp_path / "ckpt"
    argv = ["train", "kws-wav2vec2", "--tiny", "--out", str(out), "--no-registry", "--speed-prob", "1.0"]
    assert main(argv) == 0
    assert (out / "model.safetensors").exists() and (out / "training_summary.json").exists()
    summary = json.loads((out / "training_summary.json").read_text())
    assert summary["config"]["speed_prob"] == 1.0
    # continuing from that checkpoint keeps both runs in one record, as the ASR recipe does
    again = tmp_path / "again"
    assert main(["train", "kws-wav2vec2", "--tiny", "--init-from", str(out), "--out", str(again), "--no-registry"]) == 0
    merged = json.loads((again / "training_summary.json").read_text())
    assert [s["steps_done"] for s in merged["stages"]] == [summary["steps_done"]] * 2
    assert merged["steps_done"] == 2 * summary["steps_done"] and "; then " in merged["recipe"]


def test_embedding_recipe_smoke(tmp_path):
    """`zoo train kws-speech-embedding --tiny` trains a head that loads and scores the held-out clips."""
    data_dir("speech-commands-noise")
    from zoo.cli import main

    out = tmp_path / "head"
    assert main(["train", "kws-speech-embedding", "--tiny", "--out", str(out), "--no-registry"]) == 0
    summary = json.loads((out / "training_summary.json").read_text())
    assert summary["heldout_clips"] > 0 and 0.0 <= summary["heldout"]["accuracy"] <= 1.0
    assert set(summary["heldout"]["per_class"]) <= set(LABELS)


def test_whisper_head_recipe_smoke(tmp_path):
    """`zoo train kws-whisper-tiny --tiny`: a head on the wheel's Whisper encoder that loads, runs and scores."""
    data_dir("speech-commands-noise")
    from zoo.cli import main

    out = tmp_path / "head"
    assert main(["train", "kws-whisper-tiny", "--tiny", "--out", str(out), "--no-registry"]) == 0
    summary = json.loads((out / "training_summary.json").read_text())
    assert summary["heldout_clips"] > 0 and 0.0 <= summary["heldout"]["accuracy"] <= 1.0
    config = json.loads((out / "config.json").read_text())
    # stored features were averaged 4 frames at a time; the saved head averages the 50 Hz frames the same way
    assert config["stride"] == 4 and config["encode_options"] == {"layers": [0, 1, 2, 3, 4], "full_window": False}
    card = zoo.info("kws-whisper-tiny")
    m = zoo.from_card(replace(card, weights={"path": str(out)}), device="cpu")
    rng = np.random.default_rng(0)
    results = m([(0.1 * rng.standard_normal(16000).astype("float32"), 16000), "missing.wav"])
    assert results[0].ok and results[0].label in LABELS and not results[1].ok


@pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng is not installed (apt-get install espeak-ng)")
def test_recipe_encoder_from_a_ctc_checkpoint(tmp_path, capsys):
    """`--encoder-from` takes a CTC model's encoder and frame stride; the result loads and classifies."""
    import json

    import torch
    from safetensors.torch import load_file
    from zoo_plugins.asr.training.recipe import RecipeConfig as AsrConfig
    from zoo_plugins.asr.training.recipe import build_model, save_tokenizer

    data_dir("speech-commands-noise")
    from zoo.cli import main

    torch.manual_seed(0)
    asr = tmp_path / "asr"
    build_model(AsrConfig.tiny(), stride=4).save_pretrained(asr, safe_serialization=True)
    save_tokenizer(asr, stride=4)
    out = tmp_path / "kws"
    argv = ["train", "kws-wav2vec2", "--tiny", "--encoder-from", str(asr), "--steps", "2", "--out", str(out)]
    assert main([*argv, "--no-registry", "--eval-every", "1"]) == 0
    assert "step 2: held-out accuracy" in capsys.readouterr().out
    assert json.loads((out / "preprocessor_config.json").read_text())["stride"] == 4
    ctc, kws = load_file(asr / "model.safetensors"), load_file(out / "model.safetensors")
    encoder = [k for k in ctc if k.startswith("wav2vec2_bert.")]
    assert encoder and all(kws[k].shape == ctc[k].shape for k in encoder)
    assert "lm_head.weight" not in kws and kws["classifier.weight"].shape[0] == len(LABELS)
    card = zoo.ModelCard(
        name="kws-from-ctc",
        task="keyword-spotting",
        architecture="hf-audio-classifier",
        weights={"path": str(out)},
        sample_rate=16000,
        license="-",
        provenance={"recipe": "test"},
        labels=tuple(LABELS),
    )
    result = zoo.from_card(card, device="cpu")(np.zeros(16000, dtype=np.float32))
    assert result.ok and result.label in LABELS


def test_mining_loads_the_default_encoder_it_aligns_with():
    """Word mining aligns with the recipe's default encoder, a phone model that greedy decoding cannot build."""
    import torch
    from zoo_plugins.kws.training.config import ASR_ENCODER, checkpoint_dir
    from zoo_plugins.kws.training.mining import _load_model

    net = _load_model(checkpoint_dir(ASR_ENCODER)).net
    assert net.vocab.units == "phones"
    lp = net.log_probs(torch.zeros(1, 16000), torch.tensor([16000]))[0]
    assert lp.shape[-1] == len(net.vocab.tokens)


def test_speed_perturb_changes_tempo_and_pitch():
    import random

    import torch

    from zoo.train.augment import speed_perturb

    t = torch.arange(16000) / 16000
    tone = torch.sin(2 * torch.pi * 440 * t)
    rng = random.Random(3)
    lengths = set()
    for _ in range(20):
        y = speed_perturb(tone, rng, max_change=0.15)
        factor = tone.numel() / y.numel()
        assert 0.84 < factor < 1.16
        lengths.add(y.numel())
        if y.numel() != tone.numel():  # the tone's pitch moves with the tempo
            peak_hz = float(torch.fft.rfft(y).abs().argmax()) * 16000 / y.numel()
            assert abs(peak_hz - 440 * factor) < 8
    assert len(lengths) > 3
    assert speed_perturb(tone, rng, max_change=0.0) is tone


def test_band_limit_removes_the_upper_band_and_draws_nothing_when_off():
    """`--band-limit-prob 1` cuts every clip to the 8 kHz telephone band; 0 leaves clips and random draws alone."""
    import random
    from types import SimpleNamespace

    import torch
    from zoo_plugins.kws.training.pools import Augmenter, RecipeConfig

    g = torch.Generator().manual_seed(0)
    x = torch.randn(16000, generator=g) * 0.1
    spectrum_share = lambda y: float(torch.fft.rfft(y).abs()[4200:].pow(2).sum() / torch.fft.rfft(y).abs().pow(2).sum())
    quiet = dict(noise_prob=0.0, reverb_prob=0.0)
    on = Augmenter(SimpleNamespace(), RecipeConfig(**quiet, band_limit_prob=1.0), seed=0)
    off = Augmenter(SimpleNamespace(), RecipeConfig(**quiet, band_limit_prob=0.0), seed=0)
    assert spectrum_share(x) > 0.45  # white noise: half its power is above 4 kHz
    y = on.degrade(x.clone())
    assert y.shape == x.shape and spectrum_share(y) < 0.01
    assert spectrum_share(off.degrade(x.clone())) > 0.45
    reference = random.Random(0)
    for _ in range(3):  # the gain, then the reverb and noise chances; no band-limit draw when it is off
        reference.random()
    assert off.rng.random() == reference.random()


def test_span_projector_averages_the_frames_under_each_window():
    """Embedding window w (0.775 s from w * 80 ms) maps to the encoder frames inside it."""
    import torch
    from zoo_plugins.kws.training.distill import SpanProjector

    frames, windows = 37, 9  # 1.5 s at 40 ms per encoder frame; 9 embedding windows
    proj = SpanProjector(hidden=4, frames=frames, windows=windows, out_dim=3)
    span = proj.span
    assert torch.allclose(span.sum(1), torch.ones(windows))
    first = span[0].nonzero().flatten()
    last = span[-1].nonzero().flatten()
    assert first[0] == 0 and first[-1] == 19  # 0-0.775 s
    assert last[0] == 15 and last[-1] == 34  # 0.64-1.415 s
    # a frame outside every window leaves the output unchanged
    h = torch.randn(2, frames, 4)
    h2 = h.clone()
    h2[:, -1] += 100.0
    assert torch.allclose(proj(h), proj(h2))


@pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng is not installed (apt-get install espeak-ng)")
def test_encoder_distill_smoke(tmp_path):
    """`zoo train kws-encoder-distill --tiny` writes an encoder that `kws-wav2vec2 --encoder-from` can load."""
    import torch
    from transformers import Wav2Vec2BertModel
    from zoo_plugins.asr.training.recipe import RecipeConfig as AsrConfig
    from zoo_plugins.asr.training.recipe import build_model, save_tokenizer

    data_dir("speech-commands-noise")
    from zoo.cli import main

    torch.manual_seed(0)
    asr = tmp_path / "asr"
    build_model(AsrConfig.tiny(), stride=4).save_pretrained(asr, safe_serialization=True)
    save_tokenizer(asr, stride=4)
    out = tmp_path / "encoder"
    assert main(["train", "kws-encoder-distill", "--tiny", "--encoder-from", str(asr), "--out", str(out)]) == 0
    summary = json.loads((out / "training_summary.json").read_text())
    assert summary["segments"]["real"] > 0 and summary["final_loss"] > 0
    encoder = Wav2Vec2BertModel.from_pretrained(out)
    assert encoder.config.hidden_size == AsrConfig.tiny().hidden_size
    kws = tmp_path / "kws"
    argv = ["train", "kws-wav2vec2", "--tiny", "--encoder-from", str(out), "--steps", "1", "--out", str(kws)]
    assert main([*argv, "--no-registry", "--feature-weight", "1.0"]) == 0
    assert json.loads((kws / "preprocessor_config.json").read_text())["stride"] == 4
    assert json.loads((kws / "training_summary.json").read_text())["config"]["feature_weight"] == 1.0
