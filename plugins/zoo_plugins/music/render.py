"""Frames -> notes -> MIDI bytes -> audio, and a piano-roll picture.

Notes are tied across frames: a pitch sounding in consecutive frames is one
note (the JSB grid does not tell held from repeated notes; holding reads as a
chorale). MIDI is written with ``pretty_midi``. Audio comes from FluidSynth
with a General MIDI soundfont when both are installed (Debian:
``fluidsynth fluid-soundfont-gm``), else from :func:`additive_synth`, a small
organ-like synth in numpy, so rendering never needs more than the wheel.
"""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = [
    "SOUNDFONTS",
    "Note",
    "additive_synth",
    "find_soundfont",
    "fluidsynth_render",
    "frames_to_notes",
    "midi_to_notes",
    "notes_to_frames",
    "notes_to_midi",
    "piano_roll_png",
    "render",
]

#: where Debian and others put a General MIDI soundfont (first found wins; $ZOO_SOUNDFONT overrides)
SOUNDFONTS = (
    "/usr/share/sounds/sf2/FluidR3_GM.sf2",
    "/usr/share/soundfonts/FluidR3_GM.sf2",
    "/usr/share/sounds/sf2/TimGM6mb.sf2",
    "/usr/share/soundfonts/default.sf2",
)


@dataclass(frozen=True)
class Note:
    """One note: start and length in seconds, MIDI pitch and velocity (1-127)."""

    onset_s: float
    duration_s: float
    pitch: int
    velocity: int = 80


def frames_to_notes(frames: Sequence[Sequence[int]], tempo_bpm: float, velocity: int = 80) -> list[Note]:
    """Notes of a frame grid (one frame per quarter note), tying repeated pitches.

    >>> [(n.onset_s, n.duration_s, n.pitch) for n in frames_to_notes([[60], [60, 64], [64]], 120)]
    [(0.0, 1.0, 60), (0.5, 1.0, 64)]
    """
    step = 60.0 / tempo_bpm
    open_notes: dict[int, int] = {}  # pitch -> start frame
    out: list[Note] = []
    for k, frame in enumerate([*frames, []]):
        now = {int(p) for p in frame}
        for p in sorted(set(open_notes) - now):
            start = open_notes.pop(p)
            out.append(Note(round(start * step, 6), round((k - start) * step, 6), p, velocity))
        for p in sorted(now - set(open_notes)):
            open_notes[p] = k
    return sorted(out, key=lambda n: (n.onset_s, n.pitch))


def notes_to_frames(notes: Sequence[Note], tempo_bpm: float) -> list[list[int]]:
    """The quarter-note grid of notes: each frame holds the pitches sounding at its beat."""
    step = 60.0 / tempo_bpm
    if not notes:
        return []
    end = max(n.onset_s + n.duration_s for n in notes)
    frames: list[set[int]] = [set() for _ in range(int(np.ceil(end / step - 1e-6)))]
    for n in notes:
        first = int(np.ceil(n.onset_s / step - 1e-6))
        k = first
        while k < len(frames) and k * step < n.onset_s + n.duration_s - 1e-6:
            frames[k].add(int(n.pitch))
            k += 1
        if k == first and first < len(frames):  # a note between two beats still counts, on the next beat
            frames[first].add(int(n.pitch))
    return [sorted(f) for f in frames]


def notes_to_midi(notes: Sequence[Note], tempo_bpm: float, program: int = 19) -> bytes:
    """A standard MIDI file (one track, GM ``program``, default church organ) as bytes."""
    import pretty_midi

    pm = pretty_midi.PrettyMIDI(initial_tempo=float(tempo_bpm))
    inst = pretty_midi.Instrument(program=program, name="chorale")
    for n in notes:
        inst.notes.append(pretty_midi.Note(int(n.velocity), int(n.pitch), float(n.onset_s), n.onset_s + n.duration_s))
    pm.instruments.append(inst)
    buf = io.BytesIO()
    pm.write(buf)
    return buf.getvalue()


def midi_to_notes(midi: str | os.PathLike | bytes) -> list[Note]:
    """The notes of a MIDI file (path or bytes), drums left out, in onset order."""
    import pretty_midi

    pm = pretty_midi.PrettyMIDI(io.BytesIO(midi) if isinstance(midi, bytes) else os.fspath(midi))
    notes = [
        Note(float(n.start), float(n.end - n.start), int(n.pitch), int(n.velocity))
        for inst in pm.instruments
        if not inst.is_drum
        for n in inst.notes
    ]
    return sorted(notes, key=lambda n: (n.onset_s, n.pitch))


def find_soundfont() -> Path | None:
    """A General MIDI soundfont on this machine, or None."""
    for candidate in (os.environ.get("ZOO_SOUNDFONT"), *SOUNDFONTS):
        if candidate and Path(candidate).is_file():
            return Path(candidate)
    return None


def fluidsynth_render(midi: bytes, sample_rate: int, soundfont: Path) -> np.ndarray:
    """Render MIDI bytes with the ``fluidsynth`` program; mono float32."""
    from zoo import audio as zaudio

    with tempfile.TemporaryDirectory() as tmp:
        mid, wav = Path(tmp) / "in.mid", Path(tmp) / "out.wav"
        mid.write_bytes(midi)
        cmd = ["fluidsynth", "-ni", "-q", "-g", "0.6", "-r", str(sample_rate), "-F", str(wav), str(soundfont), str(mid)]
        subprocess.run(cmd, check=True, capture_output=True, timeout=120)
        return zaudio.load(wav, sample_rate).mono().numpy().astype(np.float32)


def additive_synth(notes: Sequence[Note], sample_rate: int, tail_s: float = 0.3) -> np.ndarray:
    """An organ-like rendering: a few harmonics per note with a short attack and release; mono float32."""
    if not notes:
        return np.zeros(int(sample_rate * tail_s), dtype=np.float32)
    total = max(n.onset_s + n.duration_s for n in notes) + tail_s
    out = np.zeros(int(np.ceil(total * sample_rate)), dtype=np.float64)
    attack, release = int(0.02 * sample_rate), int(0.08 * sample_rate)
    for n in notes:
        length = max(int(n.duration_s * sample_rate), 1) + release
        t = np.arange(length) / sample_rate
        f0 = 440.0 * 2 ** ((n.pitch - 69) / 12)
        wave = sum(
            a * np.sin(2 * np.pi * h * f0 * t)
            for h, a in ((1, 1.0), (2, 0.5), (3, 0.25), (4, 0.12))
            if h * f0 < sample_rate / 2
        )
        env = np.ones(length)
        env[:attack] = np.linspace(0, 1, min(attack, length))[: len(env[:attack])]
        env[-release:] *= np.linspace(1, 0, release)
        start = int(n.onset_s * sample_rate)
        seg = out[start : start + length]
        seg += (n.velocity / 127) * 0.15 * (wave * env)[: len(seg)]
    peak = np.abs(out).max()
    if peak > 0.9:
        out *= 0.9 / peak
    return out.astype(np.float32)


def render(notes: Sequence[Note], midi: bytes, sample_rate: int, synth: str = "auto") -> tuple[np.ndarray, str]:
    """Audio for the notes and which renderer made it (``"fluidsynth"`` or ``"additive"``).

    ``synth``: ``"auto"`` (FluidSynth when available), ``"fluidsynth"`` (required) or ``"additive"``.
    """
    if synth not in ("auto", "fluidsynth", "additive"):
        raise ValueError(f"unknown synth {synth!r}; use auto, fluidsynth or additive")
    soundfont = find_soundfont()
    have = shutil.which("fluidsynth") is not None and soundfont is not None
    if synth == "fluidsynth" and not have:
        raise RuntimeError(
            "fluidsynth or a GM soundfont is missing (Debian: apt-get install fluidsynth fluid-soundfont-gm)"
        )
    if synth != "additive" and have and notes:
        try:
            return fluidsynth_render(midi, sample_rate, soundfont), "fluidsynth"
        except (subprocess.SubprocessError, OSError):
            if synth == "fluidsynth":
                raise
    return additive_synth(notes, sample_rate), "additive"


def piano_roll_png(notes: Sequence[Note], path: str | os.PathLike, title: str = "", prompt_s: float = 0.0) -> Path:
    """Draw the notes as a piano roll (time against pitch) into a PNG; a line marks where a prompt ends."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(10, 4), dpi=100)
    for n in notes:
        color = "0.55" if n.onset_s < prompt_s else "tab:blue"
        ax.broken_barh([(n.onset_s, n.duration_s)], (n.pitch - 0.4, 0.8), facecolors=color)
    if prompt_s > 0:
        ax.axvline(prompt_s, color="tab:red", lw=1, ls="--")
    if notes:
        lo, hi = min(n.pitch for n in notes), max(n.pitch for n in notes)
        ax.set_ylim(lo - 2, hi + 2)
        ax.set_xlim(0, max(n.onset_s + n.duration_s for n in notes))
    ax.set_xlabel("time (s)")
    ax.set_ylabel("MIDI pitch")
    if title:
        ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return Path(path)
