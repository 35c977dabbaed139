"""`zoo bench` runs end to end on a tiny config (benchmarks are not timed tests)."""

from __future__ import annotations

import json

import numpy as np
import soundfile as sf
import yaml

from zoo.bench.harness import compare_with_card
from zoo.bench.timing import ratio_summary
from zoo.cli import main


def _speech_commands_dir(root, n_per_label=2):
    rng = np.random.default_rng(0)
    for label in ("yes", "no", "_silence_"):
        (root / label).mkdir(parents=True)
        for i in range(n_per_label):
            sf.write(
                root / label / f"abcdef0{i}_nohash_0.wav", rng.standard_normal(16000).astype("float32") * 0.05, 16000
            )
    return root


def test_bench_tiny_suite(tmp_path):
    """A tiny suite writes JSON, Markdown and PNG reports with quality and speed sections."""
    data = _speech_commands_dir(tmp_path / "sc")
    suite = {
        "name": "tiny",
        "quality": [
            {
                "task": "keyword-spotting",
                "models": "kws-wav2vec2",
                "dataset": "speech-commands",
                "root": str(data),
                "int8": True,
            }
        ],
        "speed": [
            {
                "name": "tiny-speed",
                "task": "keyword-spotting",
                "model": "kws-wav2vec2",
                "dataset": "speech-commands",
                "root": str(data),
                "n": 4,
                "lengths_s": [0.5, 2.0],
                "repeats": 2,
                "baselines": ["raw"],
            }
        ],
    }
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(suite))
    out = tmp_path / "out"
    assert main(["bench", "--suite", str(path), "--out", str(out)]) == 0
    report = json.loads((out / "tiny.json").read_text())
    q = report["quality"][0]
    assert q["metrics"]["examples"] == 6 and 0 <= q["metrics"]["accuracy"] <= 1
    assert set(q["metrics"]["per_class_accuracy"]) == {"yes", "no", "_silence_"}
    assert "accuracy" in q["int8"]["change"] and abs(q["int8"]["change"]["accuracy"]) <= 1
    s = report["speed"][0]
    assert {"zoo", "raw-b1", "raw-b8", "raw-b32", "decode-only"} <= set(s["contestants"])
    assert s["ratios"]["zoo_vs_" + s["best_raw"]]["median"] > 0
    assert (out / "tiny.md").read_text().startswith("# Benchmark: tiny")
    assert list(out.glob("*.png"))


def test_data_override_and_missing_data(tmp_path, capsys):
    """--data NAME=DIR redirects a dataset; a missing folder is reported, not a crash."""
    suite = {
        "name": "t2",
        "quality": [
            {
                "task": "keyword-spotting",
                "models": "kws-wav2vec2",
                "dataset": "speech-commands",
                "root": str(tmp_path / "absent"),
            }
        ],
    }
    path = tmp_path / "t2.yaml"
    path.write_text(yaml.safe_dump(suite))
    # every quality job failed: the report is still written, and the exit status says so
    assert main(["bench", "--suite", str(path), "--out", str(tmp_path / "o"), "--no-speed"]) == 1
    assert "error" in json.loads((tmp_path / "o" / "t2.json").read_text())["quality"][0]
    data = _speech_commands_dir(tmp_path / "sc2", 1)
    assert (
        main(
            [
                "bench",
                "--suite",
                str(path),
                "--out",
                str(tmp_path / "o"),
                "--no-speed",
                "--data",
                f"speech-commands={data}",
            ]
        )
        == 0
    )
    assert json.loads((tmp_path / "o" / "t2.json").read_text())["quality"][0]["metrics"]["examples"] == 3


def test_claims_are_flagged_beyond_noise():
    measured = {"accuracy": 0.80, "accuracy_stderr": 0.01}
    assert compare_with_card(measured, {"accuracy": 0.81})["accuracy"]["flag"] is False
    assert compare_with_card(measured, {"accuracy": 0.90})["accuracy"]["flag"] is True
    # sample sizes are not claims: a 60-utterance run of a 240-utterance card is not a drift
    subset = {"wer": 0.85, "wer_stderr": 0.02, "reference_words": 378}
    assert set(compare_with_card(subset, {"wer": 0.8532, "reference_words": 1444})) == {"wer"}


def test_ratio_summary():
    assert ratio_summary([1.0, 2.0, 1.0], [2.0, 2.0, 3.0]) == {"median": 2.0, "min": 1.0, "max": 3.0}
