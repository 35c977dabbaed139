"""Speech recognition: text normalisation, chunk arithmetic, CTC decoding and merging, the task end to end."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from zoo_plugins.asr.chunking import plan_chunks
from zoo_plugins.asr.decoders import CTCVocab, GreedyDecoder
from zoo_plugins.asr.text import normalize
from zoo_plugins.asr.training.recipe import VOCAB

import zoo
from zoo.registry import ModelCard
from zoo.results import Transcript

from .conftest import data_dir, populate_hf_cache

SR = 16000


# ------------------------------------------------------------------ text
@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Author of the danger trail, Philip Steels, etc.", "author of the danger trail philip steels etc"),
        ("WE CALL IT BEAR", "we call it bear"),
        ("'Don't' -- rock&roll!", "don't rock and roll"),
        ("café naïve", "cafe naive"),
        ("   ", ""),
    ],
)
def test_normalize(raw, expected):
    assert normalize(raw) == expected


# ------------------------------------------------------------------ chunk arithmetic
@settings(max_examples=300, deadline=None)
@given(
    total=st.integers(0, 200_000),
    chunk=st.integers(1, 50_000),
    context=st.integers(0, 10_000),
    align=st.sampled_from([1, 7, 160, 320]),
)
def test_plan_chunks_tiles_the_input(total, chunk, context, align):
    try:
        spans = plan_chunks(total, chunk, context, align)
    except ValueError:
        # only when the chunk cannot hold two (aligned) contexts plus one aligned step
        ctx = -(-context // align) * align
        assert total > chunk and (chunk - 2 * ctx) // align * align <= 0
        return
    # the kept spans tile [0, total) in order, with no gap and no overlap
    assert spans[0].keep_start == 0 and spans[-1].keep_end == total
    for a, b in zip(spans, spans[1:]):
        assert a.keep_end == b.keep_start
    for s in spans:
        assert 0 <= s.start <= s.keep_start <= s.keep_end <= s.end <= total
        assert s.end - s.start <= max(chunk, total if total <= chunk else chunk)
        if total > chunk:
            assert s.keep_end > s.keep_start
            assert s.start % align == 0 and s.keep_start % align == 0
            # inner edges have their full context (as far as the input allows)
            ctx = -(-context // align) * align
            assert s.keep_start - s.start == min(ctx, s.keep_start)
            assert s.end - s.keep_end == min(ctx, total - s.keep_end)


def test_librispeech_speakers_split_holds_out_whole_speakers(tmp_path):
    """Per-speaker folders are held out whole, every fifth train-clean speaker too; no speaker is on both sides."""
    from zoo_plugins.asr.data import librispeech_speakers_split

    clean = tmp_path / "librispeech_train-clean-100"
    clean.mkdir()
    for spk in range(10):
        (clean / f"{100 + spk}-1-0000.ogg").write_bytes(b"")
    (clean / "notes.txt").write_text("not audio")
    (tmp_path / "1688").mkdir()
    for i in range(3):
        (tmp_path / "1688" / f"1688-1-000{i}.ogg").write_bytes(b"")
    train, held = librispeech_speakers_split(tmp_path)
    speakers = [{p.name.split("-")[0] for p in side} for side in (train, held)]
    assert len(train) == 8 and len(held) == 2 + 3 and not speakers[0] & speakers[1]
    assert "1688" in speakers[1] and all(p.suffix == ".ogg" for p in train + held)
    with pytest.raises(zoo.ZooError, match="not a folder"):
        librispeech_speakers_split(tmp_path / "missing")


def test_l2_targets_are_whisper_style_and_keep_the_labellers_punctuation():
    from zoo_plugins.asr.training.whisper_l2 import _target

    assert _target("the cat sat") == " The cat sat."
    assert _target("Is it Mr. Bingley's?") == " Is it Mr. Bingley's?"
    assert _target("  ") == ""


def test_plan_chunks_short_input_is_one_window():
    assert [(s.start, s.end) for s in plan_chunks(1000, 16000, 3200, 320)] == [(0, 1000)]


# ------------------------------------------------------------------ a fake CTC net: merging without loss
class SpellingNet(torch.nn.Module):
    """A CTC 'model' that reads its transcript off the waveform: frame f emits the token coded at sample f*320.

    Splitting and merging must reproduce exactly what decoding the whole input gives.
    """

    kind = "ctc"
    frame_samples = 320

    def __init__(self) -> None:
        super().__init__()
        self.vocab = CTCVocab.from_vocab({t: i for i, t in enumerate(VOCAB)})
        self.decoder = GreedyDecoder(self.vocab)
        self.frame_s = self.frame_samples / SR

    def log_probs(self, waveforms, lengths):
        out = []
        for i in range(waveforms.shape[0]):
            n = int(lengths[i]) // self.frame_samples
            ids = (waveforms[i, : n * self.frame_samples : self.frame_samples] * 100).round().long()
            lp = torch.full((n, len(VOCAB)), -30.0)
            lp[torch.arange(n), ids.clamp(0, len(VOCAB) - 1)] = 0.0
            out.append(lp)
        return out

    def decode(self, log_probs):
        return self.decoder(log_probs, self.frame_s)


def _spelled_waveform(text: str, frames_per_char: int = 3) -> torch.Tensor:
    index = {c: i for i, c in enumerate(VOCAB)}
    ids = []
    for c in text:
        tok = index["|"] if c == " " else index[c]
        ids += [tok] + [0] * (frames_per_char - 1)  # token then blanks
    x = torch.zeros(len(ids) * 320)
    x[::320] = torch.tensor(ids, dtype=torch.float32) / 100
    return x


def _fake_model(**params) -> zoo.Model:
    card = ModelCard(
        name="spelling",
        task="speech-recognition",
        architecture="hf-ctc",
        weights={"path": "."},
        sample_rate=SR,
        license="MIT",
        provenance={"test": True},
        params={"chunk_s": 2.0, "context_s": 0.4, **params},
    )
    z = zoo.get_zoo()
    return zoo.Model(card, z.task("speech-recognition"), SpellingNet(), torch.device("cpu"), torch.float32)


def test_long_audio_chunks_merge_without_duplicated_or_dropped_words():
    text = " ".join(f"word{chr(97 + i % 26)}" for i in range(60)).replace("word", "w")  # 60 words
    wav = _spelled_waveform(text)
    assert wav.numel() / SR > 10  # several 2 s chunks
    m = _fake_model()
    chunks = m.task.preprocess(m, zoo.audio.load((wav, SR)))
    assert len(chunks) > 5
    result = m((wav, SR))
    assert result.text == text
    assert [w.text for w in result.words] == text.split()
    starts = [w.start_s for w in result.words]
    assert starts == sorted(starts) and result.words[-1].end_s <= wav.numel() / SR + 1e-6


def test_greedy_decoder_collapses_repeats_and_times_words():
    vocab = CTCVocab.from_vocab({t: i for i, t in enumerate(VOCAB)})
    index = {c: i for i, c in enumerate(VOCAB)}
    seq = [
        0,
        index["h"],
        index["h"],
        index["i"],
        0,
        index["|"],
        0,
        0,
        index["y"],
        index["o"],
        index["o"],
        0,
        index["o"],
    ]
    lp = torch.full((len(seq), len(VOCAB)), -20.0)
    lp[torch.arange(len(seq)), torch.tensor(seq)] = 0.0
    text, words = GreedyDecoder(vocab)(lp, 0.02)
    assert text == "hi yoo"
    assert [(w.text, w.start_s, w.end_s) for w in words] == [("hi", 0.02, 0.08), ("yoo", 0.16, 0.26)]
    assert all(math.isclose(w.score, 1.0, rel_tol=1e-6) for w in words)


def test_beam_search_with_the_pocketsphinx_lm_prefers_likely_words():
    """Ambiguous emissions ('the' vs 'thx'): the lexicon and LM pick the English word."""
    pytest.importorskip("pocketsphinx")
    from zoo_plugins.asr.decoders import POCKETSPHINX_LM, BeamDecoder, lm_logprob

    assert lm_logprob(["of", "the"]) > lm_logprob(["the", "of"])  # P(the|of) > P(of|the)
    vocab = CTCVocab.from_vocab({t: i for i, t in enumerate(VOCAB)})
    index = {c: i for i, c in enumerate(VOCAB)}
    frames = []
    for c in "the cat sat":
        row = torch.full((len(VOCAB),), -8.0)
        if c == "e":  # the acoustic model slightly prefers a misspelling
            row[index["x"]], row[index["e"]] = -0.6, -0.8
        else:
            row[index["|" if c == " " else c]] = -0.05
        frames += [row, torch.full((len(VOCAB),), -8.0).index_fill(0, torch.tensor([0]), -0.05)]
    lp = torch.log_softmax(torch.stack(frames), -1)
    assert GreedyDecoder(vocab)(lp, 0.02)[0] == "thx cat sat"
    text, words = BeamDecoder(vocab, ["the", "thx", "cat", "sat"], lm=POCKETSPHINX_LM, beam_size=16)(lp, 0.02)
    assert text == "the cat sat"
    assert [w.text for w in words] == ["the", "cat", "sat"]
    # timed by the frames that emitted them: 'the' is frames 0-5, 'cat' starts after the delimiter (8)
    assert (words[0].start_s, words[0].end_s, words[1].start_s) == (0.0, 0.1, 0.16)
    assert all(w.score > 0.4 for w in words)


def test_homophones_beyond_the_trie_limit_keep_the_most_frequent_words():
    pytest.importorskip("pocketsphinx")
    from zoo_plugins.asr.decoders import cap_homophones

    same = ["T", "UW", "|"]
    lexicon = {w: [same] for w in ["tu", "tew", "tou", "too", "two", "to", "toohey", "tue"]}
    lexicon["cat"] = [["K", "AE", "T", "|"]]
    kept = cap_homophones(lexicon, limit=6)
    assert {"to", "two", "too", "cat"} <= set(kept) and len(kept) == 7
    assert cap_homophones({"cat": lexicon["cat"]}) == {"cat": lexicon["cat"]}


def test_phone_model_decodes_words_through_the_cmu_dictionary():
    """A phone vocabulary is recognised; beam search spells words by pronunciation and times them."""
    pytest.importorskip("pocketsphinx")
    from zoo_plugins.asr.decoders import BeamDecoder, build_decoder
    from zoo_plugins.asr.training.recipe import UNITS, encode

    phones = UNITS["phones"]
    vocab = CTCVocab.from_vocab({t: i for i, t in enumerate(phones)})
    assert vocab.units == "phones" and CTCVocab.from_vocab({t: i for i, t in enumerate(VOCAB)}).units == "chars"
    frames = []
    for tok in encode("read the book", "phones"):  # 'read' has two pronunciations; either decodes
        row = torch.full((len(phones),), -8.0)
        row[tok] = -0.05
        frames += [row, torch.full((len(phones),), -8.0).index_fill(0, torch.tensor([0]), -0.05)]
    lp = torch.log_softmax(torch.stack(frames), -1)
    text, words = BeamDecoder(vocab, ["read", "red", "the", "book", "buck"], beam_size=16)(lp, 0.04)
    assert text in ("read the book", "red the book")
    assert [w.text for w in words][1:] == ["the", "book"]
    assert words[0].start_s == 0.0 and all(a.end_s <= b.start_s for a, b in zip(words, words[1:]))
    assert all(0.9 < w.score <= 1.0 for w in words)
    with pytest.raises(zoo.ZooError, match="outputs phones"):
        build_decoder("greedy", vocab, {})


# ------------------------------------------------------------------ a tiny random checkpoint, end to end
@pytest.fixture(scope="session")
def tiny_ctc_checkpoint(tmp_path_factory) -> Path:
    from zoo_plugins.asr.training.recipe import RecipeConfig, build_model, save_tokenizer

    torch.manual_seed(0)
    out = tmp_path_factory.mktemp("tiny-ctc")
    build_model(RecipeConfig.tiny()).eval().save_pretrained(out, safe_serialization=True)
    save_tokenizer(out)
    return out


def _tiny_card(path: Path, **params) -> ModelCard:
    return ModelCard(
        name="asr-tiny",
        task="speech-recognition",
        architecture="hf-ctc",
        weights={"path": str(path)},
        sample_rate=SR,
        license="MIT",
        provenance={"trained_on": "nothing (random init)"},
        params={"decoder": "greedy", **params},
    )


def test_tiny_checkpoint_transcribes_files_arrays_and_batches(tiny_ctc_checkpoint, tmp_path):
    m = zoo.from_card(_tiny_card(tiny_ctc_checkpoint), device="cpu")
    rng = np.random.default_rng(0)
    path = tmp_path / "a.wav"
    sf.write(path, (0.1 * rng.standard_normal(SR * 2)).astype("float32"), 8000)  # resampled on load
    results = m([str(path), (0.1 * rng.standard_normal(SR), SR), torch.zeros(0), str(tmp_path / "missing.wav")])
    assert isinstance(results[0], Transcript) and isinstance(results[1], Transcript)
    assert not results[2].ok and not results[3].ok and "no such file" in results[3].reason
    for r in results[:2]:
        assert all(0 <= w.start_s <= w.end_s for w in r.words)


def test_mixed_short_and_long_inputs_share_batches(tiny_ctc_checkpoint):
    """Chunks of a long input and short clips are bucketed together, not run one input at a time."""
    m = zoo.from_card(_tiny_card(tiny_ctc_checkpoint, chunk_s=4.0, context_s=0.5), device="cpu")
    rng = np.random.default_rng(1)
    inputs = [(0.05 * rng.standard_normal(int(SR * 30)).astype("float32"), SR)]
    inputs += [(0.05 * rng.standard_normal(int(SR * rng.uniform(1, 4))).astype("float32"), SR) for _ in range(20)]
    sizes: list[int] = []
    from dataclasses import replace

    m.config = replace(m.config, on_batch=lambda n, s: sizes.append(n))
    results = m(inputs)
    assert all(r.ok for r in results)
    n_chunks = len(m.task.preprocess(m, zoo.audio.load(inputs[0]))) + 20
    assert sum(sizes) == n_chunks and len(sizes) <= 4


# ------------------------------------------------------------------ bad input
def _trained_model():
    return zoo.load("asr-wav2vec2-bert", device="cpu", decoder="greedy")


def test_silence_gives_an_empty_transcript(tiny_ctc_checkpoint):
    m = zoo.from_card(_tiny_card(tiny_ctc_checkpoint), device="cpu")
    for x in (np.zeros(SR * 3, dtype="float32"), 1e-5 * np.random.default_rng(0).standard_normal(SR * 3)):
        r = m((x.astype("float32"), SR))
        assert r.ok and r.text == "" and r.words == ()


def test_very_short_and_clipped_inputs_do_not_crash(tiny_ctc_checkpoint):
    m = zoo.from_card(_tiny_card(tiny_ctc_checkpoint), device="cpu")
    rng = np.random.default_rng(2)
    short = (0.3 * rng.standard_normal(int(0.1 * SR))).astype("float32")
    clipped = np.clip(3.0 * rng.standard_normal(SR * 2), -1, 1).astype("float32")
    one_sample = np.array([0.5], dtype="float32")
    for x in (short, clipped, one_sample):
        r = m((x, SR))
        assert r.ok, getattr(r, "reason", "")


def test_trained_model_says_nothing_for_noise_and_music():
    import random

    from zoo_plugins.asr.training.recipe import synthetic_music

    rng = np.random.default_rng(3)
    white = (0.1 * rng.standard_normal(SR * 4)).astype("float32")
    music = (0.5 * synthetic_music(SR * 4, random.Random(7))).numpy().astype("float32")
    for m in (_trained_model(), zoo.load("speech-recognition", device="cpu")):  # greedy chars; the default
        for x in (white, music):
            r = m((x, SR))
            assert r.ok and len(r.text.split()) <= 1, (m.card.name, r.text)


def test_corrupt_tail_transcribes_the_readable_part(tmp_path):
    """A FLAC whose last part is garbage: a warning, and the readable audio is transcribed."""

    root = data_dir("cathy")
    src = sorted((root / "audio").iterdir())[0]
    x, rate = sf.read(src, dtype="float32")
    path = tmp_path / "corrupt.flac"
    sf.write(path, x, rate)
    raw = bytearray(path.read_bytes())
    cut = len(raw) * 2 // 3
    raw[cut:] = np.random.default_rng(0).integers(0, 256, len(raw) - cut, dtype=np.uint8).tobytes()
    path.write_bytes(bytes(raw))
    m = _trained_model()
    with pytest.warns(UserWarning, match="corrupt or truncated"):
        r = m(str(path))
    assert r.ok and r.text


def test_cli_run_prints_text_with_word_timings_as_json(tmp_path, tiny_ctc_checkpoint, monkeypatch, capsys):
    import json

    import yaml

    from zoo.cli import main

    entry = _tiny_card(tiny_ctc_checkpoint).to_dict()
    registry = tmp_path / "registry.yaml"
    registry.write_text(yaml.safe_dump({"asr-tiny": entry}))
    monkeypatch.setenv("ZOO_REGISTRY", str(registry))
    zoo.reload()
    try:
        wav = _spelled_waveform("hello there")  # silent except single-sample spikes
        path = tmp_path / "a.wav"
        sf.write(path, (0.2 * np.random.default_rng(0).standard_normal(SR * 2)).astype("float32"), SR)
        assert main(["run", "asr-tiny", str(path), "--json", "--param", "decoder=greedy"]) == 0
        row = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
        assert row["source"] == str(path) and "text" in row and isinstance(row["words"], list)
        for w in row["words"]:
            assert set(w) >= {"text", "start_s", "end_s"} and 0 <= w["start_s"] <= w["end_s"] <= 2.0 + 1e-6
        assert wav.numel() > 0
    finally:
        monkeypatch.delenv("ZOO_REGISTRY")
        zoo.reload()


# ------------------------------------------------------------------ whisper and the hub entries, offline
@pytest.fixture(scope="session")
def tiny_whisper_checkpoint(tmp_path_factory) -> Path:
    """A 1-layer random Whisper with a byte-level vocabulary (no merges) and its processor files."""
    import json

    from transformers import (
        GenerationConfig,
        WhisperConfig,
        WhisperFeatureExtractor,
        WhisperForConditionalGeneration,
        WhisperTokenizer,
    )
    from transformers.convert_slow_tokenizer import bytes_to_unicode

    out = tmp_path_factory.mktemp("tiny-whisper")
    specials = ["<|endoftext|>", "<|startoftranscript|>", "<|en|>", "<|transcribe|>", "<|notimestamps|>"]
    vocab = {c: i for i, c in enumerate(bytes_to_unicode().values())}
    for s in specials:
        vocab[s] = len(vocab)
    (out / "vocab.json").write_text(json.dumps(vocab))
    (out / "merges.txt").write_text("#version: 0.2\n")
    eot = vocab["<|endoftext|>"]
    WhisperTokenizer(
        str(out / "vocab.json"),
        str(out / "merges.txt"),
        unk_token="<|endoftext|>",
        bos_token="<|endoftext|>",
        eos_token="<|endoftext|>",
        pad_token="<|endoftext|>",
    ).save_pretrained(out)
    cfg = WhisperConfig(
        vocab_size=len(vocab),
        num_mel_bins=80,
        d_model=32,
        encoder_layers=1,
        decoder_layers=1,
        encoder_attention_heads=2,
        decoder_attention_heads=2,
        encoder_ffn_dim=64,
        decoder_ffn_dim=64,
        max_source_positions=1500,
        max_target_positions=64,
        pad_token_id=eot,
        bos_token_id=eot,
        eos_token_id=eot,
        decoder_start_token_id=vocab["<|startoftranscript|>"],
    )
    torch.manual_seed(0)
    model = WhisperForConditionalGeneration(cfg).eval()
    model.generation_config = GenerationConfig(
        decoder_start_token_id=cfg.decoder_start_token_id, eos_token_id=eot, pad_token_id=eot, max_length=32
    )
    model.save_pretrained(out, safe_serialization=True)
    WhisperFeatureExtractor(feature_size=80).save_pretrained(out)
    return out


def test_whisper_runs_long_audio_as_overlapping_30s_windows(tiny_whisper_checkpoint):
    card = ModelCard(
        name="whisper-tiny-random",
        task="speech-recognition",
        architecture="hf-whisper",
        weights={"path": str(tiny_whisper_checkpoint)},
        sample_rate=SR,
        license="MIT",
        provenance={"trained_on": "nothing"},
        params={"max_new_tokens": 6},
    )
    m = zoo.from_card(card, device="cpu")
    rng = np.random.default_rng(4)
    long = (0.1 * rng.standard_normal(SR * 70)).astype("float32")
    spans = [c.meta["span"] for c in m.task.preprocess(m, zoo.audio.load((long, SR)))]
    assert all(s.end - s.start <= 30 * SR for s in spans)  # Whisper's window
    assert [(s.keep_start, s.keep_end) for s in spans] == list(zip([0] + [s.keep_end for s in spans[:-1]],
                                                                 [s.keep_end for s in spans]))  # fmt: skip
    assert spans[-1].keep_end == 70 * SR and spans[1].start == spans[0].keep_end - 5 * SR  # 5 s of context
    flat = zoo.from_card(card, device="cpu", context_s=0.0)
    assert [
        (c.meta["span"].start, c.meta["span"].end) for c in flat.task.preprocess(flat, zoo.audio.load((long, SR)))
    ] == [
        (0, 30 * SR),
        (30 * SR, 60 * SR),
        (60 * SR, 70 * SR),
    ]
    results = m([(long, SR), (np.zeros(SR, dtype="float32"), SR)])
    assert all(isinstance(r, Transcript) for r in results)
    assert results[1].text == ""  # silence is never decoded
    for w in results[0].words:
        assert 0 <= w.start_s <= w.end_s <= 70.0


def test_whisper_encoder_states_match_transformers_and_run_at_any_length(tiny_whisper_checkpoint):
    """The backbone's encode: padded to 30 s it equals transformers' encoder; unpadded rows are batch-independent."""
    from zoo_plugins.asr.whisper import encoder_states

    m = zoo.from_card(
        ModelCard(
            name="whisper-tiny-random",
            task="speech-recognition",
            architecture="hf-whisper",
            weights={"path": str(tiny_whisper_checkpoint)},
            sample_rate=SR,
            license="MIT",
            provenance={"trained_on": "nothing"},
        ),
        device="cpu",
    )
    encoder = m.net.model.model.encoder
    g = torch.Generator().manual_seed(0)
    wav = 0.1 * torch.randn(3, 2 * SR, generator=g)
    lengths = torch.tensor([2 * SR, SR, 2 * SR])
    mel = m.net.processor.feature_extractor(wav.numpy(), sampling_rate=SR, return_tensors="pt").input_features
    with torch.inference_mode():
        assert torch.allclose(encoder_states(encoder, mel), encoder(mel).last_hidden_state, atol=1e-6)
        padded = m.net.encode(wav, lengths, SR)
        native = m.net.encode(wav, lengths, SR, layers=[0, 1], full_window=False)
        alone = m.net.encode(wav[1:2], lengths[1:2], SR, layers=[0, 1], full_window=False)
    assert [f.shape for f in padded] == [(100, 32), (50, 32), (100, 32)]  # 50 Hz, cut to each row's length
    assert [f.shape for f in native] == [(100, 64), (50, 64), (100, 64)]  # two hidden states side by side
    assert torch.equal(native[1], alone[0])  # a row's features do not depend on its batch
    with pytest.raises(ValueError, match="layers must be indices"):
        encoder_states(encoder, mel, layers=[2])


def test_hub_entries_load_offline_from_a_local_hf_cache(tmp_path, tiny_ctc_checkpoint, tiny_whisper_checkpoint):
    """The real registry entries (pinned revisions) load through huggingface_hub's cache with HF_HUB_OFFLINE=1."""
    import os
    import subprocess
    import sys

    hub = tmp_path / "hf" / "hub"
    for name, src in (("asr-wav2vec2-base-960h", tiny_ctc_checkpoint), ("asr-whisper-tiny", tiny_whisper_checkpoint)):
        card = zoo.info(name)
        populate_hf_cache(hub, card.weights["hf"], src, card.weights["revision"])
    code = (
        "import zoo, numpy as np\n"
        "x = (0.1 * np.random.default_rng(0).standard_normal(32000)).astype('float32')\n"
        "for name in ('asr-wav2vec2-base-960h', 'asr-whisper-tiny'):\n"
        "    m = zoo.load(name, device='cpu', max_new_tokens=4)\n"
        "    r = m((x, 16000))\n"
        "    print(name, type(r).__name__, r.ok)\n"
    )
    env = dict(os.environ, HF_HOME=str(tmp_path / "hf"), HF_HUB_OFFLINE="1")
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "asr-wav2vec2-base-960h Transcript True" in proc.stdout
    assert "asr-whisper-tiny Transcript True" in proc.stdout


# ------------------------------------------------------------------ a 1-hour file in bounded memory
def test_one_hour_file_runs_in_bounded_memory(tmp_path, tiny_ctc_checkpoint):
    """A generated 1-hour WAV is streamed window by window.

    After a 3-minute file has set the batch working set (model activations),
    the 1-hour file adds less than one decoded copy of itself (what loading it whole
    would add at the very least).
    """
    import subprocess
    import sys

    rng = np.random.default_rng(5)
    block = (0.05 * rng.standard_normal(SR * 60)).astype("float32")
    paths = {}
    for name, minutes in (("warm", 3), ("hour", 60)):
        paths[name] = tmp_path / f"{name}.wav"
        with sf.SoundFile(paths[name], "w", samplerate=SR, channels=1, subtype="PCM_16") as f:
            for _ in range(minutes):
                f.write(block)
    decoded_mb = 3600 * SR * 4 / 1e6  # float32: what loading it whole would cost
    code = (
        "import resource, zoo\n"
        "from zoo.registry import ModelCard\n"
        f"card = ModelCard(name='t', task='speech-recognition', architecture='hf-ctc', "
        f"weights={{'path': {str(tiny_ctc_checkpoint)!r}}}, sample_rate=16000, license='MIT', "
        "provenance={'t': 1}, params={'decoder': 'greedy'})\n"
        "m = zoo.from_card(card, device='cpu')\n"
        f"m({str(paths['warm'])!r})\n"
        "before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e3\n"
        f"r = m({str(paths['hour'])!r})\n"
        "after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e3\n"
        "print('OK', r.ok, r.words[-1].end_s if r.words else 0, round(after - before, 1))\n"
    )
    env = dict(__import__("os").environ, MALLOC_ARENA_MAX="2")  # less allocator noise in the RSS reading
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=1200, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    _, ok, last_word_end, grew_mb = proc.stdout.strip().splitlines()[-1].split()
    assert ok == "True"
    assert 3000.0 < float(last_word_end) <= 3600.0  # the whole hour was transcribed
    assert float(grew_mb) < decoded_mb, f"peak RSS grew {grew_mb} MB (the decoded file is {decoded_mb:.0f} MB)"


def test_recipe_smoke(tmp_path):
    """`zoo train asr-wav2vec2-bert --tiny` trains, saves an HF checkpoint with its vocabulary, and scores it."""
    import json

    from zoo.cli import main

    data_dir("speechocean762-train")
    out = tmp_path / "ckpt"
    assert main(["train", "asr-wav2vec2-bert", "--tiny", "--out", str(out), "--no-registry"]) == 0
    for name in ("model.safetensors", "config.json", "vocab.json", "preprocessor_config.json", "training_summary.json"):
        assert (out / name).exists(), name
    summary = json.loads((out / "training_summary.json").read_text())
    assert set(summary["heldout"]) >= {"speechocean762"}
    assert {"wer", "cer", "wer_greedy"} <= set(summary["heldout"]["speechocean762"])
    # continue with phone outputs: the encoder is kept, the output layer rebuilt, both runs recorded
    phones = tmp_path / "phones"
    argv = ["train", "asr-wav2vec2-bert-phones", "--tiny", "--init-from", str(out), "--out", str(phones)]
    assert main([*argv, "--no-registry"]) == 0
    vocab = json.loads((phones / "vocab.json").read_text())
    assert "HH" in vocab and "a" not in vocab and vocab["|"] == 2
    again = json.loads((phones / "training_summary.json").read_text())
    assert len(again["stages"]) == 2 and "wer" in again["heldout"]["speechocean762"]
    assert "wer_greedy" not in again["heldout"]["speechocean762"]  # greedy cannot spell words from phones


def test_word_timing_tolerates_a_final_token_stamped_past_the_end():
    """flashlight can stamp the last token at frame T (one past the end): it is clamped, not an IndexError."""
    from zoo_plugins.asr.decoders import words_from_frames

    vocab = CTCVocab.from_vocab({t: i for i, t in enumerate(VOCAB)})
    index = {c: i for i, c in enumerate(VOCAB)}
    probs = torch.full((4, len(VOCAB)), 0.5)
    text, words = words_from_frames(vocab, [index["o"], index["k"]], [2, 4], probs, 0.04)
    assert text == "ok" and words[0].end_s == pytest.approx(0.16)


# ------------------------------------------------------------------ forced alignment
def _spiky_log_probs(spikes: list[tuple[int, str]], frames: int) -> torch.Tensor:
    """Blank everywhere except one confident token per (frame, char)."""
    index = {c: i for i, c in enumerate(VOCAB)}
    lp = torch.full((frames, len(VOCAB)), -20.0)
    lp[:, 0] = 0.0
    for frame, ch in spikes:
        lp[frame] = -20.0
        lp[frame, index[ch]] = 0.0
    return lp


def test_align_words_places_known_words_where_the_tokens_are():
    from zoo_plugins.asr.align import align_words

    vocab = CTCVocab.from_vocab({t: i for i, t in enumerate(VOCAB)})
    spikes = [(10, "g"), (12, "o"), (14, "|"), (30, "u"), (31, "p"), (40, "|"), (50, "o"), (52, "n")]
    words = align_words(_spiky_log_probs(spikes, 60), "go up on", vocab, frame_s=0.04)
    assert [w.text for w in words] == ["go", "up", "on"]
    assert [(w.start_s, w.end_s) for w in words] == [(0.4, 0.52), (1.2, 1.28), (2.0, 2.12)]
    assert all(w.score > 0.99 for w in words)
    # a transcript that does not fit the frames, or has characters the vocabulary lacks, gives no words
    assert align_words(_spiky_log_probs(spikes, 60)[:5], "go up on", vocab, 0.04) == []
    assert align_words(_spiky_log_probs(spikes, 60), "go up 0n", vocab, 0.04) == []


def test_align_words_with_a_phone_model_uses_pronunciations():
    pytest.importorskip("pocketsphinx")
    from zoo_plugins.asr.align import align_words, transcript_tokens
    from zoo_plugins.asr.training.recipe import UNITS

    phones = UNITS["phones"]
    vocab = CTCVocab.from_vocab({t: i for i, t in enumerate(phones)})
    index = {t: i for i, t in enumerate(phones)}
    assert transcript_tokens("go xqzv", vocab) == [[index["G"], index["OW"]], []]
    lp = torch.full((40, len(phones)), -20.0)
    lp[:, 0] = 0.0
    for frame, tok in [(5, "G"), (7, "OW"), (12, "|"), (20, "AH"), (22, "P")]:
        lp[frame] = -20.0
        lp[frame, index[tok]] = 0.0
    words = align_words(lp, "go up", vocab, frame_s=0.04)
    assert [(w.text, w.start_s, w.end_s) for w in words] == [("go", 0.2, 0.32), ("up", 0.8, 0.92)]


def test_mined_word_cut_rejects_words_aligned_into_silence():
    from zoo_plugins.kws.training.mining import cut

    wav = torch.zeros(3 * 16000)
    wav[16000:24000] = 0.3 * torch.sin(torch.arange(8000) * 0.2)  # "speech" from 1.0 to 1.5 s
    clip = cut(wav, 1.05, 1.45)
    assert clip is not None and 0.5 < clip.numel() / 16000 <= 1.0
    assert clip[0].abs() < 1e-3 and clip[-1].abs() < 1e-3  # faded in and out
    assert cut(wav, 0.1, 0.4) is None  # placed in the leading silence


def test_warm_started_checkpoint_keeps_every_stage_in_its_record(tmp_path):
    """Continuing from a checkpoint sums steps, time and audio over both stages and keeps both recipes."""
    import json

    from zoo.train.stages import with_earlier_stages

    first = {"recipe": "zoo train asr --steps 10", "steps_done": 10, "hours_of_audio_seen": 1.5, "train_seconds": 60.0}
    first |= {"hardware": "CPU", "final_loss_ema": 2.0}
    (tmp_path / "training_summary.json").write_text(json.dumps(first))
    second = {"recipe": "zoo train asr --init-from A", "steps_done": 5, "hours_of_audio_seen": 0.5}
    second |= {"train_seconds": 30.0, "hardware": "CPU", "final_loss_ema": 1.5, "parameters": 7}
    merged = with_earlier_stages(second, tmp_path)
    assert [s["steps_done"] for s in merged["stages"]] == [10, 5]
    assert (merged["steps_done"], merged["train_seconds"], merged["hours_of_audio_seen"]) == (15, 90.0, 2.0)
    assert merged["recipe"] == "zoo train asr --steps 10; then zoo train asr --init-from A"
    assert merged["parameters"] == 7 and merged["hardware"] == "CPU"
    # a third stage extends the list rather than nesting it
    (tmp_path / "training_summary.json").write_text(json.dumps(merged))
    third = with_earlier_stages(second | {"hardware": "GPU"}, tmp_path)
    assert len(third["stages"]) == 3 and third["steps_done"] == 20
    assert third["hardware"] == "CPU + CPU + GPU"
    # no record next to the warm start: the summary is left as it is
    assert with_earlier_stages(second, tmp_path / "missing") == second
