"""The third-party example plugins under examples/: installed like a user would, their own tests run.

Also: a broken third-party plugin (its import fails) is reported and skipped
while every other plugin keeps working.
"""

from __future__ import annotations

import importlib.metadata as md
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import REPO

EXAMPLES = {"pocketsphinx": "zoo-pocketsphinx", "silero-vad": "zoo-silero-vad"}


def _nice(*cmd: str) -> list[str]:
    return ["nice", "-n", "19", *cmd] if sys.platform != "win32" else list(cmd)


def _installed() -> bool:
    names = {ep.name for ep in md.entry_points(group="zoo.plugins")}
    return set(EXAMPLES) <= names


@pytest.fixture(scope="module")
def examples_installed() -> None:
    """pip install -e both examples (with their dependencies) unless they already are."""
    if _installed():
        return
    args = [arg for name in EXAMPLES.values() for arg in ("-e", str(REPO / "examples" / name))]
    cmd = _nice(sys.executable, "-m", "pip", "install", "-q", "--no-build-isolation", *args)
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=1800)
    assert done.returncode == 0, f"could not install the examples ({' '.join(cmd)}):\n{done.stderr[-3000:]}"


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("ZOO_PLUGINS", "ZOO_DISABLE_PLUGINS", "ZOO_STRICT_PLUGINS")}
    return env | extra


@pytest.mark.slow
@pytest.mark.parametrize("plugin", list(EXAMPLES))
def test_example_own_tests_pass(examples_installed, plugin):
    """Each example's tests (discovery, the conformance kit, real audio) pass in a fresh interpreter."""
    root = REPO / "examples" / EXAMPLES[plugin]
    done = subprocess.run(
        _nice(sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rs"),
        cwd=root,
        capture_output=True,
        text=True,
        env=_env(),
        timeout=1800,
    )
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-2000:]


def _broken_dist(site: Path) -> None:
    """A tiny installed distribution whose ``zoo.plugins`` entry point fails to import."""
    info = site / "zoo_broken_example-0.1.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: zoo-broken-example\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[zoo.plugins]\nbroken = zoo_broken_example\n")
    (site / "zoo_broken_example.py").write_text("import a_dependency_that_is_not_installed  # noqa: F401\n")


def _zoo(site: Path, *args: str) -> subprocess.CompletedProcess:
    pythonpath = os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    return subprocess.run(
        [sys.executable, "-m", "zoo.cli", *args],
        capture_output=True,
        text=True,
        env=_env(PYTHONPATH=pythonpath),
        timeout=600,
    )


def test_a_broken_plugin_leaves_the_others_working(examples_installed, tmp_path):
    """An installed plugin whose import fails is listed with its error; the rest load and run."""
    _broken_dist(tmp_path)
    out = _zoo(tmp_path, "plugins", "--json")
    assert out.returncode == 0, out.stderr
    assert "plugin 'broken'" in out.stderr  # the warning names it
    plugins = {p["name"]: p for p in json.loads(out.stdout)}
    assert "failed to import zoo_broken_example" in plugins["broken"]["error"]
    assert "a_dependency_that_is_not_installed" in plugins["broken"]["error"]
    for name in ("kws", "asr", *EXAMPLES):
        assert plugins[name]["error"] is None, plugins[name]
    table = _zoo(tmp_path, "plugins").stdout
    assert "broken" in table and "failed to import" in table
    listed = _zoo(tmp_path, "list").stdout
    assert "vad-silero" in listed and "asr-pocketsphinx" in listed
    strict = _zoo(tmp_path, "plugins", "--strict")
    assert strict.returncode == 2 and "plugin 'broken'" in strict.stderr


def test_the_kit_checks_a_plugin_beside_a_broken_one(examples_installed, tmp_path):
    """Strict-mode conformance of one plugin is not spoiled by another plugin that is broken."""
    _broken_dist(tmp_path)
    code = "import zoo.testing as t; r = t.check_plugin('silero-vad'); print(r.checks[0])"
    done = subprocess.run(
        _nice(sys.executable, "-c", code),
        capture_output=True,
        text=True,
        env=_env(PYTHONPATH=str(tmp_path)),
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "other plugins skipped because they are broken: broken" in done.stdout
