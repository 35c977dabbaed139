"""The wheel built from this repository carries the built-in models: installed elsewhere, it lists and runs them."""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

from .conftest import REPO

pytestmark = pytest.mark.skipif(not (REPO / ".git").exists(), reason="builds from a git checkout")


def _run(cmd: list[str], cwd: Path, env: dict[str, str] | None = None) -> str:
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, f"{' '.join(cmd)} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc.stdout


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """`pip wheel` of a copy of the working tree (tracked and untracked, not ignored files)."""
    src = tmp_path_factory.mktemp("src")
    files = _run(["git", "ls-files", "-co", "--exclude-standard", "-z"], REPO).split("\0")
    for rel in filter(None, files):
        if (REPO / rel).is_file():
            (src / rel).parent.mkdir(parents=True, exist_ok=True)
            (src / rel).write_bytes((REPO / rel).read_bytes())
    out = tmp_path_factory.mktemp("wheel")
    _run(
        [sys.executable, "-m", "pip", "wheel", str(src), "--no-deps", "--no-build-isolation", "-q", "-w", str(out)], src
    )
    (path,) = out.glob("audio_zoo-*.whl")
    return path


def test_wheel_carries_catalogue_checkpoints_and_examples(wheel):
    """The catalogue, every bundled checkpoint and the example clips are package data."""
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "zoo_plugins/registry.yaml" in names
    for model in ("kws/checkpoints/kws-wav2vec2", "asr/checkpoints/asr-wav2vec2-bert-phones"):
        assert f"zoo_plugins/{model}/model.safetensors" in names and f"zoo_plugins/{model}/config.json" in names
    assert any(n.startswith("zoo_plugins/kws/examples/") and n.endswith(".wav") for n in names)


def test_installed_wheel_lists_and_runs_the_built_in_models(wheel, tmp_path):
    """In a fresh venv, from a folder outside the checkout: `zoo list` shows every built-in, kws-wav2vec2 runs."""
    venv = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", "--without-pip", str(venv)], tmp_path)
    py = venv / "bin" / "python"
    site = Path(_run([str(py), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"], tmp_path).strip())
    # the dependencies (torch, transformers...) come from this environment's site-packages; `zoo` does not
    (site / "zz_deps.pth").write_text(sysconfig.get_path("purelib") + "\n")
    _run(
        [sys.executable, "-m", "pip", "--python", str(py), "install", "--no-deps", "--no-index", "-q", str(wheel)],
        tmp_path,
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ZOO_", "PYTHON"))}
    env |= {"HF_HUB_OFFLINE": "1", "ZOO_DISABLE_PLUGINS": "pocketsphinx,silero-vad"}
    work = tmp_path / "elsewhere"
    work.mkdir()
    listed = _run([str(venv / "bin" / "zoo"), "list"], work, env)
    from zoo_plugins import catalogue

    for name in catalogue():
        assert name in listed
    code = (
        "import zoo, zoo_plugins; "
        f"assert not zoo.__file__.startswith({str(REPO)!r}) and not zoo_plugins.__file__.startswith({str(REPO)!r}); "
        "m = zoo.load('kws-wav2vec2', device='cpu'); "
        "clip = m.task.demo_inputs()[0]; r = m(clip.input); "
        "assert r.ok and r.label == clip.expected, r; print(r.summary())"
    )
    assert _run([str(py), "-c", code], work, env).strip()
