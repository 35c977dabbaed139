"""`zoo run --ray` / zoo.ray: Ray Data gives the in-process runner's results, per input, in order."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

from zoo import ray as zray

MODEL = "kws-wav2vec2"
# Ray's own DataContext warns about its deprecated options on every run
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    """220 tiny generated clips (0.2-0.6 s of tones and noise) plus two unreadable files."""
    import soundfile as sf

    d = tmp_path_factory.mktemp("ray-clips")
    rng = np.random.default_rng(0)
    rate = 16000
    for i in range(220):
        n = int(rng.integers(int(0.2 * rate), int(0.6 * rate)))
        t = np.arange(n, dtype=np.float32) / rate
        x = 0.2 * np.sin(2 * np.pi * rng.uniform(100, 3000) * t) + 0.05 * rng.standard_normal(n)
        sf.write(d / f"clip{i:03d}.wav", x.astype(np.float32), rate)
    (d / "clip100b.wav").write_bytes(b"not audio")
    (d / "clip200b.flac").write_bytes(b"")
    return d


def test_expand_inputs_folder_glob_and_list(clips):
    """A folder gives its audio files sorted; a glob and a list work too."""
    from_dir = zray.expand_inputs(clips)
    assert len(from_dir) == 222 and from_dir == sorted(from_dir)
    assert zray.expand_inputs(str(clips / "clip00*.wav")) == [str(clips / f"clip00{i}.wav") for i in range(10)]
    assert zray.expand_inputs([clips / "x.wav"]) == [str(clips / "x.wav")]


@pytest.mark.parametrize("suffix", [".jsonl", ".parquet"])
def test_write_rows_round_trip(tmp_path, suffix):
    """Rows written as JSON lines or Parquet keep path, type and the result."""
    rows = [
        {"path": "a.wav", "type": "Classification", "source": "a.wav", "label": "yes", "score": 0.5, "summary": "yes"},
        {
            "path": "b.wav",
            "type": "ErrorResult",
            "source": "b.wav",
            "error": "AudioError",
            "reason": "x",
            "summary": "x",
        },
    ]
    out = zray.write_rows(rows, tmp_path / f"r{suffix}")
    if suffix == ".jsonl":
        back = [json.loads(line) for line in out.read_text().splitlines()]
        assert back == rows
    else:
        pq = pytest.importorskip("pyarrow.parquet")
        table = pq.read_table(out).to_pylist()
        assert [r["path"] for r in table] == ["a.wav", "b.wav"]
        assert [r["ok"] for r in table] == [True, False]
        assert [r["summary"] for r in table] == ["yes", "x"]
        assert json.loads(table[0]["result"])["label"] == "yes"


def test_bad_out_suffix_is_refused(tmp_path):
    """--out must be .jsonl or .parquet."""
    pytest.importorskip("ray", reason="needs the ray extra: pip install 'audio-zoo[ray]'")
    with pytest.raises(Exception, match="jsonl or .parquet"):
        zray.run(MODEL, [], out=tmp_path / "r.csv")


def test_ray_matches_in_process_runner_on_222_files(clips, tmp_path, capsys):
    """`zoo run MODEL DIR --ray --json` on local Ray: the same labels and scores as in-process, errors per item."""
    ray = pytest.importorskip("ray", reason="needs the ray extra: pip install 'audio-zoo[ray]'")
    import zoo
    from zoo.cli import main

    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    paths = zray.expand_inputs(clips)
    expected = zoo.load(MODEL).run(paths, progress=False)
    try:
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
        code = main(["run", MODEL, str(clips), "--ray", "--json", "--batch-size", "64"])
    finally:
        ray.shutdown()
    assert code == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    assert [r["path"] for r in rows] == paths
    assert len(rows) >= 200
    for row, want in zip(rows, expected):
        assert row["type"] == type(want).__name__, row["path"]
        if want.ok:
            assert row["label"] == want.label, row["path"]
            assert row["score"] == pytest.approx(want.score, abs=1e-4)
            assert row["scores"] == pytest.approx(dict(want.scores), abs=1e-4)
        else:
            assert row["error"] == want.error and row["reason"] == want.reason
    assert sum(r["type"] == "ErrorResult" for r in rows) == 2
