"""Shared fixtures: real data location, a tiny random KWS checkpoint, a fresh zoo."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

REPO = Path(__file__).resolve().parents[1]


def data_dir(name: str) -> Path:
    """``../shared/data/<name>``, or skip the test with the reason.

    The folder must also be where the training recipes look (``$ZOO_DATA``, else
    ``../shared/data`` beside this checkout): a test that finds the data one way
    while its recipe looks elsewhere would fail with "no training corpus"
    instead of skipping.
    """
    import os

    from zoo.testing import shared_data

    path = shared_data(name)
    recipe_root = Path(os.environ.get("ZOO_DATA") or REPO.parent / "shared" / "data")
    if not (recipe_root / name).is_dir():
        pytest.skip(
            f"real audio folder {name!r} is at {path.parent}, but the recipes read {recipe_root}; "
            "set ZOO_DATA to the shared data folder"
        )
    return path


def populate_hf_cache(cache: Path, repo_id: str, src: Path, revision: str) -> None:
    """Lay out a Hugging Face hub cache snapshot by hand, as huggingface_hub would."""
    import shutil

    repo_dir = cache / f"models--{repo_id.replace('/', '--')}"
    snap = repo_dir / "snapshots" / revision
    snap.mkdir(parents=True)
    for f in src.iterdir():
        shutil.copy(f, snap / f.name)
    (repo_dir / "refs").mkdir(exist_ok=True)
    (repo_dir / "refs" / "main").write_text(revision)


@pytest.fixture(scope="session")
def tiny_kws_checkpoint(tmp_path_factory) -> Path:
    """A randomly initialised 1-layer Wav2Vec2-BERT classifier saved as safetensors."""
    from transformers import SeamlessM4TFeatureExtractor
    from zoo_plugins.kws.training.recipe import RecipeConfig, build_model

    torch.manual_seed(0)
    model = build_model(RecipeConfig.tiny()).eval()
    out = tmp_path_factory.mktemp("tiny-kws")
    model.save_pretrained(out, safe_serialization=True)
    SeamlessM4TFeatureExtractor(return_attention_mask=True).save_pretrained(out)
    return out


@pytest.fixture()
def tiny_entry(tiny_kws_checkpoint) -> dict:
    from zoo_plugins.kws.task import LABELS

    return {
        "task": "keyword-spotting",
        "architecture": "hf-audio-classifier",
        "weights": {"path": str(tiny_kws_checkpoint)},
        "sample_rate": 16000,
        "labels": list(LABELS),
        "license": "Apache-2.0",
        "provenance": {"trained_on": "nothing (random init, for tests)"},
    }


@pytest.fixture()
def tiny_model(tiny_entry):
    """A zoo Model around the tiny checkpoint, built through the real loading path."""
    import zoo
    from zoo.registry import card_from_entry

    return zoo.from_card(card_from_entry("kws-tiny", tiny_entry, REPO), device="cpu")


@pytest.fixture()
def tone():
    """A 1 s 440 Hz tone at 16 kHz as float32."""
    t = np.arange(16000, dtype=np.float32) / 16000
    return (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
