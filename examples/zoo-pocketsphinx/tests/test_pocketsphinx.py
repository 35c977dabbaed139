"""zoo-pocketsphinx: discovery, the zoo's conformance kit, and real transcripts with word timings."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
from zoo_pocketsphinx import words_from_segments

import zoo
import zoo.testing
from zoo.results import Transcript

# Measured on these 12 cathy utterances (one take of 12 prompts spread over the set): WER 0.230.
MAX_WER = 0.38


def _zoo_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "zoo.cli", *args], capture_output=True, text=True, timeout=600)


def _normalise(text: str) -> str:
    return " ".join(re.sub(r"[^a-z0-9' ]", " ", text.lower()).split())


def _cathy(root: Path, n: int) -> list[tuple[Path, str]]:
    """One take each of ``n`` prompts spread evenly over the cathy set."""
    rows = [line.rstrip("\n").split("\t") for line in (root / "transcripts.tsv").read_text().splitlines()[1:]]
    firsts: dict[str, tuple[str, str]] = {}
    for utt_id, _speaker, text in rows:
        firsts.setdefault(utt_id.split("_")[1], (utt_id, text))
    picked = list(firsts.values())[:: max(1, len(firsts) // n)][:n]
    return [(root / "audio" / f"{utt_id}.ogg", text) for utt_id, text in picked]


def test_zoo_plugins_lists_it():
    """`zoo plugins --json` shows the plugin, healthy, with its model."""
    out = _zoo_cli("plugins", "--json")
    assert out.returncode == 0, out.stderr
    plugins = {p["name"]: p for p in json.loads(out.stdout)}
    assert plugins["pocketsphinx"]["error"] is None
    assert plugins["pocketsphinx"]["models"] == ["asr-pocketsphinx"]
    assert "asr-pocketsphinx" in zoo.list_models(task="speech-recognition")


def test_conforms():
    """The zoo's conformance kit passes on every model of the plugin."""
    report = zoo.testing.check_plugin("pocketsphinx")
    assert [c.name for c in report.checks if c.status == "passed"][-1] == "bad-inputs"


def test_weights_come_from_the_pocketsphinx_package():
    """The entry's weights are the model folder inside the installed pocketsphinx wheel."""
    import pocketsphinx

    from zoo.weights import resolve

    card = zoo.info("asr-pocketsphinx")
    assert card.weights_kind == "package"
    assert resolve(card) == (Path(pocketsphinx.__file__).parent / "model" / "en-us").resolve()


def test_words_from_segments_drops_fillers_and_variants():
    """Fillers go, '(2)' pronunciation marks go, frames become seconds (end frame inclusive)."""
    seg = lambda w, a, b, p=0.5: SimpleNamespace(word=w, start_frame=a, end_frame=b, prob=p)  # noqa: E731
    words = words_from_segments(
        [
            seg("<s>", 0, 9),
            seg("read(2)", 10, 39, 1.0002),
            seg("<sil>", 40, 49),
            seg("[NOISE]", 50, 59),
            seg("it", 60, 79),
        ],
        frame_rate=100,
    )
    assert [(w.text, w.start_s, w.end_s, w.score) for w in words] == [("read", 0.1, 0.4, 1.0), ("it", 0.6, 0.8, 0.5)]


def test_transcribes_real_speech_with_bounded_wer(data_dir):
    """Real read speech (cathy, CMU ARCTIC prompts): WER under the measured bound, sane word timings."""
    import jiwer

    pairs = _cathy(data_dir("cathy"), 12)
    model = zoo.load("asr-pocketsphinx", device="cpu")
    results = model([str(p) for p, _ in pairs], progress=False)
    assert all(isinstance(r, Transcript) for r in results), [r for r in results if not r.ok]
    refs = [_normalise(text) for _, text in pairs]
    hyps = [_normalise(r.text) for r in results]
    wer = jiwer.wer(refs, hyps)
    print(f"asr-pocketsphinx WER on {len(pairs)} cathy utterances: {wer:.3f}")
    assert wer <= MAX_WER
    for r in results:
        assert r.text == " ".join(w.text for w in r.words)
        assert all(0 <= w.start_s < w.end_s for w in r.words)
        assert all(a.end_s <= b.start_s + 1e-6 for a, b in zip(r.words, r.words[1:]))
        assert all(w.score is None or 0.0 <= w.score <= 1.0 for w in r.words)


def test_zoo_run_prints_the_transcript(data_dir):
    """`zoo run asr-pocketsphinx FILE` prints the text; `--json` gives a Transcript with words."""
    path, text = _cathy(data_dir("cathy"), 1)[0]
    out = _zoo_cli("run", "asr-pocketsphinx", str(path))
    assert out.returncode == 0, out.stderr
    assert "danger trail" in out.stdout
    out = _zoo_cli("run", "asr-pocketsphinx", str(path), "--json")
    result = json.loads(out.stdout)
    assert result["type"] == "Transcript" and result["words"][0]["text"] == "author"


@pytest.mark.parametrize("silence_s", [1.0])
def test_digital_silence_gives_an_empty_transcript(silence_s):
    """No audio energy, no words."""
    import numpy as np

    r = zoo.load("asr-pocketsphinx", device="cpu")((np.zeros(int(silence_s * 16000), dtype=np.float32), 16000))
    assert r.ok and r.text == "" and r.words == ()
