"""The CLI asks the task and the result, never a task's fields: input kinds, --out, --seed, aliases, demo."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import pytest
import soundfile as sf
import torch

import zoo
from zoo.cli import main
from zoo.plugins import Zoo
from zoo.results import Result
from zoo.task import Chunk, Task

from .test_kws import EXAMPLES


@dataclass(frozen=True)
class Hum(Result):
    audio: torch.Tensor
    sample_rate: int
    seed: int | None = None
    audio_fields: ClassVar[tuple[str, ...]] = ("audio",)

    def summary(self) -> str:
        return f"hum, seed {self.seed}"


class HumTask(Task):
    """A generation task that takes nothing but a seed: 0.1 s of seeded noise."""

    name = "toy-hum"
    result_type = Hum
    description = "Seeded noise"
    input_kind = "none"
    aliases = ("hum",)

    def read(self, model: Any, x: Any) -> Any:
        return x

    def preprocess(self, model: Any, item: Any) -> list[Chunk]:
        return [Chunk(torch.zeros(800), 800)]

    def collate(self, model: Any, chunks: Sequence[Chunk]) -> dict[str, Any]:
        return {"seeds": [c.seed or 0 for c in chunks]}

    def forward(self, model: Any, batch: dict[str, Any]) -> list[Any]:
        return [(s, torch.randn(1, 800, generator=torch.Generator().manual_seed(s))) for s in batch["seeds"]]

    def postprocess(self, model: Any, item: Any, chunks: Sequence[Chunk], outputs: Sequence[Any]) -> Hum:
        seed, audio = outputs[0]
        return Hum("<generated>", audio, 8000, seed)


class HumPlugin:
    @zoo.hookimpl
    def register_tasks(self, register):
        register(HumTask())

    @zoo.hookimpl
    def register_architectures(self, register):
        register("toy-hum-net", lambda card, weights_dir, device, dtype: None, task="toy-hum")

    @zoo.hookimpl
    def register_models(self, register):
        entry = {
            "task": "toy-hum",
            "architecture": "toy-hum-net",
            "weights": {"path": "."},
            "sample_rate": 8000,
            "license": "CC0-1.0",
            "provenance": {"source": "tests"},
        }
        register("hum-toy", entry, base_dir=Path(__file__).parent)


@pytest.fixture()
def with_hum(monkeypatch):
    """The process-wide zoo with the toy generation plugin added."""
    monkeypatch.setattr(zoo, "_zoo", Zoo().load(extra={"hum": HumPlugin()}))


def test_run_out_saves_each_result(capsys, tmp_path):
    """--out writes every result's files (JSON and, for a transcript, text) under unique stems."""
    out = tmp_path / "out"
    files = [str(EXAMPLES[0]), str(EXAMPLES[0])]
    assert main(["run", "kws", *files, "--out", str(out), "--device", "cpu"]) == 0
    stem = EXAMPLES[0].stem
    assert sorted(p.name for p in out.iterdir()) == sorted([f"{stem}.json", f"{stem}-1.json"])
    assert json.loads((out / f"{stem}.json").read_text())["label"]
    assert "wrote 2 file(s)" in capsys.readouterr().err


def test_audio_tasks_refuse_prompts(capsys):
    assert main(["run", "kws", "--prompt", "hello"]) == 2
    assert "takes audio files" in capsys.readouterr().err


def test_generation_task_takes_num_and_seed(with_hum, capsys, tmp_path):
    """A task with input_kind 'none' runs from --num/--seed; the seed decides the output, not the batch."""
    assert main(["run", "hum", "--num", "3", "--seed", "5", "--out", str(tmp_path), "--json"]) == 0
    lines = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert [x["seed"] for x in lines] == [5, 6, 7]
    assert lines[0]["audio"]["shape"] == [1, 800] and Path(lines[0]["audio"]["path"]).is_file()
    data, rate = sf.read(lines[1]["audio"]["path"], dtype="float32")
    expected = torch.randn(1, 800, generator=torch.Generator().manual_seed(6))[0].numpy()
    assert rate == 8000 and abs(data - expected).max() < 1e-6
    assert main(["run", "hum", "some.wav"]) == 2
    assert "takes no input" in capsys.readouterr().err


def test_list_headline_comes_from_the_task(capsys):
    """`zoo list` shows each card's headline metric as its task names it."""
    assert main(["list", "--task", "kws"]) == 0
    out = capsys.readouterr().out
    assert "accuracy=" in out and "speech-recognition" not in out
