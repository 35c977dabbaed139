"""Audio tagging and captioning: windows, results, grammar, the recipes' smoke runs, both tasks on a tiny backbone."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from zoo_plugins.tagging.data import FOLDS, esc50, fold_of
from zoo_plugins.tagging.metrics import tagging_metrics
from zoo_plugins.tagging.results import Tags, TagSegment
from zoo_plugins.tagging.task import merge_segments, window_spans

import zoo
from zoo.plugins import Zoo
from zoo.testing import CHECKS, check_plugin

from .conftest import data_dir

LABELS = ("dog", "rain", "siren")


@settings(deadline=None)
@given(st.integers(1, 400_000), st.integers(100, 100_000), st.integers(100, 100_000))
def test_window_spans_cover_the_input(n, window, hop):
    """Windows are ``window`` long (or the whole short input), start at 0, end at the input's end, leave no gap."""
    hop = min(hop, window)
    spans = window_spans(n, window, hop)
    assert spans[0][0] == 0 and spans[-1][1] == n
    assert all(b - a == min(n, window) for a, b in spans)
    assert all(b2 >= a1 for (a1, _), (_, b2) in zip(spans[1:], spans))  # no gaps
    assert all(s2 > s1 for (s1, _), (s2, _) in zip(spans, spans[1:]))


def test_merge_segments_joins_runs_and_never_overlaps():
    """Consecutive windows with one top label become one segment; the next segment starts where one ends."""
    segs = merge_segments(
        [(0, 5), (5, 10), (10, 15), (12, 17)], [("dog", 0.5), ("dog", 0.9), ("rain", 0.4), ("dog", 0.7)]
    )
    assert [(s.start_s, s.end_s, s.label, s.score) for s in segs] == [
        (0, 10, "dog", 0.9),
        (10, 12, "rain", 0.4),
        (12, 17, "dog", 0.7),
    ]


def test_tags_summary_to_dict_and_save(tmp_path):
    """Tags keep the Result contract: one-line summary, compact to_dict (top scores only), save writes JSON."""
    scores = {f"class{i}": i / 100 for i in range(50)}
    t = Tags(
        source="x/street.wav",
        label="class49",
        score=0.49,
        scores=scores,
        labels=("class49", "class48"),
        segments=(TagSegment(0.0, 5.0, "class49", 0.49), TagSegment(5.0, 9.0, "class48", 0.48)),
    )
    assert t.summary() == "class49 (0.490) + class48, 2 segments"
    d = t.to_dict()
    assert d["type"] == "Tags" and list(d["scores"]) == ["class49", "class48", "class47", "class46", "class45"]
    assert d["segments"][1] == {"start_s": 5.0, "end_s": 9.0, "label": "class48", "score": 0.48}
    paths = t.save(tmp_path)
    assert [p.name for p in paths] == ["street.json"]
    assert json.loads(paths[0].read_text())["label"] == "class49"


def test_tagging_metrics_count_failures_as_wrong():
    """Top-1, top-5 and mAP from results; an ErrorResult is a miss."""
    ok = Tags(source="a", label="dog", score=0.9, scores={"dog": 0.9, "rain": 0.1})
    bad = zoo.ErrorResult(source="b", error="AudioError", reason="no such file")

    class Ex:
        def __init__(self, label):
            self.label = label

    m = tagging_metrics([ok, bad], [Ex("dog"), Ex("rain")])
    assert m["accuracy"] == 0.5 and m["top5_accuracy"] == 0.5 and m["clips"] == 2


# -- a tiny backbone: frames of 320 samples through a fixed random projection (50 Hz, like Whisper) --------
class TinyEncoderNet:
    def __init__(self, dim: int = 16) -> None:
        self.proj = torch.randn(320, dim, generator=torch.Generator().manual_seed(0)) / 10

    def encode(self, waveforms, lengths, sample_rate):
        out = []
        for row, n in zip(waveforms, lengths.tolist()):
            x = torch.nn.functional.pad(row[:n], (0, -n % 320)).reshape(-1, 320)
            out.append(torch.tanh(x @ self.proj * 100))
        return out


class TinyTaggingPlugin:
    """Registers a tiny encoder model, and a tagger and a captioner on it from the recipes' --tiny runs."""

    def __init__(self, head_dir: Path, captioner_dir: Path | None = None) -> None:
        self.head_dir = head_dir
        self.captioner_dir = captioner_dir

    @zoo.hookimpl
    def register_architectures(self, register):
        register("tiny-encoder", lambda card, w, device, dtype: TinyEncoderNet(), task="audio-tagging")

    @zoo.hookimpl
    def register_models(self, register):
        base = {"sample_rate": 16000, "license": "CC0-1.0", "provenance": {"source": "tests/test_tagging.py"}}
        register(
            "tiny-encoder",
            {
                **base,
                "task": "audio-tagging",
                "architecture": "tiny-encoder",
                "labels": list(LABELS),
                "weights": {"path": str(self.head_dir)},
            },
        )
        register(
            "tag-tiny",
            {
                **base,
                "task": "audio-tagging",
                "architecture": "encoder-tagger",
                "labels": list(LABELS),
                "weights": {"path": str(self.head_dir)},
                "params": {"backbone": "tiny-encoder", "window_s": 2.0},
            },
        )
        if self.captioner_dir is not None:
            register(
                "caption-tiny",
                {
                    **base,
                    "task": "audio-captioning",
                    "architecture": "encoder-captioner",
                    "weights": {"path": str(self.captioner_dir)},
                    "params": {"backbone": "tiny-encoder", "window_s": 2.0, "beams": 2},
                },
            )


@pytest.fixture(scope="module")
def tiny_features(tmp_path_factory) -> Path:
    """Synthetic cached encoder features (dim 16) of 30 clips of three classes, one mixed copy each."""
    from zoo_plugins.tagging.data import Clip
    from zoo_plugins.tagging.training.features import FeatureSet

    tmp = tmp_path_factory.mktemp("feats")
    clips = [Clip(f"/x/{i}.flac", LABELS[i % 3], f"src{i // 2}") for i in range(30)]
    g = torch.Generator().manual_seed(0)
    feats = [(torch.randn(50, 16, generator=g) + i % 3).half() for i in range(60)]
    mix = [-1] * 30 + [(i + 1) % 30 for i in range(30)]
    FeatureSet(clips, feats, list(range(30)) * 2, [0] * 30 + [1] * 30, mix).save(tmp / "feats.pt")
    return tmp / "feats.pt"


@pytest.fixture(scope="module")
def tiny_head(tiny_features, tmp_path_factory) -> Path:
    """The recipe's --tiny run on synthetic cached features: a real head checkpoint."""
    from zoo_plugins.tagging.training.recipe import main

    tmp = tmp_path_factory.mktemp("tag")
    summary = main(["--tiny", "--features", str(tiny_features), "--out", str(tmp / "head"), "--no-registry"])
    assert summary["heldout"]["clips"] > 0 and (tmp / "head" / "model.safetensors").is_file()
    assert json.loads((tmp / "head" / "config.json").read_text())["labels"] == list(LABELS)
    return tmp / "head"


@pytest.fixture(scope="module")
def tiny_captioner(tiny_features, tmp_path_factory) -> Path:
    """The captioning recipe's --tiny run (mixed copies become overlapping events): a real decoder checkpoint."""
    from zoo_plugins.tagging.training.caption_recipe import main

    out = tmp_path_factory.mktemp("cap") / "captioner"
    summary = main(["--tiny", "--features", str(tiny_features), "--out", str(out), "--no-registry"])
    assert set(summary["heldout"]) >= {"sound_named", "bleu_4", "cider_d", "scene_events_named"}
    return out


@pytest.fixture
def tiny_zoo(tiny_head, tiny_captioner, monkeypatch):
    """A zoo with the tiny encoder, tagger and captioner registered."""
    # the tagger loads its backbone through zoo.load, i.e. from the process-wide zoo
    z = Zoo(strict=True).load(extra={"tiny-tagging": TinyTaggingPlugin(tiny_head, tiny_captioner)})
    monkeypatch.setattr(zoo, "_zoo", z)
    return z


@pytest.mark.parametrize("name", ["tag-tiny", "caption-tiny"])
def test_tasks_conform_with_a_tiny_backbone(tiny_zoo, tiny_head, tiny_captioner, name):
    """Both tasks pass every model check with a tiny backbone and recipe-trained heads."""
    plugin = TinyTaggingPlugin(tiny_head, tiny_captioner)
    report = check_plugin("tiny-tagging", models=[name], extra={"tiny-tagging": plugin})
    assert [c.name for c in report.checks] == ["plugin-loads", *CHECKS[2:]]


def test_long_input_gets_a_sentence_per_stretch(tiny_zoo, tmp_path):
    """Captions: 2 s windows, 3 per stretch: a 13 s input gets 3 sentences; digital silence an empty caption."""
    model = zoo.load("caption-tiny", device="cpu")
    noise = np.random.default_rng(0).standard_normal(13 * 16000).astype(np.float32) * 0.1
    long, silent = model([(noise, 16000), (np.zeros(16000, np.float32), 16000)])
    assert long.text.count(". ") == 2 and long.summary() == long.text
    assert silent.text == "" and silent.summary() == "(nothing heard)"
    assert [p.name for p in long.save(tmp_path, stem="scene")] == ["scene.txt", "scene.json"]


def test_grammar_captions_name_their_sounds_in_the_vocabulary():
    """Every grammar caption names each of its sounds and uses only the captioner's vocabulary."""
    import random

    from zoo_plugins.tagging.captioner import tokenize
    from zoo_plugins.tagging.grammar import SOUNDS, caption_scene, names_sound
    from zoo_plugins.tagging.training.caption_recipe import vocabulary

    vocab, rng, labels = set(vocabulary()), random.Random(0), sorted(SOUNDS)
    for _ in range(500):
        events = rng.sample(labels, rng.randint(1, 3))
        over = rng.choice([None, *[x for x in labels if x not in events]])
        text = caption_scene(events, over, rng)
        assert all(names_sound(text, e) for e in events), text
        assert set(tokenize(text)) <= vocab, text


def test_grammar_covers_the_esc50_classes():
    """Every class in esc50-dev's labels.csv has grammar phrases (and the tagger's card lists exactly those)."""
    from zoo_plugins.tagging.grammar import SOUNDS

    labels = {c.label for c in esc50(data_dir("esc50-dev"))}
    assert labels <= set(SOUNDS)
    assert set(zoo.info("tag-whisper-tiny-esc50").labels) == labels


def test_long_input_gets_segments_and_short_input_none(tiny_zoo):
    """A 9 s input with 2 s windows is tagged per window (segments cover it all); a 1 s clip has no segments."""
    model = zoo.load("tag-tiny", device="cpu")
    rng = np.random.default_rng(0)
    long, short = rng.standard_normal(9 * 16000).astype(np.float32) * 0.1, np.ones(16000, np.float32) * 0.1
    r_long, r_short, r_silent = model([(long, 16000), (short, 16000), (np.zeros(8000, np.float32), 16000)])
    assert r_long.label in LABELS and r_long.segments
    assert r_long.segments[0].start_s == 0.0 and r_long.segments[-1].end_s == 9.0
    assert all(a.end_s == b.start_s for a, b in zip(r_long.segments, r_long.segments[1:]))
    assert r_short.segments == () and set(r_short.scores) == set(LABELS)
    assert r_silent.label == "_silence_"


def test_esc50_folds_keep_source_recordings_together():
    """Every clip of one source recording is in the same fold, and every fold holds clips."""
    clips = esc50(data_dir("esc50-dev"))
    folds: dict[str, set[int]] = {}
    for c in clips:
        folds.setdefault(c.src_file, set()).add(fold_of(c.src_file))
    assert all(len(f) == 1 for f in folds.values())
    assert {f for s in folds.values() for f in s} == set(range(FOLDS))


def test_pool_head_normalises_each_block_of_stacked_layers_on_its_own():
    """With groups, one encoder layer's scale cannot drown the others (each block is layer-normalised alone)."""
    from zoo_plugins.tagging.arch import PoolHead

    torch.manual_seed(0)
    x, mask = torch.randn(2, 10, 8), torch.ones(2, 10, dtype=torch.bool)
    louder = torch.cat([x[..., :4] * 100, x[..., 4:]], dim=-1)
    grouped, single = PoolHead(8, 3, 16, groups=2).eval(), PoolHead(8, 3, 16).eval()
    assert torch.allclose(grouped(x, mask), grouped(louder, mask), atol=1e-4)
    assert not torch.allclose(single(x, mask), single(louder, mask), atol=1e-2)
    with pytest.raises(ValueError, match="multiple of groups"):
        PoolHead(9, 3, groups=2)


def test_tuned_top_trains_a_copy_of_the_top_encoder_layer_only():
    """The fine-tuning comparison: the top layer is a trainable copy; the lower blocks pass through unchanged."""
    from transformers import WhisperConfig
    from transformers.models.whisper.modeling_whisper import WhisperEncoder
    from zoo_plugins.tagging.arch import PoolHead
    from zoo_plugins.tagging.training.finetune import TunedTop

    cfg = WhisperConfig(d_model=16, encoder_layers=2, encoder_attention_heads=2, encoder_ffn_dim=32, num_mel_bins=8)
    encoder = WhisperEncoder(cfg).eval()
    model = TunedTop(encoder, PoolHead(3 * 16, 4, 8, groups=3), tune=1)
    x = torch.randn(2, 6, 3 * 16)
    assert model(x, torch.ones(2, 6, dtype=torch.bool)).shape == (2, 4)
    groups = model.param_groups(1e-3)
    assert groups[1]["lr"] == pytest.approx(1e-4) and all(p.requires_grad for p in groups[1]["params"])
    assert model.layers[0] is not encoder.layers[1]  # a copy: the shared encoder is never changed
    with pytest.raises(ValueError, match="tune must be"):
        TunedTop(encoder, PoolHead(48, 4), tune=3)


def test_hf_pipeline_baseline_runs_on_the_taggers_own_encoder(tmp_path):
    """`zoo bench`'s baseline: transformers' audio-classification pipeline holding the tagger's Whisper encoder."""
    import soundfile as sf
    from zoo_plugins.tagging.baselines import hf_pipeline_baselines, whisper_classifier

    model = zoo.load("tag-whisper-tiny-esc50")
    path = tmp_path / "noise.wav"
    sf.write(path, np.random.default_rng(0).standard_normal(22050).astype("float32") * 0.1, 22050)
    assert hf_pipeline_baselines(model, [str(path)], ["raw"]) == []  # only when a job names it
    contestants = hf_pipeline_baselines(model, [str(path)] * 2, ["hf-audio-classification"])
    assert [c.name for c in contestants] == ["hf-audio-classification-b1", "hf-audio-classification-b8"]
    contestants[0].setup()
    assert len(contestants[0].run()) == 1
    classifier = whisper_classifier(model)
    theirs, ours = classifier.encoder.state_dict(), model.net.encoder.net.model.model.encoder.state_dict()
    assert theirs.keys() == ours.keys() and all(torch.equal(theirs[k], ours[k]) for k in ours)
    assert classifier.config.id2label[0] == model.net.labels[0]
