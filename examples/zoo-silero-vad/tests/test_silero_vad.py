"""zoo-silero-vad: discovery, the conformance kit, segmentation maths, and real speech versus real noise."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf
from zoo_silero_vad import Segment, SpeechSegments, probs_to_segments
from zoo_silero_vad.net import frames_with_context

import zoo
import zoo.testing


def _zoo_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "zoo.cli", *args], capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def vad():
    return zoo.load("vad-silero", device="cpu")


def test_zoo_plugins_lists_it():
    """`zoo plugins --json` shows the plugin with its task and model; `zoo list` shows the model."""
    out = _zoo_cli("plugins", "--json")
    assert out.returncode == 0, out.stderr
    plugins = {p["name"]: p for p in json.loads(out.stdout)}
    assert plugins["silero-vad"]["error"] is None
    assert plugins["silero-vad"]["tasks"] == ["voice-activity-detection"]
    assert plugins["silero-vad"]["models"] == ["vad-silero"]
    assert zoo.list_models(task="voice-activity-detection") == ["vad-silero"]


def test_conforms():
    """The zoo's conformance kit passes on the task and the model."""
    report = zoo.testing.check_plugin("silero-vad")
    assert {c.name for c in report.checks} == set(zoo.testing.CHECKS)


@pytest.mark.parametrize(
    ("probs", "kwargs", "expected"),
    [
        pytest.param([0.0] * 10, {}, (), id="none"),
        pytest.param([0, 0, 0.9, 0.9, 0.9, 0.9, 0.1, 0.1, 0.1, 0], {}, ((0.2, 0.6),), id="one"),
        pytest.param([0, 0.9, 0, 0, 0, 0, 0, 0, 0, 0], {}, (), id="too-short"),
        pytest.param([0.9, 0.9, 0.4, 0.4, 0.9, 0.9, 0, 0, 0, 0], {}, ((0.0, 0.6),), id="hysteresis-holds"),
        pytest.param([0.9, 0.9, 0.9, 0, 0.9, 0.9, 0.9, 0, 0, 0], {}, ((0.0, 0.7),), id="short-gap-bridged"),
        pytest.param([0, 0, 0, 0, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9], {}, ((0.4, 1.0),), id="runs-to-the-end"),
        pytest.param([0, 0.9, 0.9, 0.9, 0, 0], {"pad_s": 0.5}, ((0.0, 0.6),), id="padding-clamped"),
        pytest.param(
            [0.9, 0.9, 0.9, 0, 0, 0.9, 0.9, 0.9, 0, 0], {"pad_s": 0.1}, ((0.0, 0.9),), id="padded-segments-merge"
        ),
    ],
)
def test_probs_to_segments(probs, kwargs, expected):
    """Hysteresis, minimum speech and silence, padding and merging (frames of 0.1 s, 1 s input)."""
    args = {"min_speech_s": 0.2, "min_silence_s": 0.2, "pad_s": 0.0} | kwargs
    got = probs_to_segments(probs, 0.1, 0.6 if kwargs.get("pad_s") == 0.5 else 1.0, **args)
    assert [(s.start_s, s.end_s) for s in got] == [pytest.approx(e) for e in expected]


def test_frames_carry_the_previous_context():
    """Each 576-sample row is 64 samples of context then a 512-sample frame."""
    x = np.arange(1, 1201, dtype=np.float32)
    rows = frames_with_context(x)
    assert rows.shape == (3, 576)
    assert (rows[0, :64] == 0).all() and rows[0, 64] == 1
    assert (rows[1, :64] == x[448:512]).all() and rows[1, 64] == x[512]
    assert (rows[2, 64 + 176 :] == 0).all()


def test_finds_speech_in_real_utterances(vad, data_dir):
    """Read speech (cathy) and LibriSpeech utterances: most of each file is inside speech segments."""
    files = sorted((data_dir("cathy") / "audio").glob("*.ogg"))[::300][:5]
    files += sorted(data_dir("librispeech-speakers").rglob("*.ogg"))[::100][:3]
    for r in vad([str(f) for f in files], progress=False):
        assert isinstance(r, SpeechSegments), r
        assert r.has_speech, r.source
        assert 0.4 * r.duration_s <= r.speech_s <= r.duration_s
        assert all(0 <= s.start_s < s.end_s <= r.duration_s for s in r.segments)
        assert all(a.end_s < b.start_s for a, b in zip(r.segments, r.segments[1:]))


@pytest.mark.parametrize("name", ["white_noise", "pink_noise"])
def test_no_speech_in_real_noise(vad, data_dir, name):
    """The recorded white and pink noise of Speech Commands (60 s each) hold no speech."""
    r = vad(str(data_dir("speech-commands-noise") / f"{name}.flac"))
    assert r.ok and r.duration_s > 50
    assert r.segments == ()


@pytest.mark.parametrize("seconds", [0.1, 3.0])
def test_no_speech_in_digital_silence(vad, seconds):
    r = vad((np.zeros(int(seconds * 16000), dtype=np.float32), 16000))
    assert r.ok and r.segments == () and r.duration_s == pytest.approx(seconds)


def test_speech_between_silences_is_located(vad, data_dir):
    """One utterance padded with 2 s of digital silence on each side: the segments sit inside it."""
    path = sorted((data_dir("cathy") / "audio").glob("*.ogg"))[0]
    speech, rate = sf.read(path, dtype="float32")
    padded = np.concatenate([np.zeros(2 * rate, np.float32), speech, np.zeros(2 * rate, np.float32)])
    r = vad((padded, rate))
    assert r.segments[0].start_s >= 1.9 and r.segments[-1].end_s <= 2.1 + len(speech) / rate


def test_zoo_run_prints_segments(data_dir):
    """`zoo run vad-silero FILE` summarises the segments; `--json` gives them in seconds."""
    path = sorted((data_dir("cathy") / "audio").glob("*.ogg"))[0]
    out = _zoo_cli("run", "vad-silero", str(path))
    assert out.returncode == 0, out.stderr
    assert "2 segments" in out.stdout and "0.07-1.66 s" in out.stdout
    result = json.loads(_zoo_cli("run", "vad-silero", str(path), "--json").stdout)
    assert result["type"] == "SpeechSegments" and result["segments"][0]["start_s"] < 0.5


def test_segment_duration():
    assert Segment(1.0, 2.5).duration_s == 1.5
