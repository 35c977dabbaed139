"""The Task contract every task plugin implements.

A task turns inputs into typed results in three steps, and the runner owns
everything in between (decoding on workers, batching, devices, errors)::

    read(x)            -> item      decode one input (audio by default)
    preprocess(item)   -> [Chunk]   one chunk for a clip, several for long audio
    collate(chunks)    -> batch     pad to a batch, with lengths / masks
    forward(net, batch)-> [out]     one output per chunk, on the CPU
    postprocess(item, [out]) -> Result

A task never touches devices, ``inference_mode`` or batching. The same
contract serves clip classification, transcripts with timestamps (chunks carry
their offsets), separated sources (overlap-add in postprocess), captions and
generated audio (``read`` accepts a text prompt instead of audio).

A task also tells the CLI, the benchmarks and the conformance kit everything
they would otherwise have to guess from result attributes:

- ``input_kind``: ``"audio"`` (files, arrays), ``"prompt"`` (text) or ``"none"``
  (generation from nothing but a seed); ``zoo run`` offers ``--prompt``/``--num``
  and ``--seed`` from it.
- ``aliases`` (``"kws"``), ``headline_metrics`` (what ``zoo list`` shows).
- ``example_inputs`` / ``bad_inputs``: what conformance feeds every model.
- ``demo_inputs`` / ``matches``: what ``zoo demo`` runs and how it checks.
- ``bench_workload``: the inputs ``zoo bench`` times, and the seconds of audio
  they hold (the real-time factor's denominator; ``None`` without audio input).

Sampling tasks get a seed per item: wrap an input as ``Seeded(x, seed)`` (or
pass ``seed=`` to the model); the runner copies it onto every chunk of the item
(``Chunk.seed``), so a task that draws from a ``torch.Generator`` seeded per
chunk gives the same output whatever the batch and after an OOM retry.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Protocol

import numpy as np
import torch

from . import audio as zaudio
from .results import Result
from .signals import standard_signals

__all__ = [
    "INPUT_KINDS",
    "Chunk",
    "DemoInput",
    "ModelLike",
    "Seeded",
    "Task",
    "Workload",
    "audio_workload",
    "pad_batch",
    "unwrap_seed",
]

#: what a task takes as input (``Task.input_kind``)
INPUT_KINDS = ("audio", "prompt", "none")


class ModelLike(Protocol):
    """What a task and the runner use of a :class:`zoo.Model` (kept here so neither imports ``zoo.model``)."""

    card: Any
    task: Task
    net: Any
    device: torch.device
    dtype: torch.dtype


@dataclass(frozen=True)
class Seeded:
    """An input with its own sampling seed; the seed travels with the item through the runner.

    >>> Seeded("a calm piano melody", seed=3).seed
    3
    """

    value: Any
    seed: int


def unwrap_seed(x: Any) -> tuple[Any, int | None]:
    """``(input, seed)`` of a possibly :class:`Seeded` input."""
    if isinstance(x, Seeded):
        return x.value, int(x.seed)
    return x, None


@dataclass(frozen=True)
class DemoInput:
    """One input ``zoo demo`` runs, with the answer it should give (``None``: just show the result)."""

    input: Any
    expected: str | None = None


@dataclass(frozen=True)
class Workload:
    """What ``zoo bench`` times: the inputs, and the seconds of audio they hold (``None``: no audio input)."""

    inputs: list[Any]
    audio_s: float | None


@dataclass
class Chunk:
    """One unit of model input: a 1-D tensor plus where it came from.

    ``length`` is what the runner buckets by (samples for audio chunks);
    ``meta`` carries task data such as a window's start offset. A lazy chunk
    has ``data=None`` and a ``loader``; it is decoded only when its batch runs.
    """

    data: torch.Tensor | None
    length: int
    meta: dict[str, Any] = field(default_factory=dict)
    #: decodes ``data`` on demand (long files are read chunk by chunk, at collate time)
    loader: Callable[[], torch.Tensor] | None = field(default=None, repr=False)
    #: the item's sampling seed (set by the runner from :class:`Seeded` inputs; None: unseeded)
    seed: int | None = None

    def load(self) -> torch.Tensor:
        """The chunk's tensor, decoding it now when the chunk is lazy."""
        if self.data is not None:
            return self.data
        if self.loader is None:
            raise ValueError("a Chunk needs data or a loader")
        return self.loader()


class Task:
    """Base class for tasks. Subclasses set ``name`` and ``result_type``.

    Override :meth:`preprocess`, :meth:`forward` and :meth:`postprocess`;
    :meth:`read` and :meth:`collate` have defaults for mono audio.
    """

    name: ClassVar[str] = ""
    result_type: ClassVar[type[Result]] = Result
    description: ClassVar[str] = ""
    #: keys a registry card of this task must carry beyond the common ones
    required_card_keys: ClassVar[tuple[str, ...]] = ()
    #: the ``transformers.pipeline`` task that does the same job (the benchmark baseline)
    hf_pipeline_task: ClassVar[str | None] = None
    #: :class:`zoo.runner.RunnerConfig` defaults that suit this task (e.g. a bigger sample budget)
    runner_defaults: ClassVar[dict[str, Any]] = {}
    #: what the task takes: "audio" (files, arrays), "prompt" (text) or "none" (only a seed)
    input_kind: ClassVar[str] = "audio"
    #: a "prompt" task that also generates from nothing (``zoo run TASK`` with no prompt: ``--num`` inputs of None)
    prompt_optional: ClassVar[bool] = False
    #: short names the CLI accepts for the task, e.g. ("kws",)
    aliases: ClassVar[tuple[str, ...]] = ()
    #: card metric keys that sum a model up, best first (``zoo list`` shows the first one found)
    headline_metrics: ClassVar[tuple[str, ...]] = ()

    def describe(self, x: Any) -> str:
        """The ``source`` of an input's result: a path, ``"<array>"``, or the prompt itself."""
        if self.input_kind == "prompt" and isinstance(x, str):
            return x
        if self.input_kind == "none":
            return "<generated>"
        return zaudio.describe(x)

    def headline(self, card: Any) -> str:
        """The card's headline measurement, e.g. ``"accuracy=0.79 (speech-commands-dev-heldout)"``."""
        for key in self.headline_metrics:
            for dataset, values in card.metrics.items():
                if key in values:
                    return f"{key}={values[key]} ({dataset})"
        return ""

    def example_inputs(self, model: ModelLike, tmp: Path) -> dict[str, Any]:
        """Named inputs every model of the task must handle (the conformance kit's standard signals).

        Audio tasks get silence, noise, tones and a speech-like signal at the
        card's rate, of different lengths (so batching pads), plus one as a file
        in ``tmp``. Prompt and generation tasks override this.
        """
        rate = model.card.sample_rate
        signals = standard_signals(rate)
        path = tmp / "speech-like.wav"
        zaudio.save(path, zaudio.Audio(torch.from_numpy(signals["speech-like"])[None], rate), subtype="FLOAT")
        return {**{name: (x, rate) for name, x in signals.items()}, "speech-like as a file": str(path)}

    def bad_inputs(self, model: ModelLike, tmp: Path) -> dict[str, Any]:
        """Named inputs that must give an :class:`zoo.ErrorResult` (and leave their batch-mates alone).

        For audio tasks: a missing file, NaN samples and every input the
        hostile-input corpus (:mod:`zoo.hostile`) expects to fail.
        """
        if self.input_kind != "audio":
            return {}
        from .hostile import hostile_cases

        nan = standard_signals(model.card.sample_rate)["tone-440hz"].copy()
        nan[len(nan) // 3] = np.nan
        corpus = tmp / "hostile"
        corpus.mkdir(parents=True, exist_ok=True)
        hostile = {c.name: c.input for c in hostile_cases(model.card.sample_rate, corpus) if c.expect == "error"}
        return {"a missing file": str(tmp / "no-such-file.wav"), "NaN samples": (nan, model.card.sample_rate)} | hostile

    def demo_inputs(self, directory: Path | None = None) -> list[DemoInput]:
        """What ``zoo demo`` runs: the plugin's bundled examples, or those in ``directory`` (default: none)."""
        return []

    def matches(self, result: Result, expected: str) -> bool:
        """Whether a demo result gives the expected answer (default: its summary equals it)."""
        return result.ok and result.summary() == expected

    def quality_results(self, model: ModelLike, examples: Sequence[Any]) -> list[Result]:
        """The results ``zoo bench`` scores a dataset's examples by (default: the model run on each ``path``).

        A task whose benchmark number is not a function of ordinary outputs
        overrides this, e.g. music generation returns each chorale's exact
        likelihood, which sampling cannot give.
        """
        return model([e.path for e in examples], progress=True)  # type: ignore[operator]

    def bench_workload(
        self, model: ModelLike, examples: Sequence[Any], n: int, lengths_s: tuple[float, float], tmp: Path
    ) -> Workload:
        """``n`` inputs for speed jobs, made from a dataset's examples (default: :func:`audio_workload`)."""
        return audio_workload(examples, n, lengths_s, tmp, model.card.sample_rate)

    def speed_baselines(self, model: ModelLike, inputs: Sequence[Any], names: Sequence[str]) -> list[Any]:
        """Other tools doing this task's job, timed beside the zoo by ``zoo bench`` speed jobs.

        ``names`` are the job's ``baselines``; return a :class:`zoo.bench.timing.Contestant`
        for each one this task knows (e.g. ``faster-whisper`` for speech recognition),
        set up to process the same ``inputs``. Default: none.
        """
        return []

    def check_card(self, card: Any) -> None:
        """Raise :class:`zoo.RegistryError` if ``card`` cannot serve this task."""
        from .errors import RegistryError

        for key in self.required_card_keys:
            if not getattr(card, key, None):
                raise RegistryError(card.name, key, f"is required for task {self.name!r}")

    def read(self, model: ModelLike, x: Any) -> Any:
        """Decode one input. Runs on a background worker."""
        return zaudio.load(x, model.card.sample_rate)

    def preprocess(self, model: ModelLike, item: Any) -> list[Chunk]:
        """Split an item into chunks. Default: the whole mono clip is one chunk."""
        wav = item.mono()
        return [Chunk(wav, int(wav.shape[-1]))]

    def collate(self, model: ModelLike, chunks: Sequence[Chunk]) -> dict[str, torch.Tensor]:
        """Zero-pad 1-D chunk tensors into ``{"inputs": (B, T), "lengths": (B,)}``."""
        return pad_batch([c.load() for c in chunks])

    def forward(self, model: ModelLike, batch: dict[str, torch.Tensor]) -> list[Any]:
        """Run the network on a collated batch; return one CPU output per chunk."""
        raise NotImplementedError

    def postprocess(self, model: ModelLike, item: Any, chunks: Sequence[Chunk], outputs: Sequence[Any]) -> Result:
        """Turn the outputs of an item's chunks into its typed result."""
        raise NotImplementedError


def audio_workload(
    examples: Sequence[Any], n: int, lengths_s: tuple[float, float], tmp: Path, rate: int, seed: int = 0
) -> Workload:
    """``n`` audio files: dataset clips as they are (``lengths_s == (1, 1)``) or joined/cropped to random lengths."""
    rng = random.Random(seed)
    lo, hi = lengths_s
    picks = [examples[i % len(examples)] for i in rng.sample(range(len(examples)), min(len(examples), n))]
    while len(picks) < n:
        picks.append(rng.choice(examples))
    if lo == hi == 1.0:
        files = [e.path for e in picks]
        return Workload(files, sum(zaudio.info(f).duration_s for f in files))
    files = []
    for i, e in enumerate(picks):
        target = int(rng.uniform(lo, hi) * rate)
        pieces, total = [], 0
        while total < target:
            x = zaudio.load(rng.choice(examples).path if pieces else e.path, rate).mono()
            pieces.append(x)
            total += len(x)
        path = tmp / f"mixed_{i:03d}.wav"
        zaudio.save(path, zaudio.Audio(torch.cat(pieces)[:target][None], rate), subtype="PCM_16")
        files.append(str(path))
    return Workload(files, sum(zaudio.info(f).duration_s for f in files))


def pad_batch(tensors: Sequence[torch.Tensor], pad_value: float = 0.0) -> dict[str, torch.Tensor]:
    """Right-pad 1-D tensors to a ``(B, T)`` batch with their ``lengths``."""
    lengths = torch.tensor([int(t.shape[-1]) for t in tensors], dtype=torch.long)
    out = tensors[0].new_full((len(tensors), int(lengths.max())), pad_value)
    for i, t in enumerate(tensors):
        out[i, : t.shape[-1]] = t
    return {"inputs": out, "lengths": lengths}
