"""Synthetic speech from the English voices of espeak-ng, flite and festival.

Used by training recipes to get many voices for keywords and sentences. Each
engine is a Debian package (``espeak-ng``, ``flite``, ``festival`` with
``festvox-*`` voices); engines that are not installed are skipped with a
warning. Voices are combined with speed, pitch and gain variation. Output is
cached as 16 kHz mono FLAC under ``cache_dir`` with a ``manifest.jsonl``, so a
second run of a recipe costs nothing.
"""

from __future__ import annotations

import json
import random
import shutil
import subprocess
import tempfile
import warnings
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

import soundfile as sf
import torch

from ..audio import load, resample

__all__ = ["Voice", "available_voices", "synthesize"]

ESPEAK_LANGS = (
    "en-us",
    "en-gb",
    "en-gb-scotland",
    "en-gb-x-gbclan",
    "en-gb-x-rp",
    "en-gb-x-gbcwmd",
    "en-029",
    "en-us-nyc",
)
FLITE_VOICES = ("kal", "kal16", "awb", "rms", "slt")
FESTIVAL_VOICES = ("kal_diphone", "ked_diphone", "cmu_us_slt_arctic_hts")


@dataclass(frozen=True)
class Voice:
    """One synthesis setting: engine, voice, rate factor (1 = normal) and pitch offset."""

    engine: str
    voice: str
    rate: float = 1.0
    pitch: int = 50

    @property
    def key(self) -> str:
        return f"{self.engine}-{self.voice.replace('+', '_')}-r{self.rate:.2f}-p{self.pitch}"


def available_voices() -> dict[str, list[str]]:
    """The English voices each installed engine offers (espeak-ng voices include variants)."""
    out: dict[str, list[str]] = {}
    if shutil.which("espeak-ng"):
        variants = [""]
        try:
            listing = subprocess.run(
                ["espeak-ng", "--voices=variant"], capture_output=True, text=True, check=True
            ).stdout
            variants += [line.split()[-1].split("/")[-1] for line in listing.splitlines()[1:] if line.strip()]
        except (subprocess.CalledProcessError, IndexError):
            pass
        out["espeak-ng"] = [lang + (f"+{v}" if v else "") for lang in ESPEAK_LANGS for v in variants]
    if shutil.which("flite"):
        listing = subprocess.run(["flite", "-lv"], capture_output=True, text=True).stdout
        out["flite"] = [v for v in FLITE_VOICES if v in listing.split()]
    if shutil.which("festival"):
        roots = [p.name for p in Path("/usr/share/festival/voices").glob("*/*")]
        out["festival"] = [v for v in FESTIVAL_VOICES if v in roots]
    missing = [e for e in ("espeak-ng", "flite", "festival") if e not in out]
    if missing:
        warnings.warn(
            f"TTS engines not installed: {', '.join(missing)} (apt-get install {' '.join(missing)})", stacklevel=2
        )
    return out


def sample_voices(n: int, rng: random.Random, voices: dict[str, list[str]] | None = None) -> list[Voice]:
    """``n`` random voice settings, spread over the engines in proportion to their size (min 15%)."""
    voices = voices if voices is not None else available_voices()
    engines = [e for e in voices if voices[e]]
    if not engines:
        raise RuntimeError("no TTS engine is installed: apt-get install espeak-ng flite festival")
    weights = {e: max(0.15, len(voices[e]) / sum(len(voices[x]) for x in engines)) for e in engines}
    out = []
    for _ in range(n):
        engine = rng.choices(engines, [weights[e] for e in engines])[0]
        out.append(
            Voice(engine, rng.choice(voices[engine]), rate=round(rng.uniform(0.8, 1.25), 2), pitch=rng.randint(25, 80))
        )
    return out


def synthesize(
    texts: Sequence[str],
    cache_dir: Path,
    voices_per_text: int = 50,
    seed: int = 0,
    sample_rate: int = 16000,
    workers: int = 2,
    progress: bool = True,
) -> list[dict]:
    """Synthesise every text with ``voices_per_text`` random voices; return manifest rows.

    Each row is ``{"text", "engine", "voice", "rate", "pitch", "path"}``; files are
    16 kHz mono FLAC, trimmed of leading and trailing silence.
    """
    cache_dir = Path(cache_dir)
    cache_dir.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    voices = available_voices()
    jobs: list[tuple[str, Voice, Path]] = []
    for ti, text in enumerate(texts):
        for v in sample_voices(voices_per_text, rng, voices):
            jobs.append((text, v, cache_dir / f"{_slug(text)}_{ti}" / f"{v.key}.flac"))
    todo = [j for j in jobs if not j[2].exists()]
    festival_jobs = [j for j in todo if j[1].engine == "festival"]
    other_jobs = [j for j in todo if j[1].engine != "festival"]
    from tqdm.auto import tqdm

    bar = tqdm(total=len(todo), desc="synthesising", unit="clip", disable=not progress or not todo)
    with ThreadPoolExecutor(max_workers=workers) as pool:
        for _ in pool.map(lambda j: _synth_one(*j, sample_rate), other_jobs):
            bar.update(1)
        by_voice: dict[tuple[str, float], list] = {}
        for j in festival_jobs:
            by_voice.setdefault((j[1].voice, j[1].rate), []).append(j)
        for _ in pool.map(lambda group: _festival_batch(group, sample_rate), by_voice.values()):
            bar.update(len(_))
    bar.close()
    rows = [{"text": t, **asdict(v), "path": str(p)} for t, v, p in jobs if p.exists()]
    with open(cache_dir / "manifest.jsonl", "w") as f:
        for r in rows:
            f.write(json.dumps(r) + "\n")
    return rows


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in text.lower())[:40] or "_"


def _synth_one(text: str, v: Voice, out: Path, sample_rate: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        wav = Path(tmp) / "x.wav"
        if v.engine == "espeak-ng":
            cmd = ["espeak-ng", "-v", v.voice, "-s", str(int(160 * v.rate)), "-p", str(v.pitch), "-w", str(wav), text]
        elif v.engine == "flite":
            f0 = 100 + 1.6 * v.pitch if v.voice != "slt" else 150 + 1.6 * v.pitch
            cmd = [
                "flite",
                "-voice",
                v.voice,
                "-t",
                text,
                "-o",
                str(wav),
                "--setf",
                f"duration_stretch={1 / v.rate:.3f}",
                "--setf",
                f"int_f0_target_mean={f0:.0f}",
            ]
        else:
            raise ValueError(v.engine)
        try:
            subprocess.run(cmd, capture_output=True, check=True, timeout=60)
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired):
            return
        _store(wav, out, sample_rate, pitch_shift=0)


def _festival_batch(group: list, sample_rate: int) -> list:
    voice, rate = group[0][1].voice, group[0][1].rate
    with tempfile.TemporaryDirectory() as tmp:
        lines = [f"(voice_{voice})", f"(Parameter.set 'Duration_Stretch {1 / rate:.3f})"]
        for k, (text, _v, _out) in enumerate(group):
            safe = text.replace('"', "").replace("\\", "")
            lines.append(f'(set! u (Utterance Text "{safe}"))(utt.synth u)(utt.save.wave u "{tmp}/{k}.wav" \'riff)')
        script = Path(tmp) / "run.scm"
        script.write_text("\n".join(lines) + "\n")
        try:
            subprocess.run(["festival", "--batch", str(script)], capture_output=True, timeout=600)
        except subprocess.TimeoutExpired:
            return group
        for k, (_text, v, out) in enumerate(group):
            wav = Path(tmp) / f"{k}.wav"
            if wav.exists():
                # diphone voices have no pitch control: shift by resampling instead
                _store(wav, out, sample_rate, pitch_shift=(v.pitch - 50) / 250)
    return group


def _store(wav: Path, out: Path, sample_rate: int, pitch_shift: float) -> None:
    try:
        audio = load(wav)
    except Exception:
        return
    x = audio.mono()
    rate = audio.sample_rate
    if pitch_shift:
        # play the clip faster/slower: shifts pitch and tempo together
        rate = int(rate * (1 + pitch_shift))
    x = resample(x.unsqueeze(0), rate, sample_rate)[0]
    x = trim_silence(x, sample_rate)
    if x.numel() < sample_rate // 20:
        return
    peak = float(x.abs().max())
    if peak > 0:
        x = x * (0.9 / peak)
    out.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(out), x.numpy(), sample_rate, format="FLAC")


def trim_silence(x: torch.Tensor, sample_rate: int, threshold_db: float = -40.0, pad_s: float = 0.03) -> torch.Tensor:
    """Cut leading and trailing audio quieter than ``threshold_db`` below the peak (20 ms frames)."""
    frame = sample_rate // 50
    n = x.numel() // frame
    if n == 0:
        return x
    energy = x[: n * frame].reshape(n, frame).pow(2).mean(dim=1)
    ref = float(energy.max())
    if ref <= 0:
        return x[:0]
    loud = (10 * torch.log10(energy / ref + 1e-12) > threshold_db).nonzero().flatten()
    pad = int(pad_s * sample_rate)
    start = max(0, int(loud[0]) * frame - pad)
    end = min(x.numel(), (int(loud[-1]) + 1) * frame + pad)
    return x[start:end]
