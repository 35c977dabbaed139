"""`zoo new-plugin`: the generated package installs, is discovered, and its own tests pass as generated."""

from __future__ import annotations

import importlib
import os
import subprocess
import sys

import pytest

from zoo import ZooError
from zoo.cli import main
from zoo.scaffold import new_plugin, plugin_names
from zoo.testing import check_plugin


def _nice(*cmd: str) -> list[str]:
    return ["nice", "-n", "19", *cmd] if sys.platform != "win32" else list(cmd)


def test_names():
    n = plugin_names("zoo-bird-song", task="bird-song-detection")
    assert (n.plugin, n.dist, n.module, n.task, n.task_class, n.model) == (
        "zoo-bird-song",
        "zoo-bird-song",
        "zoo_bird_song",
        "bird-song-detection",
        "BirdSongDetection",
        "bird-song-energy",
    )


@pytest.mark.parametrize("name", ["Bird", "bird_song", "-bird", "9lives", "bird song"])
def test_bad_names_are_refused(name):
    with pytest.raises(ZooError, match="lower-case"):
        plugin_names(name)


def test_an_existing_task_is_refused(tmp_path):
    """The template creates a task; reusing an installed task's name would clash at registration."""
    with pytest.raises(ZooError, match="already provided.*existing task"):
        new_plugin("kwsx", task="keyword-spotting", directory=tmp_path / "p")


def test_a_non_empty_directory_is_refused(tmp_path):
    (tmp_path / "keep.txt").write_text("mine")
    with pytest.raises(ZooError, match="not empty"):
        new_plugin("bird", directory=tmp_path, check_tasks=False)


def test_cli_writes_the_package(tmp_path, capsys):
    """`zoo new-plugin NAME --task T --dir D` writes pyproject, module, README, test and safetensors weights."""
    assert main(["new-plugin", "owl", "--task", "owl-hoot-detection", "--dir", str(tmp_path / "p")]) == 0
    out = capsys.readouterr().out
    assert "plugin 'owl' with task 'owl-hoot-detection' and model 'owl-energy'" in out
    files = {p.relative_to(tmp_path / "p").as_posix() for p in (tmp_path / "p").rglob("*") if p.is_file()}
    assert files == {
        "pyproject.toml",
        "README.md",
        "zoo_owl/__init__.py",
        "zoo_owl/task.py",
        "zoo_owl/model.py",
        "zoo_owl/weights/owl-energy/model.safetensors",
        "tests/test_zoo_owl.py",
    }
    pyproject = (tmp_path / "p" / "pyproject.toml").read_text()
    assert '[project.entry-points."zoo.plugins"]\nowl = "zoo_owl"' in pyproject
    assert main(["new-plugin", "owl", "--dir", str(tmp_path / "p")]) == 2  # not empty: a clear error, no traceback


def test_generated_module_passes_the_kit_before_install(tmp_path, monkeypatch):
    """Loaded as an extra plugin object, the generated module passes every conformance check."""
    new_plugin("wren", directory=tmp_path / "p")
    monkeypatch.syspath_prepend(str(tmp_path / "p"))
    module = importlib.import_module("zoo_wren")
    report = check_plugin("wren", extra={"wren": module})
    assert report.ok and len(report.checks) == 7


@pytest.mark.slow
def test_generated_plugin_installs_and_its_tests_pass(tmp_path):
    """pip install -e the generated project, run its own pytest in a subprocess, then uninstall it."""
    root = new_plugin("scaffoldcheck", directory=tmp_path / "zoo-scaffoldcheck")
    pip = [sys.executable, "-m", "pip"]
    install = subprocess.run(
        _nice(*pip, "install", "-q", "--no-deps", "--no-build-isolation", "-e", str(root)),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert install.returncode == 0, install.stderr
    try:
        env = {k: v for k, v in os.environ.items() if k not in ("ZOO_PLUGINS", "ZOO_DISABLE_PLUGINS")}
        listed = subprocess.run(
            [sys.executable, "-m", "zoo.cli", "plugins"], capture_output=True, text=True, env=env, timeout=300
        )
        assert "scaffoldcheck" in listed.stdout and "scaffoldcheck-energy" in listed.stdout, listed.stdout
        tests = subprocess.run(
            _nice(sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"),
            cwd=root,
            capture_output=True,
            text=True,
            env=env,
            timeout=600,
        )
        assert tests.returncode == 0, tests.stdout + tests.stderr
        assert "2 passed" in tests.stdout
    finally:
        subprocess.run(_nice(*pip, "uninstall", "-y", "-q", "zoo-scaffoldcheck"), capture_output=True, timeout=300)
