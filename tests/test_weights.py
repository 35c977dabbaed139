"""Weights: bundled/local/hub sources, safetensors only, offline hub via a local cache."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from zoo import UnsafeWeightsError, WeightsError
from zoo.registry import card_from_entry
from zoo.weights import resolve

from .conftest import populate_hf_cache

REVISION = "0123456789abcdef0123456789abcdef01234567"


def test_local_path_source(tiny_entry, tiny_kws_checkpoint):
    card = card_from_entry("m", tiny_entry, Path("."))
    assert resolve(card) == tiny_kws_checkpoint.resolve()


def test_missing_path_is_a_clear_error(tiny_entry, tmp_path):
    card = card_from_entry("m", tiny_entry | {"weights": {"path": str(tmp_path / "nope")}}, Path("."))
    with pytest.raises(WeightsError, match="not found"):
        resolve(card)


def test_pickle_checkpoints_are_refused(tiny_entry, tmp_path):
    """A directory with only pytorch_model.bin is refused with advice to convert."""
    (tmp_path / "config.json").write_text("{}")
    torch.save({"w": torch.zeros(1)}, tmp_path / "pytorch_model.bin")
    card = card_from_entry("m", tiny_entry | {"weights": {"path": str(tmp_path)}}, Path("."))
    with pytest.raises(UnsafeWeightsError, match="refusing pickle.*safetensors"):
        resolve(card)


def _run_offline(code: str, hf_home: Path, registry: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, HF_HOME=str(hf_home), HF_HUB_OFFLINE="1", ZOO_REGISTRY=str(registry))
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)


def _hub_registry(tmp_path: Path, tiny_entry: dict, repo_id: str) -> Path:
    import yaml

    entry = tiny_entry | {"weights": {"hf": repo_id, "revision": REVISION}}
    path = tmp_path / "registry.yaml"
    path.write_text(yaml.safe_dump({"kws-hub-tiny": entry}))
    return path


def test_hub_source_loads_from_local_cache_offline(tmp_path, tiny_entry, tiny_kws_checkpoint):
    """The real hub code path (snapshot_download at a pinned revision) runs offline from the cache."""
    hf_home = tmp_path / "hf"
    populate_hf_cache(hf_home / "hub", "zoo-test/tiny-kws", tiny_kws_checkpoint, REVISION)
    registry = _hub_registry(tmp_path, tiny_entry, "zoo-test/tiny-kws")
    code = (
        "import zoo, numpy as np\n"
        "m = zoo.load('kws-hub-tiny', device='cpu')\n"
        "r = m((np.zeros(16000, dtype='float32'), 16000))\n"
        "print(type(r).__name__, r.label in m.labels)\n"
    )
    proc = _run_offline(code, hf_home, registry)
    assert proc.returncode == 0, proc.stderr
    assert "Classification True" in proc.stdout


def test_hub_source_not_cached_offline_says_what_to_do(tmp_path, tiny_entry):
    """Offline and uncached: OfflineWeightsError naming the cache and HF_HUB_OFFLINE."""
    registry = _hub_registry(tmp_path, tiny_entry, "zoo-test/absent")
    code = (
        "import zoo\n"
        "try:\n    zoo.load('kws-hub-tiny', device='cpu')\n"
        "except zoo.OfflineWeightsError as e:\n    print('OFFLINE:', e)\n"
    )
    proc = _run_offline(code, tmp_path / "hf", registry)
    assert "OFFLINE:" in proc.stdout, proc.stderr
    assert "not in the local Hugging Face cache" in proc.stdout and "HF_HUB_OFFLINE" in proc.stdout


def test_bundled_checkpoint_is_fp16_safetensors():
    """The committed kws-wav2vec2 checkpoint is an HF directory of fp16 safetensors."""
    import zoo

    card = zoo.info("kws-wav2vec2")
    path = resolve(card)
    from safetensors import safe_open

    with safe_open(path / "model.safetensors", "pt") as f:
        dtypes = {f.get_tensor(k).dtype for k in f.keys()}
    assert dtypes == {torch.float16}
    config = json.loads((path / "config.json").read_text())
    assert config["architectures"] == ["Wav2Vec2BertForSequenceClassification"]
    assert (path / "preprocessor_config.json").exists()
