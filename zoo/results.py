"""Typed, frozen results returned by zoo models.

Each task returns one result per input, in input order. An input that failed
gets an :class:`ErrorResult` in its place, so a batch never loses the results
of its other items.

Every result answers the same four questions, so the CLI, the benchmarks, the
server and the conformance kit never look at a task's fields:

- ``summary()``: one line for a table (``"yes (0.93)"``, the transcript text).
- ``to_dict()``: a compact JSON-ready dict. Tensors and arrays of more than
  :data:`INLINE_MAX` elements are described, never listed:
  ``{"shape": [...], "dtype": ..., "sample_rate": ..., "path": <where save() wrote it, or None>}``.
- ``save(directory)``: writes its outputs (audio fields as wav, text as
  ``.txt``, MIDI/PNG where a subclass overrides :meth:`Result.write_outputs`)
  and a ``<stem>.json`` of ``to_dict()``; returns the paths.
- ``==``: field by field; tensor and array fields compare by value, so results
  holding audio can be compared (batch versus single, cached versus fresh).

A subclass declares its audio fields in ``audio_fields`` (float32
``(channels, samples)`` or ``(sources, samples)`` at the result's
``sample_rate``) and its text field in ``text_field``; ``save`` follows them.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch

__all__ = ["INLINE_MAX", "Classification", "ErrorResult", "Result", "Transcript", "Word", "values_equal"]

#: tensors and arrays with more elements than this are described in ``to_dict()``, not listed
INLINE_MAX = 16


@dataclass(frozen=True, eq=False)
class Result:
    """Base of every result. ``source`` names the input (a path, ``"<array>"``, or a prompt)."""

    source: str

    #: fields holding audio at ``self.sample_rate``: ``save()`` writes each as ``<stem>.<field>.wav``
    audio_fields: ClassVar[tuple[str, ...]] = ()
    #: the field holding the result's text, if any: ``save()`` writes it as ``<stem>.txt``
    text_field: ClassVar[str | None] = None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        # @dataclass (applied after this runs) keeps an __eq__ already in the class dict, so every
        # subclass, whatever its dataclass options, compares tensor fields by value.
        if "__eq__" not in cls.__dict__:
            cls.__eq__ = Result.__eq__  # type: ignore[method-assign]

    @property
    def ok(self) -> bool:
        return True

    def summary(self) -> str:
        """One line describing the result, for tables and logs."""
        return type(self).__name__

    def to_dict(self, paths: Mapping[str, str | os.PathLike] | None = None) -> dict[str, Any]:
        """A compact JSON-ready dict, with the result type under ``"type"``.

        Args:
            paths: where large fields were written, by field name (default:
                what the last :meth:`save` of this result wrote).

        >>> import torch
        >>> r = Classification(source="a.wav", label="yes", score=0.5)
        >>> r.to_dict()["label"], r.to_dict()["type"]
        ('yes', 'Classification')
        """
        paths = dict(getattr(self, "_saved_paths", {}) if paths is None else paths)
        rate = getattr(self, "sample_rate", None)
        out: dict[str, Any] = {"type": type(self).__name__}
        for f in dataclasses.fields(self):
            path = paths.get(f.name)
            out[f.name] = _jsonable(getattr(self, f.name), rate, os.fspath(path) if path is not None else None)
        return out

    @property
    def stem(self) -> str:
        """The default file stem for :meth:`save`: the input file's stem, else the result type."""
        name = Path(self.source).stem if self.source and not self.source.startswith("<") else ""
        # prompts are sources too: keep a file-name-safe prefix
        return re.sub(r"[^\w.-]+", "_", name).strip("_.")[:60] or type(self).__name__.lower()

    def save(self, directory: str | os.PathLike, stem: str | None = None) -> list[Path]:
        """Write this result's outputs and ``<stem>.json`` into ``directory``; return the paths written.

        >>> import tempfile
        >>> with tempfile.TemporaryDirectory() as d:
        ...     [p.name for p in Transcript(source="x/a.wav", text="hi").save(d)]
        ['a.txt', 'a.json']
        """
        out_dir = Path(directory)
        out_dir.mkdir(parents=True, exist_ok=True)
        stem = stem or self.stem
        written = self.write_outputs(out_dir, stem)
        # a record of where the outputs went (not a field: it does not change what the result is)
        object.__setattr__(self, "_saved_paths", {k: os.fspath(v) for k, v in written.items()})
        json_path = out_dir / f"{stem}.json"
        json_path.write_text(json.dumps(self.to_dict(), indent=2, ensure_ascii=False) + "\n")
        return [*written.values(), json_path]

    def write_outputs(self, directory: Path, stem: str) -> dict[str, Path]:
        """Write the files other than the JSON; return them by field name.

        The default writes ``audio_fields`` as wav (through :mod:`zoo.audio`) and
        ``text_field`` as text. Override to add MIDI, images and the like.
        """
        written: dict[str, Path] = {}
        for name in self.audio_fields:
            value = getattr(self, name)
            if value is None:
                continue
            from . import audio as zaudio

            wav = torch.as_tensor(np.asarray(value) if not isinstance(value, torch.Tensor) else value)
            wav = wav.detach().float().cpu()
            wav = wav.reshape(1, -1) if wav.dim() == 1 else wav.reshape(-1, wav.shape[-1])
            path = directory / f"{stem}.{name}.wav"
            zaudio.save(path, zaudio.Audio(wav, int(self.sample_rate)), subtype="FLOAT")  # type: ignore[attr-defined]
            written[name] = path
        if self.text_field is not None and getattr(self, self.text_field) is not None:
            path = directory / f"{stem}.txt"
            path.write_text(str(getattr(self, self.text_field)) + "\n", encoding="utf-8")
            written[self.text_field] = path
        return written

    def __eq__(self, other: object) -> bool:
        if other is self:
            return True
        if type(other) is not type(self):
            return NotImplemented
        return all(
            values_equal(getattr(self, f.name), getattr(other, f.name)) for f in dataclasses.fields(self) if f.compare
        )

    __hash__ = None  # type: ignore[assignment]  # results hold dicts and tensors: not hashable


def values_equal(a: Any, b: Any) -> bool:
    """Equality that also works on tensors and arrays (same shape, dtype and values), inside containers too.

    >>> values_equal({"x": torch.ones(3)}, {"x": torch.ones(3)}), values_equal(torch.ones(2), torch.ones(3))
    (True, False)
    """
    if a is b:
        return True
    if isinstance(a, torch.Tensor) or isinstance(b, torch.Tensor):
        if not (isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor)):
            return False
        return a.dtype == b.dtype and a.shape == b.shape and torch.equal(a.detach().cpu(), b.detach().cpu())
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        if not (isinstance(a, np.ndarray) and isinstance(b, np.ndarray)):
            return False
        return a.dtype == b.dtype and a.shape == b.shape and bool(np.array_equal(a, b))
    if isinstance(a, Mapping) and isinstance(b, Mapping):
        return a.keys() == b.keys() and all(values_equal(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return type(a) is type(b) and len(a) == len(b) and all(values_equal(x, y) for x, y in zip(a, b))
    if dataclasses.is_dataclass(a) and not isinstance(a, type) and type(a) is type(b):
        return all(values_equal(getattr(a, f.name), getattr(b, f.name)) for f in dataclasses.fields(a) if f.compare)
    return bool(a == b)


@dataclass(frozen=True)
class ErrorResult(Result):
    """An input that could not be processed: where it came from and why."""

    error: str
    reason: str

    @property
    def ok(self) -> bool:
        return False

    def summary(self) -> str:
        """``"error: <reason>"`` (the first line of the reason).

        >>> ErrorResult(source="a.wav", error="AudioError", reason="no such file").summary()
        'error: no such file'
        """
        return f"error: {self.reason.splitlines()[0] if self.reason else self.error}"


@dataclass(frozen=True)
class Classification(Result):
    """A clip-level label with its score and the full score table.

    >>> c = Classification(source="clip.wav", label="yes", score=0.9, scores={"yes": 0.9, "no": 0.1})
    >>> c.label, c.top(1)
    ('yes', [('yes', 0.9)])
    """

    label: str
    score: float
    scores: Mapping[str, float] = field(default_factory=dict)
    #: the window of a long input the label came from (None: the whole input)
    start_s: float | None = None
    end_s: float | None = None

    def top(self, k: int = 5) -> list[tuple[str, float]]:
        """The ``k`` best labels with their scores, best first."""
        return sorted(self.scores.items(), key=lambda kv: -kv[1])[:k]

    def summary(self) -> str:
        """``"label (score)"``.

        >>> Classification(source="a.wav", label="yes", score=0.93).summary()
        'yes (0.930)'
        """
        return f"{self.label} ({self.score:.3f})"


@dataclass(frozen=True)
class Word:
    """One recognised word with its time span in seconds from the start of the input."""

    text: str
    start_s: float
    end_s: float
    score: float | None = None


@dataclass(frozen=True)
class Transcript(Result):
    """Recognised text, with word timings where the model provides them.

    >>> t = Transcript(source="a.wav", text="hello world", words=(Word("hello", 0.1, 0.5), Word("world", 0.6, 1.0)))
    >>> t.words[1].start_s
    0.6
    """

    text: str
    words: tuple[Word, ...] = ()
    language: str | None = None

    text_field: ClassVar[str | None] = "text"

    def summary(self) -> str:
        """The text (``"(no speech)"`` when empty)."""
        return self.text or "(no speech)"


def _jsonable(value: Any, rate: int | None = None, path: str | None = None) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _jsonable(getattr(value, f.name), rate) for f in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v, rate) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v, rate) for v in value]
    if isinstance(value, (torch.Tensor, np.ndarray)):
        if value.ndim == 0:
            return value.item()
        size = value.size if isinstance(value, np.ndarray) else value.numel()
        if size > INLINE_MAX:
            dtype = str(value.dtype).removeprefix("torch.")
            return {"shape": list(value.shape), "dtype": dtype, "sample_rate": rate, "path": path}
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, Path):
        return os.fspath(value)
    return value
