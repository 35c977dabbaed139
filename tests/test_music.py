"""Music generation on a tiny random frame LM: seeds, batching, MIDI, audio, prompts and scoring."""

from __future__ import annotations

import io
import json
import math
from pathlib import Path

import mido
import numpy as np
import pytest
import torch
from zoo_plugins.music import tokenizer as tok
from zoo_plugins.music.lm import FrameLM, token_nll
from zoo_plugins.music.render import additive_synth, frames_to_notes, notes_to_frames, notes_to_midi
from zoo_plugins.music.task import Generated

import zoo
from zoo.registry import card_from_entry

REPO = Path(__file__).resolve().parents[1]
CHORALE = [[48, 55, 64, 72], [50, 57, 65, 74], [52, 55, 64, 72], [43, 55, 62, 71], [48, 55, 64, 72]]


@pytest.fixture(scope="module")
def tiny_lm_dir(tmp_path_factory) -> Path:
    lm = FrameLM.random(seed=0, hidden=32, layers=1, heads=2, ff=64, context=128)
    out = tmp_path_factory.mktemp("tiny-frame-lm")
    lm.net.save_pretrained(out, safe_serialization=True)
    return out


@pytest.fixture(scope="module")
def tiny_music(tiny_lm_dir):
    """A zoo Model around the tiny LM, built through the real loading path (additive synth: fast, no fluidsynth)."""
    entry = {
        "task": "music-generation",
        "architecture": "frame-lm",
        "weights": {"path": str(tiny_lm_dir)},
        "sample_rate": 16000,
        "license": "Apache-2.0",
        "provenance": {"recipe": "random init (tests)"},
        "params": {"synth": "additive", "seconds": 3},
    }
    return zoo.from_card(card_from_entry("music-tiny", entry, REPO), device="cpu")


def test_same_seed_same_piece_whatever_the_batch(tiny_music):
    """Item i of a batch with seed s equals the same item run alone with seed s + i."""
    batched = tiny_music.generate(n=3, seed=7)
    alone = [tiny_music([None], seed=7 + i, batch_size=1)[0] for i in range(3)]
    assert [r.seed for r in batched] == [7, 8, 9]
    for a, b in zip(batched, alone):
        assert a.frames == b.frames and a.midi == b.midi
        assert np.array_equal(a.audio, b.audio)


def test_different_seeds_differ(tiny_music):
    """Different seeds give different pieces."""
    a, b = tiny_music.generate(n=2, seed=0)
    assert a.frames != b.frames


def test_result_is_valid_midi_and_audible_audio(tiny_music):
    """The MIDI parses with one note-on per note; the audio is 1-D float, finite and not silent."""
    r = tiny_music.generate(n=1, seed=1)[0]
    assert isinstance(r, Generated) and r.ok
    assert len(r.frames) == 4  # 3 s at 80 bpm
    midi = mido.MidiFile(file=io.BytesIO(r.midi))
    note_ons = [m for t in midi.tracks for m in t if m.type == "note_on" and m.velocity > 0]
    assert len(note_ons) == len(r.notes) > 0
    assert r.audio.ndim == 1 and r.audio.dtype == np.float32 and r.sample_rate == 16000
    assert np.isfinite(r.audio).all()
    assert float(np.sqrt(np.mean(r.audio**2))) > 1e-3
    assert r.renderer == "additive"


def test_save_and_to_dict(tiny_music, tmp_path):
    """save() writes .mid, .wav and a piano-roll .png; to_dict() is compact JSON with the saved paths."""
    r = tiny_music.generate(n=1, seed=2)[0]
    paths = r.save(tmp_path, stem="piece")
    suffixes = sorted(p.suffix for p in paths)
    assert suffixes == [".json", ".mid", ".png", ".wav"]
    assert all(p.stat().st_size > 0 for p in paths)
    d = r.to_dict()
    text = json.dumps(d)
    assert len(text) < 2000
    assert d["audio"]["path"].endswith(".wav") and d["notes"]["count"] == len(r.notes)
    assert "\n" not in r.summary() and "seed 2" in r.summary()


def test_frames_prompt_is_continued(tiny_music):
    """A frames prompt starts the piece unchanged; seconds of new frames follow it."""
    r = tiny_music([CHORALE], seed=0)[0]
    assert r.prompt_frames == len(CHORALE)
    assert [list(f) for f in r.frames[: len(CHORALE)]] == [sorted(f) for f in CHORALE]
    assert len(r.frames) == len(CHORALE) + 4
    assert r.prompt_s == pytest.approx(len(CHORALE) * 60 / 80)


def test_midi_prompt_is_continued(tiny_music, tmp_path):
    """A MIDI file prompt is read onto the quarter-note grid of its tempo and continued."""
    path = tmp_path / "prompt.mid"
    path.write_bytes(notes_to_midi(frames_to_notes(CHORALE, 100), 100))
    r = tiny_music([str(path)], seed=0)[0]
    assert r.ok, r
    assert [list(f) for f in r.frames[: len(CHORALE)]] == CHORALE
    assert r.source == str(path)


def test_audio_prompt_is_transcribed_and_continued(tiny_music):
    """An audio prompt is transcribed with Basic Pitch (ONNX, from its wheel), then continued."""
    try:
        from zoo_plugins.music.transcribe import basic_pitch_model_path

        basic_pitch_model_path()
    except Exception as exc:  # noqa: BLE001
        pytest.skip(f"basic-pitch is not installed ({exc}); `pip install --no-deps basic-pitch==0.4.0`")
    audio = additive_synth(frames_to_notes([[60, 64, 67]] * 4, 80), 22050)
    r = tiny_music([(audio, 22050)], seed=0)[0]
    assert r.ok, r
    assert r.prompt_frames >= 3
    heard = {p for f in r.frames[: r.prompt_frames] for p in f}
    assert {60, 64, 67} <= heard
    assert len(r.frames) == r.prompt_frames + 4


def test_bad_prompts_become_error_results(tiny_music, tmp_path):
    """A missing file and an out-of-range pitch give ErrorResults; the good item beside them still works."""
    bad = tiny_music([str(tmp_path / "nope.mid"), [[60, 200]], None], seed=0)
    assert [r.ok for r in bad] == [False, False, True]
    assert bad[2] == tiny_music([None], seed=2)[0]


def test_score_is_exact_mean_frame_nll(tiny_music):
    """score() is the mean over frames of the summed masked token NLL (nats per time step)."""
    lm = tiny_music.net
    tokens = torch.tensor(tok.encode(CHORALE))[None]
    with torch.inference_mode():
        total = float(token_nll(lm.logits(tokens), tokens).sum())
    assert tiny_music.score(CHORALE) == pytest.approx(total / len(CHORALE), rel=1e-5)
    assert math.isfinite(tiny_music.score(CHORALE)) and tiny_music.score(CHORALE) > 0


def test_long_pieces_are_scored_in_windows(tiny_music):
    """A piece longer than the context is scored in windows: every frame gets a finite NLL."""
    long = CHORALE * 12  # 300 tokens > context 128
    nll = tiny_music.net.frame_nll(long)
    assert nll.shape == (len(long),) and torch.isfinite(nll).all()


def test_notes_frames_round_trip():
    """Frames -> tied notes -> frames is the identity on the quarter-note grid."""
    frames = [[60, 64], [60, 65], [], [62]]
    assert notes_to_frames(frames_to_notes(frames, 90), 90) == frames


def test_generate_refuses_unknown_params(tiny_music):
    """A misspelt generation param names the known ones."""
    with pytest.raises(TypeError, match="temperature"):
        tiny_music.generate(n=1, seed=0, temprature=0.5)


class _TinyCard:
    """A plugin object that registers one card around the tiny checkpoint (built by the music plugin's arch)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    @zoo.hookimpl
    def register_models(self, register):
        entry = {
            "task": "music-generation",
            "architecture": "frame-lm",
            "weights": {"path": str(self.path)},
            "sample_rate": 16000,
            "license": "Apache-2.0",
            "provenance": {"recipe": "random init (tests)"},
            "params": {"synth": "additive", "seconds": 2},
        }
        register("music-tiny", entry, base_dir=REPO)


def test_conformance_kit(tiny_lm_dir):
    """The music plugin and a tiny model of its architecture pass the conformance kit."""
    import zoo.testing

    report = zoo.testing.check_plugin(
        "music", models=["music-tiny"], extra={"music-tiny-card": _TinyCard(tiny_lm_dir)}, raise_on_failure=False
    )
    failed = [c for c in report.checks if c.status == "failed"]
    assert not failed, failed
    assert any(c.name == "batch-consistency" and c.status == "passed" for c in report.checks)


def test_generation_longer_than_the_context(tiny_music):
    """Pieces longer than the model's context keep going (re-primed on their recent frames), still per seed."""
    lm = tiny_music.net  # context 128 tokens: 40 frames of up to 6 notes overflow it
    a = lm.sample([[], CHORALE], 40, [0, 1])
    b = lm.sample([CHORALE], 40, [1])
    assert len(a[0]) == 40 and len(a[1]) == len(CHORALE) + 40
    assert a[1] == b[0]
