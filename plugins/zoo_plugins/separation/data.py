"""Speech by speaker for 2-speaker mixtures, and the mixture datasets the benchmarks score.

:func:`speech_pool` lists the real read speech in a data folder (the layout of
``../shared/data``) with a speaker per file: speechocean762-train (125
non-native speakers), librispeech-speakers (261 native speakers) and cathy (one
native speaker). :func:`split_pool` holds out speakers with
:func:`zoo.splits.speaker_split` (the speechocean762 speakers held out are the
same ones the speech-recognition cards hold out). :func:`make_mixture` mixes two
utterances wsj0-2mix style; :func:`write_heldout_mixtures` writes a fixed set of
held-out mixtures to disk (``mix.wav`` + one reference per source), which is
what :func:`mixtures` reads back as a dataset.
"""

from __future__ import annotations

import csv
import hashlib
import random
from dataclasses import dataclass
from pathlib import Path

import torch

from zoo.splits import speaker_split

__all__ = [
    "HELDOUT_SPEAKERS",
    "heldout_mixtures",
    "MixtureExample",
    "SpeechFile",
    "make_mixture",
    "mixtures",
    "split_pool",
    "speech_pool",
    "write_heldout_mixtures",
]

#: the share of each corpus's speakers held out (as for speech recognition)
HELDOUT_SPEAKERS = 0.15


@dataclass(frozen=True)
class SpeechFile:
    path: str
    speaker: str
    corpus: str


@dataclass(frozen=True)
class MixtureExample:
    """A mixture file and the true sources it was made of (what ``zoo bench`` scores)."""

    path: str
    references: tuple[str, ...]
    speakers: tuple[str, ...] = ()
    label: str = ""


def speech_pool(root: str | Path) -> list[SpeechFile]:
    """Every read-speech file under ``root`` with its speaker (corpora that are absent are skipped)."""
    root = Path(root)
    out: list[SpeechFile] = []
    so = root / "speechocean762-train" / "transcripts.tsv"
    if so.is_file():
        with so.open(newline="") as f:
            for row in csv.DictReader(f, delimiter="\t"):
                path = so.parent / "audio" / f"{row['id']}.ogg"
                if path.is_file():
                    out.append(SpeechFile(str(path), f"so-{row['speaker']}", "speechocean762"))
    ls = root / "librispeech-speakers"
    if ls.is_dir():
        for path in sorted(ls.rglob("*.ogg")):
            out.append(SpeechFile(str(path), f"ls-{path.name.split('-')[0]}", "librispeech"))
    cathy = root / "cathy" / "audio"
    if cathy.is_dir():
        out += [SpeechFile(str(p), "cathy", "cathy") for p in sorted(cathy.glob("*.ogg"))]
    return out


def split_pool(pool: list[SpeechFile], heldout: float = HELDOUT_SPEAKERS) -> tuple[list[SpeechFile], list[SpeechFile]]:
    """``(train, held_out)`` with no speaker on both sides; the single-speaker cathy always trains."""
    train, held = [], []
    for corpus in sorted({f.corpus for f in pool}):
        files = [f for f in pool if f.corpus == corpus]
        if corpus == "cathy":
            train += files
            continue
        a, b = speaker_split(files, heldout)
        train += a
        held += b
    return train, held


def make_mixture(
    a: torch.Tensor, b: torch.Tensor, rng: random.Random, max_gain_db: float = 5.0, length: int | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(mixture (T,), sources (2, T))`` from two utterances, wsj0-2mix style.

    Each utterance is scaled to unit RMS, then the pair is set apart by a random
    relative gain of 0 to ``max_gain_db`` dB (split evenly between them). Without
    ``length`` the mixture is as long as the shorter utterance ("min" mode);
    with it, each utterance is cropped (or zero-padded) to ``length`` at a random place.

    >>> m, s = make_mixture(torch.randn(100), torch.randn(80), random.Random(0))
    >>> m.shape, s.shape, bool(torch.allclose(m, s.sum(0)))
    (torch.Size([80]), torch.Size([2, 80]), True)
    """
    n = min(a.numel(), b.numel()) if length is None else length
    srcs = []
    for x in (a, b):
        if x.numel() > n:
            start = rng.randrange(0, x.numel() - n + 1)
            x = x[start : start + n]
        elif x.numel() < n:
            pad = n - x.numel()
            left = rng.randrange(0, pad + 1)
            x = torch.nn.functional.pad(x, (left, pad - left))
        srcs.append(x / x.pow(2).mean().sqrt().clamp(min=1e-5))
    gain = rng.uniform(0.0, max_gain_db) / 20
    sources = torch.stack([srcs[0] * 10 ** (gain / 2), srcs[1] * 10 ** (-gain / 2)])
    return sources.sum(0), sources


def write_heldout_mixtures(
    root: str | Path, out_dir: str | Path, n: int = 100, rate: int = 8000, seed: int = 0, max_s: float = 8.0
) -> list[MixtureExample]:
    """``n`` mixtures of two held-out speakers each, written as ``NNN/mix.wav``, ``s1.wav``, ``s2.wav``.

    Deterministic for a given data folder and seed; a folder already written
    with the same settings is reused. Utterances are mixed in "min" mode, at
    most ``max_s`` seconds; the speakers of a pair always differ.
    """
    from zoo import audio as zaudio

    out = Path(out_dir)
    stamp = out / f"mixtures-n{n}-r{rate}-s{seed}-m{max_s}.done"
    if not stamp.is_file():
        _, held = split_pool(speech_pool(root))
        if len({f.speaker for f in held}) < 2:
            raise FileNotFoundError(f"{root} holds fewer than two held-out speakers of read speech")
        rng = random.Random(seed)
        for i in range(n):
            a = rng.choice(held)
            b = rng.choice([f for f in held if f.speaker != a.speaker])
            wa, wb = (zaudio.load(f.path, rate).mono() for f in (a, b))
            cap = int(max_s * rate)
            mix, sources = make_mixture(wa[:cap], wb[:cap], rng)
            peak = float(mix.abs().max()) / 0.9
            d = out / f"{i:03d}"
            d.mkdir(parents=True, exist_ok=True)
            for name, x in [("mix", mix), ("s1", sources[0]), ("s2", sources[1])]:
                zaudio.save(d / f"{name}.wav", zaudio.Audio((x / peak)[None], rate), subtype="FLOAT")
            (d / "speakers.txt").write_text(f"{a.speaker}\n{b.speaker}\n")
        stamp.write_text("")
    return mixtures(out, limit=n)


def mixtures(root: str | Path, limit: int | None = None) -> list[MixtureExample]:
    """A folder of mixtures: one sub-folder each with ``mix.wav`` and ``s1.wav``, ``s2.wav``, ..."""
    root = Path(root)
    out = []
    for d in sorted(p for p in root.iterdir() if (p / "mix.wav").is_file()):
        refs = sorted((p for p in d.glob("s*.wav") if p.stem[1:].isdigit()), key=lambda p: int(p.stem[1:]))
        speakers = tuple((d / "speakers.txt").read_text().split()) if (d / "speakers.txt").is_file() else ()
        out.append(MixtureExample(str(d / "mix.wav"), tuple(str(p) for p in refs), speakers, label=d.name))
    if not out:
        raise FileNotFoundError(f"no mixtures in {root}: expected sub-folders holding mix.wav, s1.wav, s2.wav")
    return out[:limit]


def heldout_mixtures(root: str | Path, n: int = 100, rate: int = 8000) -> list[MixtureExample]:
    """The ``separation-heldout`` dataset: :func:`write_heldout_mixtures` of a data folder, kept in the zoo cache.

    ``root`` is the folder holding speechocean762-train/ and librispeech-speakers/
    (``../shared/data``); a folder that already holds mixtures is read as it is.
    """
    from zoo.weights import cache_root

    root = Path(root)
    if any((d / "mix.wav").is_file() for d in root.iterdir() if d.is_dir()):
        return mixtures(root)
    key = hashlib.sha1(str(root.resolve()).encode()).hexdigest()[:10]
    return write_heldout_mixtures(root, cache_root() / "separation" / f"heldout-{rate}-{key}", n, rate)
