"""The source-separation task: the sources heard in a mixture, long recordings in overlapping windows."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from zoo import Task
from zoo import audio as zaudio
from zoo.task import Chunk, DemoInput

from .chunking import overlap_add, plan_windows
from .results import Separated

__all__ = ["Mixture", "SourceSeparation"]

#: inputs shorter than this are zero-padded before the network (and cropped back after)
MIN_SAMPLES_S = 0.25


@dataclass(frozen=True)
class Mixture:
    """A decoded input at the model's rate (``wav``), or a long file read window by window (``wav is None``)."""

    source: str
    num_samples: int
    input_rate: int
    wav: torch.Tensor | None = None
    path: str | None = None

    def segment(self, start: int, end: int, rate: int) -> torch.Tensor:
        if self.wav is not None:
            return self.wav[start:end]
        seg = zaudio.load_segment(self.path, start / rate, end / rate, rate).mono()  # type: ignore[arg-type]
        n = end - start
        return seg[:n] if seg.numel() >= n else torch.nn.functional.pad(seg, (0, n - seg.numel()))


class SourceSeparation(Task):
    """Split a mixture into its sources (two speakers for the built-in models).

    Inputs of any rate and channel count are mixed to mono and resampled to the
    model's rate. Recordings longer than ``window_s`` (card param, default 8 s)
    are separated in windows overlapping by ``overlap_s`` (default 1 s); files
    longer than ``stream_s`` (default 120 s) are decoded window by window, so an
    hour-long file never sits in memory as float32 at the input's rate. Each
    window's sources are put in the order that best matches the previous
    window's on their overlap, then cross-faded (:mod:`.chunking`). Sources come
    back at the input's sample rate (``params.output_rate: model`` keeps the
    model's). A silent window gives silent sources without running the network.
    A model whose sources have fixed roles (speech, residual) sets
    ``params.align_sources: false``.
    """

    name = "source-separation"
    result_type = Separated
    description = "Separate the voices in a mixture (two speakers), long recordings in overlapping windows"
    aliases = ("separation", "separate", "sep")
    headline_metrics = ("si_sdri",)
    known_params = ("window_s", "overlap_s", "stream_s", "output_rate", "silence_db", "align_sources")
    runner_defaults = {"max_batch_samples": 8 * 8 * 8000}

    def demo_inputs(self, directory: Path | None = None) -> list[DemoInput]:
        """Mixtures to separate (default: the bundled one, two synthesised voices); the demo shows the result."""
        return [DemoInput(str(p)) for p in sorted((directory or Path(__file__).parent / "examples").glob("*.wav"))]

    def read(self, model: Any, x: Any) -> Mixture:
        rate = model.card.sample_rate
        if isinstance(x, (str, os.PathLike)) and Path(x).is_file():
            meta = zaudio.info(x)
            if meta.duration_s > float(model.card.params.get("stream_s", 120.0)):
                n = int(meta.num_frames * rate / meta.sample_rate)
                return Mixture(os.fspath(x), n, int(meta.sample_rate), path=os.fspath(x))
        decoded = zaudio.load(x, None, default_rate=rate)
        wav = zaudio.resample(decoded.waveform, decoded.sample_rate, rate)[0]
        return Mixture(zaudio.describe(x), int(wav.numel()), decoded.sample_rate, wav=wav.contiguous())

    def preprocess(self, model: Any, item: Mixture) -> list[Chunk]:
        params, rate = model.card.params, model.card.sample_rate
        window = int(float(params.get("window_s", 8.0)) * rate)
        overlap = int(float(params.get("overlap_s", 1.0)) * rate)
        minimum = int(MIN_SAMPLES_S * rate)
        chunks = []
        for start, end in plan_windows(item.num_samples, window, overlap):
            length = max(end - start, minimum)
            meta = {"window": (start, end)}
            load = lambda a=start, b=end, n=length: _pad_to(item.segment(a, b, rate), n)  # noqa: E731
            if item.wav is not None:
                chunks.append(Chunk(load(), length, meta))
            else:
                chunks.append(Chunk(None, length, meta, loader=load))
        return chunks

    def forward(self, model: Any, batch: dict[str, torch.Tensor]) -> list[torch.Tensor]:
        """Rows of one length run together, unpadded: a separator's convolutions and global norms
        would otherwise see the padding, and a batched result would differ from a single one."""
        x, lengths = batch["inputs"], batch["lengths"]
        threshold = 10 ** (float(model.card.params.get("silence_db", -90.0)) / 20)
        outs: list[torch.Tensor] = [torch.zeros(model.net.n_src, int(n)) for n in lengths]
        for n in sorted({int(v) for v in lengths}):
            rows = [i for i, v in enumerate(lengths) if int(v) == n and float(x[i, :n].abs().max()) > threshold]
            if rows:
                est = model.net(x[rows, :n]).float().cpu()
                for j, i in enumerate(rows):
                    outs[i] = est[j]
        return outs

    def postprocess(self, model: Any, item: Mixture, chunks: Sequence[Chunk], outputs: Sequence[Any]) -> Separated:
        rate = model.card.sample_rate
        windows = [c.meta["window"] for c in chunks]
        align = bool(model.card.params.get("align_sources", True))
        sources = overlap_add(windows, list(outputs), max(item.num_samples, 0), align=align)
        out_rate = rate if model.card.params.get("output_rate", "input") == "model" else item.input_rate
        if out_rate != rate:
            sources = _resample_blocks(sources, rate, out_rate)
        return Separated(source=item.source, sources=sources.contiguous(), sample_rate=int(out_rate))

    def speed_baselines(self, model: Any, inputs: Sequence[Any], names: Sequence[str]) -> list[Any]:
        from .baselines import asteroid_baselines

        return asteroid_baselines(model, inputs, names)


def _pad_to(x: torch.Tensor, n: int) -> torch.Tensor:
    return x if x.numel() >= n else torch.nn.functional.pad(x, (0, n - x.numel()))


def _resample_blocks(x: torch.Tensor, orig: int, new: int, block_s: float = 30.0, margin: int = 256) -> torch.Tensor:
    """Resample ``(n, T)`` block by block (``margin`` samples of context each side) into one preallocated tensor."""
    import math

    total = x.shape[-1]
    n_out = -(-total * new // orig)
    unit = orig // math.gcd(orig, new)  # block edges on multiples of this fall on the output's sample grid
    block = max(unit, int(block_s * orig) // unit * unit)
    margin = -(-margin // unit) * unit
    if total <= block:
        return zaudio.resample(x, orig, new)[:, :n_out]
    out = x.new_zeros(x.shape[0], n_out)
    for start in range(0, total, block):
        end = min(total, start + block)
        lo, hi = max(0, start - margin), min(total, end + margin)
        y = zaudio.resample(x[:, lo:hi], orig, new)
        a, b = start * new // orig, min(n_out, -(-end * new // orig))
        skip = (start - lo) * new // orig
        out[:, a:b] = y[:, skip : skip + b - a]
    return out
