"""The `zoo` command line."""

from __future__ import annotations

import json

import zoo
from zoo.cli import main

from .test_kws import EXAMPLES


def test_list_and_info(capsys):
    assert main(["list", "kws-*"]) == 0
    assert "kws-wav2vec2" in capsys.readouterr().out
    assert main(["info", "kws-wav2vec2"]) == 0
    assert "keyword-spotting" in capsys.readouterr().out


def test_unknown_model_exit_code_and_hint(capsys):
    assert main(["info", "kws-wav2vec"]) == 2
    assert "Did you mean 'kws-wav2vec2'" in capsys.readouterr().err


def test_run_json_lines(capsys, tmp_path):
    """One JSON line per input, in order, with its path; bad inputs are error records."""
    files = [str(EXAMPLES[0]), str(tmp_path / "missing.wav"), str(EXAMPLES[1])]
    assert main(["run", "kws-wav2vec2", *files, "--json", "--device", "cpu"]) == 0
    lines = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert [x["source"] for x in lines] == files
    assert lines[0]["type"] == "Classification" and "scores" in lines[0]
    assert lines[1]["type"] == "ErrorResult" and "no such file" in lines[1]["reason"]


def test_plugins_json(capsys):
    assert main(["plugins", "--json"]) == 0
    plugins = {p["name"]: p for p in json.loads(capsys.readouterr().out)}
    assert "keyword-spotting" in plugins["kws"]["tasks"]


def test_demo(capsys):
    assert main(["demo"]) == 0
    out = capsys.readouterr().out
    assert zoo.info("keyword-spotting").name in out and EXAMPLES[0].name in out
