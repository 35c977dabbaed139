"""The music-generation task: chorale frames in (or nothing), a new piece out as notes, MIDI and audio.

An input is one of:

- ``None``: start from scratch;
- a list of frames (each a list of MIDI pitches, one frame per quarter note);
- a MIDI file (``.mid``/``.midi``), read onto the quarter-note grid of its own tempo;
- an audio file or ``(array, sample_rate)``: transcribed with Basic Pitch
  (:mod:`.transcribe`) onto the grid of the card's ``tempo_bpm``.

The model continues it by ``seconds`` of music (``tempo_bpm`` quarter notes a
minute) and the result carries the whole piece: prompt, then continuation.
Each item samples from its own seed (``model(x, seed=s)``: item ``i`` gets
``s + i``; an unseeded item uses seed 0, so a call is reproducible; ``generate``
without a seed draws a random one), so batching never changes an output.
Wrap a single frames prompt in a list (``model([frames])``): a bare list is a
batch.

Params (card ``params`` or ``zoo.load(..., seconds=30)``): ``seconds`` (20),
``temperature`` (1.0), ``top_p`` (1.0), ``tempo_bpm`` (80), ``max_notes`` (6 per
frame), ``synth`` (auto | fluidsynth | additive), ``program`` (GM program, 19:
church organ).
"""

from __future__ import annotations

import copy
import dataclasses
import os
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch

from zoo import Chunk, Result, Task

from . import tokenizer as tok
from .lm import SampleConfig
from .render import Note, frames_to_notes, midi_to_notes, notes_to_frames, notes_to_midi, piano_roll_png, render

__all__ = ["Generated", "MusicGeneration", "Prompt"]

MIDI_SUFFIXES = (".mid", ".midi")
DEFAULTS: dict[str, Any] = {
    "seconds": 20.0,
    "temperature": 1.0,
    "top_p": 1.0,
    "tempo_bpm": 80.0,
    "max_notes": 6,
    "synth": "auto",
    "program": 19,
}


@dataclass(frozen=True, eq=False)
class Generated(Result):
    """A generated (or continued) piece.

    ``notes`` are (onset_s, duration_s, pitch, velocity); ``midi`` is a standard
    MIDI file's bytes; ``audio`` is the rendering, mono float32 at
    ``sample_rate``; ``frames`` the quarter-note grid the model wrote;
    ``prompt_s`` where the prompt ends (0 without one); ``renderer`` says which
    synth made ``audio``.
    """

    notes: tuple[Note, ...]
    midi: bytes
    audio: np.ndarray
    sample_rate: int
    seed: int
    frames: tuple[tuple[int, ...], ...] = ()
    prompt_frames: int = 0
    prompt_s: float = 0.0
    tempo_bpm: float = 80.0
    renderer: str = ""

    audio_fields: ClassVar[tuple[str, ...]] = ("audio",)

    @property
    def duration_s(self) -> float:
        """Length of the music (the frame grid); ``audio`` is longer by the synth's release tail."""
        return len(self.frames) * 60.0 / self.tempo_bpm

    @property
    def stem(self) -> str:
        """``music-seed0``, or ``<prompt file stem>-seed0``: distinct per seed when saved together."""
        base = super().stem if not self.source.startswith("<") else "music"
        return f"{base}-seed{self.seed}"

    def summary(self) -> str:
        """``"96 notes, 20.2 s, seed 0 (continues 4.0 s)"``."""
        more = f" (continues {self.prompt_s:.1f} s)" if self.prompt_frames else ""
        return f"{len(self.notes)} notes, {self.duration_s:.1f} s, seed {self.seed}{more}"

    def to_dict(self, paths=None) -> dict[str, Any]:
        """Compact: notes and frames as counts, MIDI as its size, audio as shape/rate/path."""
        paths = dict(getattr(self, "_saved_paths", {}) if paths is None else paths)
        return {
            "type": type(self).__name__,
            "source": self.source,
            "notes": {"count": len(self.notes), "path": _str(paths.get("midi"))},
            "midi": {"bytes": len(self.midi), "path": _str(paths.get("midi"))},
            "audio": {
                "shape": list(self.audio.shape),
                "dtype": str(self.audio.dtype),
                "sample_rate": self.sample_rate,
                "path": _str(paths.get("audio")),
            },
            "sample_rate": self.sample_rate,
            "seed": self.seed,
            "frames": {"count": len(self.frames), "path": _str(paths.get("piano_roll"))},
            "prompt_frames": self.prompt_frames,
            "prompt_s": self.prompt_s,
            "tempo_bpm": self.tempo_bpm,
            "renderer": self.renderer,
        }

    def write_outputs(self, directory: Path, stem: str) -> dict[str, Path]:
        """``<stem>.audio.wav``, ``<stem>.mid`` and ``<stem>.png`` (piano roll)."""
        written = super().write_outputs(directory, stem)
        mid = directory / f"{stem}.mid"
        mid.write_bytes(self.midi)
        written["midi"] = mid
        written["piano_roll"] = piano_roll_png(
            self.notes, directory / f"{stem}.png", f"{self.source} (seed {self.seed})", self.prompt_s
        )
        return written


def _str(p: Any) -> str | None:
    return os.fspath(p) if p is not None else None


@dataclass(frozen=True)
class Prompt:
    """A read input: where it came from and its frames (empty: generate from scratch)."""

    source: str
    frames: tuple[tuple[int, ...], ...]


class MusicGeneration(Task):
    """Generate or continue four-part chorales with a frame language model."""

    name = "music-generation"
    result_type = Generated
    description = "Generate or continue music (chorales) from nothing, frames, a MIDI file or an audio file"
    input_kind = "prompt"
    prompt_optional = True
    aliases = ("music",)
    headline_metrics = ("nll",)
    required_card_keys = ("sample_rate",)
    #: params the code reads with a default (``zoo run --param``)
    known_params: ClassVar[tuple[str, ...]] = tuple(DEFAULTS)
    #: methods a loaded model gets from this task (``m.generate(...)``, ``m.score(...)``)
    model_methods: ClassVar[tuple[str, ...]] = ("generate", "score")
    runner_defaults: ClassVar[dict[str, Any]] = {"batch_size": 8}

    # ------------------------------------------------------------ model methods
    def generate(self, model: Any, n: int = 1, seed: int | None = None, prompt: Any = None, **params: Any):
        """``n`` pieces (a list of :class:`Generated`); item ``i`` uses seed ``seed + i``.

        ``params`` override the card's for this call (``seconds``, ``temperature``, ...).

        >>> m = zoo.load("music-generation")                   # doctest: +SKIP
        >>> [r.summary() for r in m.generate(n=2, seed=0, seconds=10)]  # doctest: +SKIP
        """
        m = with_params(model, params) if params else model
        return m([prompt] * n, seed=seed if seed is not None else secrets.randbits(31))

    def score(self, model: Any, chorale: Any) -> float:
        """Mean negative log-likelihood, nats per time step, of a chorale (a list of frames).

        Each frame is conditioned only on the earlier frames of the same chorale.
        """
        frames = getattr(chorale, "frames", chorale)
        return model.net.score([list(f) for f in frames])

    def quality_results(self, model: Any, examples: Sequence[Any], prompt_frames: int = 8, frames: int = 24) -> list:
        """What ``zoo bench`` measures on a chorale dataset, one :class:`ChoraleScore` per example.

        Each chorale's exact NLL, plus a continuation sampled (seed = its index)
        from its first ``prompt_frames`` frames, ``frames`` long, for the style
        statistics and the generation speed.
        """
        import time

        from .metrics import ChoraleScore

        p = self.params(model)
        cfg = SampleConfig(float(p["temperature"]), float(p["top_p"]), int(p["max_notes"]))
        chorales = [[list(f) for f in getattr(e, "frames", e)] for e in examples]
        continuations: list[Any] = []
        timing: list[float] = []
        batch = int(model.config.batch_size or 8)
        for i in range(0, len(chorales), batch):
            group = chorales[i : i + batch]
            t0 = time.perf_counter()
            out = model.net.sample([c[:prompt_frames] for c in group], frames, list(range(i, i + len(group))), cfg)
            timing += [(time.perf_counter() - t0) / len(group)] * len(group)
            continuations += [o[min(prompt_frames, len(c)) :] for o, c in zip(out, group)]
        results = []
        for e, c, cont, t in zip(examples, chorales, continuations, timing):
            nll = model.net.frame_nll(c)
            results.append(
                ChoraleScore(
                    source=getattr(e, "name", "<frames>"),
                    nll=float(nll.mean()),
                    frames=len(c),
                    continuation=tuple(tuple(f) for f in cont),
                    sample_seconds=t,
                    music_seconds=len(cont) * 60.0 / float(p["tempo_bpm"]),
                )
            )
        return results

    # ------------------------------------------------------------ the task
    def describe(self, x: Any) -> str:
        if x is None:
            return "<generated>"
        if isinstance(x, (str, os.PathLike)):
            return os.fspath(x)
        if isinstance(x, tuple) and len(x) == 2:
            return "<array>"
        return getattr(x, "name", None) or "<frames>"

    def params(self, model: Any) -> dict[str, Any]:
        return {**DEFAULTS, **model.card.params}

    def read(self, model: Any, x: Any) -> Prompt:
        p = self.params(model)
        source = self.describe(x)
        if x is None:
            frames: list[list[int]] = []
        elif isinstance(x, (str, os.PathLike)):
            path = Path(x)
            if not path.exists():
                raise FileNotFoundError(f"no such file: {path}")
            if path.suffix.lower() in MIDI_SUFFIXES:
                frames = midi_frames(path)
            else:
                frames = audio_frames(x, float(p["tempo_bpm"]), int(p["max_notes"]))
        elif isinstance(x, tuple) and len(x) == 2 and not _is_frames(x):
            frames = audio_frames(x, float(p["tempo_bpm"]), int(p["max_notes"]))
        else:
            frames = [list(f) for f in getattr(x, "frames", x)]
            if not _is_frames(frames):
                raise TypeError("a frames prompt is a list of frames, each a list of MIDI pitches (0-127)")
        for f in frames:
            for q in f:
                tok.pitch_token(q)  # raises on a pitch outside 0-127
        return Prompt(source, tuple(tuple(sorted({int(q) for q in f})) for f in frames))

    def preprocess(self, model: Any, item: Prompt) -> list[Chunk]:
        tokens = torch.tensor(tok.encode(item.frames))
        return [Chunk(tokens, int(tokens.numel()), {"frames": item.frames})]

    def collate(self, model: Any, chunks: Sequence[Chunk]) -> dict[str, Any]:
        return {
            "prompts": [c.meta["frames"] for c in chunks],
            "seeds": [c.seed if c.seed is not None else 0 for c in chunks],
        }

    def forward(self, model: Any, batch: dict[str, Any]) -> list[Any]:
        p = self.params(model)
        n = max(1, round(float(p["seconds"]) * float(p["tempo_bpm"]) / 60))
        cfg = SampleConfig(float(p["temperature"]), float(p["top_p"]), int(p["max_notes"]))
        pieces = model.net.sample(batch["prompts"], n, batch["seeds"], cfg)
        return [{"frames": f, "seed": s} for f, s in zip(pieces, batch["seeds"])]

    def postprocess(self, model: Any, item: Prompt, chunks: Sequence[Chunk], outputs: Sequence[Any]) -> Generated:
        p = self.params(model)
        tempo = float(p["tempo_bpm"])
        frames = outputs[0]["frames"]
        notes = frames_to_notes(frames, tempo)
        midi = notes_to_midi(notes, tempo, int(p["program"]))
        audio, renderer = render(notes, midi, int(model.card.sample_rate), str(p["synth"]))
        return Generated(
            source=item.source,
            notes=tuple(notes),
            midi=midi,
            audio=audio,
            sample_rate=int(model.card.sample_rate),
            seed=int(outputs[0]["seed"]),
            frames=tuple(tuple(f) for f in frames),
            prompt_frames=len(item.frames),
            prompt_s=len(item.frames) * 60.0 / tempo,
            tempo_bpm=tempo,
            renderer=renderer,
        )

    # ------------------------------------------------------------ conformance
    def example_inputs(self, model: Any, tmp: Path) -> dict[str, Any]:
        chorale = [[48, 55, 64, 72], [50, 57, 65, 74], [52, 55, 64, 72], [43, 55, 62, 71]]
        midi = tmp / "prompt.mid"
        midi.write_bytes(notes_to_midi(frames_to_notes(chorale, 80), 80))
        return {"nothing": None, "frames": chorale, "a MIDI file": str(midi)}

    def bad_inputs(self, model: Any, tmp: Path) -> dict[str, Any]:
        return {"a missing file": str(tmp / "no-such-file.mid"), "a pitch out of range": [[60, 200]]}


def with_params(model: Any, params: dict[str, Any]) -> Any:
    """A shallow copy of ``model`` whose card params are updated (the network is shared)."""
    unknown = set(params) - set(DEFAULTS)
    if unknown:
        raise TypeError(f"unknown music-generation params: {', '.join(sorted(unknown))}; known: {', '.join(DEFAULTS)}")
    m = copy.copy(model)
    m.card = dataclasses.replace(model.card, params={**model.card.params, **params})
    return m


def _is_frames(x: Any) -> bool:
    try:
        return all(isinstance(f, (list, tuple)) and all(isinstance(q, (int, np.integer)) for q in f) for f in x)
    except TypeError:
        return False


def midi_frames(path: str | os.PathLike) -> list[list[int]]:
    """A MIDI file on the quarter-note grid of its first tempo."""
    import pretty_midi

    pm = pretty_midi.PrettyMIDI(os.fspath(path))
    _, tempi = pm.get_tempo_changes()
    tempo = float(tempi[0]) if len(tempi) else 120.0
    return notes_to_frames(midi_to_notes(path), tempo)


def audio_frames(x: Any, tempo_bpm: float, max_notes: int) -> list[list[int]]:
    """Transcribe audio with Basic Pitch and put the notes on the quarter-note grid.

    Each frame keeps at most ``max_notes`` pitches, the loudest first (overtones
    that Basic Pitch reads as notes are usually quieter than the notes).
    """
    from zoo import audio as zaudio

    from .transcribe import RATE, BasicPitch

    if isinstance(x, tuple):
        x = (np.asarray(x[0], dtype=np.float32), int(x[1]))
    wav = zaudio.load(x, RATE).mono().numpy()
    notes = BasicPitch()(wav)
    frames = notes_to_frames(notes, tempo_bpm)
    loud = {}
    for n in notes:
        loud[n.pitch] = max(loud.get(n.pitch, 0), n.velocity)
    return [sorted(sorted(f, key=lambda q: -loud.get(q, 0))[:max_notes]) for f in frames]
