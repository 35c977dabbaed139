"""The result of source separation: :class:`Separated`."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import torch

from zoo import Result

__all__ = ["Separated"]


@dataclass(frozen=True, eq=False)
class Separated(Result):
    """The sources heard in a mixture: ``sources`` is float32 ``(n_sources, samples)`` at ``sample_rate``.

    ``save(dir)`` writes ``source_0.wav``, ``source_1.wav``, ... (and
    ``<stem>.json``); with an explicit ``stem`` (as ``zoo run`` passes, so that
    several inputs can share a folder) the files are ``<stem>.source_0.wav``, ...

    >>> r = Separated(source="mix.wav", sources=torch.zeros(2, 8000), sample_rate=8000)
    >>> r.summary(), r.num_sources, r.duration_s
    ('2 sources, 1.00 s at 8000 Hz', 2, 1.0)
    """

    sources: torch.Tensor
    sample_rate: int

    #: ``save`` writes each source itself (see :meth:`write_outputs`)
    audio_fields: ClassVar[tuple[str, ...]] = ()

    @property
    def num_sources(self) -> int:
        return int(self.sources.shape[0])

    @property
    def duration_s(self) -> float:
        return int(self.sources.shape[-1]) / self.sample_rate

    def summary(self) -> str:
        return f"{self.num_sources} sources, {self.duration_s:.2f} s at {self.sample_rate} Hz"

    def save(self, directory: str | os.PathLike, stem: str | None = None) -> list[Path]:
        object.__setattr__(self, "_plain_names", stem is None)
        return super().save(directory, stem)

    def write_outputs(self, directory: Path, stem: str) -> dict[str, Path]:
        from zoo import audio as zaudio

        prefix = "" if getattr(self, "_plain_names", False) else f"{stem}."
        written = {}
        for i, wav in enumerate(torch.as_tensor(self.sources).float()):
            path = directory / f"{prefix}source_{i}.wav"
            zaudio.save(path, zaudio.Audio(wav[None].contiguous(), int(self.sample_rate)), subtype="FLOAT")
            written[f"source_{i}"] = path
        return written

    def to_dict(self, paths: Any = None) -> dict[str, Any]:
        """As :meth:`Result.to_dict`, with the files ``save`` wrote for each source under ``files``."""
        out = super().to_dict(paths)
        saved = dict(getattr(self, "_saved_paths", {}) if paths is None else paths)
        out["sources"]["path"] = None
        out["files"] = [saved[k] for k in sorted(saved) if k.startswith("source_")]
        return out
