"""The Result contract (summary, compact to_dict, save, tensor-aware ==) and per-item seeds in the runner."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pytest
import soundfile as sf
import torch

import zoo
from zoo.registry import card_from_entry
from zoo.results import INLINE_MAX, Classification, ErrorResult, Result, Transcript, Word, values_equal
from zoo.task import Chunk, Seeded, Task


@dataclass(frozen=True)
class Noise(Result):
    """A result holding audio, like a separated or generated one."""

    audio: torch.Tensor
    sample_rate: int
    seed: int | None = None

    audio_fields: ClassVar[tuple[str, ...]] = ("audio",)

    def summary(self) -> str:
        return f"{self.audio.shape[-1] / self.sample_rate:.2f} s of noise"


def test_summaries_are_one_line():
    """Each built-in result type sums itself up in one line."""
    assert Classification("a.wav", "yes", 0.93).summary() == "yes (0.930)"
    assert Transcript("a.wav", "hello world").summary() == "hello world"
    assert ErrorResult("a.wav", "AudioError", "no such file\ndetails").summary() == "error: no such file"


def test_to_dict_describes_large_tensors_and_keeps_small_ones():
    """Audio fields become shape/dtype/rate/path, never sample lists; short vectors stay inline."""
    r = Noise("<array>", torch.zeros(2, 48000), 16000)
    d = r.to_dict()
    assert d["audio"] == {"shape": [2, 48000], "dtype": "float32", "sample_rate": 16000, "path": None}
    assert len(json.dumps(d)) < 300
    small = Noise("<array>", torch.ones(INLINE_MAX), 16000).to_dict()
    assert small["audio"] == [1.0] * INLINE_MAX
    words = Transcript("a.wav", "hi", words=(Word("hi", 0.1, 0.4),)).to_dict()
    assert words["words"] == [{"text": "hi", "start_s": 0.1, "end_s": 0.4, "score": None}]


def test_save_writes_audio_text_and_json(tmp_path):
    """save() writes audio fields as wav, text as .txt and a JSON that points at the wav."""
    r = Noise("in/clip.wav", 0.1 * torch.ones(1, 800), 8000)
    paths = r.save(tmp_path)
    assert [p.name for p in paths] == ["clip.audio.wav", "clip.json"]
    data, rate = sf.read(paths[0], dtype="float32")
    assert rate == 8000 and data.shape == (800,) and np.allclose(data, 0.1)
    saved = json.loads(paths[1].read_text())
    assert saved["audio"]["path"] == str(paths[0]) and r.to_dict()["audio"]["path"] == str(paths[0])
    t = Transcript("<array>", "hello").save(tmp_path / "t", stem="first")
    assert [p.name for p in t] == ["first.txt", "first.json"] and t[0].read_text() == "hello\n"
    assert ErrorResult("x.wav", "AudioError", "bad").save(tmp_path / "e")[0].name == "x.json"


def test_equality_compares_tensor_fields_by_value():
    """== works on results holding tensors (and arrays), inside containers too."""
    a = Noise("a", torch.arange(100.0)[None], 16000)
    assert a == Noise("a", torch.arange(100.0)[None], 16000)
    assert a != Noise("a", torch.arange(100.0)[None] + 1, 16000)
    assert a != Noise("a", torch.arange(50.0)[None], 16000)
    assert Classification("a", "yes", 0.5, {"yes": 0.5}) == Classification("a", "yes", 0.5, {"yes": 0.5})
    assert values_equal({"x": np.ones(3)}, {"x": np.ones(3)}) and not values_equal(np.ones(3), torch.ones(3))
    assert a != "a"


# -- per-item seeds ---------------------------------------------------------
class NoiseTask(Task):
    """Draws noise from a generator seeded per chunk: the output depends only on the item's seed."""

    name = "toy-noise"
    result_type = Noise
    description = "Seeded noise as long as the input"

    def collate(self, model: Any, chunks: Sequence[Chunk]) -> dict[str, torch.Tensor]:
        batch = super().collate(model, chunks)
        batch["seeds"] = torch.tensor([-1 if c.seed is None else c.seed for c in chunks])
        return batch

    def forward(self, model: Any, batch: dict[str, torch.Tensor]) -> list[torch.Tensor]:
        model.net.batches.append(len(batch["seeds"]))
        if len(batch["seeds"]) > model.net.fits:
            raise RuntimeError("CUDA out of memory (simulated)")
        out = []
        for n, seed in zip(batch["lengths"].tolist(), batch["seeds"].tolist()):
            g = torch.Generator().manual_seed(seed)
            out.append(torch.randn(1, n, generator=g))
        return out

    def postprocess(self, model: Any, item: Any, chunks: Sequence[Chunk], outputs: Sequence[Any]) -> Noise:
        return Noise(item.source, outputs[0], model.card.sample_rate, chunks[0].seed)


class _Net:
    def __init__(self, fits: int) -> None:
        self.fits, self.batches = fits, []


def _noise_model(fits: int = 1000) -> zoo.Model:
    entry = {
        "task": "toy-noise",
        "architecture": "none",
        "weights": {"path": "/nowhere"},
        "sample_rate": 8000,
        "license": "CC0-1.0",
        "provenance": {"source": "tests"},
    }
    card = card_from_entry("toy-noise", entry, Path("."))
    return zoo.Model(card, NoiseTask(), _Net(fits), torch.device("cpu"), torch.float32)


@pytest.fixture()
def clips():
    rng = np.random.default_rng(0)
    return [(rng.standard_normal(n).astype(np.float32), 8000) for n in (800, 1600, 400, 1200, 2000, 600)]


def test_seeds_travel_with_items_through_buckets_and_oom_retries(clips):
    """The same seeded item gives the same output alone, in any batch, and after an OOM back-off."""
    alone = [_noise_model()([Seeded(x, 10 + i)], batch_size=1)[0] for i, x in enumerate(clips)]
    batched = _noise_model()(clips, seed=10, batch_size=6, max_batch_samples=10**9)
    tight = _noise_model(fits=2)
    retried = tight(clips[::-1], seed=0, batch_size=6, max_batch_samples=10**9)
    assert all(r.ok for r in alone + batched + retried)
    assert batched == alone
    assert [r.seed for r in batched] == list(range(10, 16))
    assert tight.net.batches[0] == 6 and tight.net.batches[-1] <= 2  # it backed off
    again = _noise_model()([Seeded(x, i) for i, x in enumerate(clips[::-1])], batch_size=1)
    assert retried == again


def test_unseeded_items_have_no_seed(clips):
    """Without seed= the chunks carry None: the task decides what unseeded sampling means."""
    assert [r.seed for r in _noise_model()(clips[:2])] == [None, None]
