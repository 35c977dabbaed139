"""The music-llama-bach recipe end to end on a tiny model: train, early-stop bookkeeping, resume, bundle."""

from __future__ import annotations

import json

import pytest

from tests.conftest import data_dir


@pytest.mark.slow  # ~3 min on a busy 2-core machine: nine full JSB valid/test evaluations
def test_tiny_recipe_trains_resumes_and_bundles(tmp_path):
    """A few steps write the best checkpoint and its summary; --resume continues; --finish re-bundles."""
    from zoo_plugins.music.training.recipe import main

    root = data_dir("jsb-chorales")
    tiny = ["--hidden", "16", "--layers", "1", "--heads", "2", "--ff", "32", "--context", "64", "--batch", "2"]
    common = [*tiny, "--no-extra", "--no-registry", "--data", str(root), "--eval-every", "2", "--save-every", "2"]
    run, out = tmp_path / "run", tmp_path / "out"
    first = main([*common, "--steps", "4", "--run", str(run), "--out", str(out)])
    assert first["steps"] == 4 and first["test"]["chorales"] == 77 and first["valid"]["frames"] > 4000
    assert (out / "model.safetensors").is_file()
    assert json.loads((out / "training_summary.json").read_text())["best_step"] in (2, 4)
    again = main([*common, "--steps", "6", "--resume", "--run", str(run), "--out", str(out)])
    assert again["steps"] == 6 and [h["step"] for h in again["history"]] == [2, 4, 6]
    bundled = main(["--finish", "--no-registry", "--data", str(root), "--run", str(run), "--out", str(out)])
    assert bundled["test"] == again["test"]
