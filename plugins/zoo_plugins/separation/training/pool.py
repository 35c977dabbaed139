"""The training speech in memory, and 2-speaker training mixtures drawn from it on the fly.

The files are decoded once at the model's rate and kept as int16 in one
tensor (about 300 MB for the five hours at 8 kHz), cached in the zoo cache as
safetensors so later stages start in seconds.
"""

from __future__ import annotations

import hashlib
import json
import random
from dataclasses import dataclass
from pathlib import Path

import torch

from zoo.weights import cache_root

from ..data import SpeechFile, make_mixture

__all__ = ["SpeechPool", "load_pool"]


@dataclass
class SpeechPool:
    """Utterances as int16 slices of one tensor, grouped by speaker."""

    audio: torch.Tensor  # int16, every utterance end to end
    offsets: list[int]  # utterance i is audio[offsets[i]:offsets[i + 1]]
    speakers: list[str]  # speaker of utterance i
    rate: int

    def __post_init__(self) -> None:
        self.by_speaker: dict[str, list[int]] = {}
        for i, s in enumerate(self.speakers):
            self.by_speaker.setdefault(s, []).append(i)
        self.speaker_names = sorted(self.by_speaker)

    def utterance(self, i: int) -> torch.Tensor:
        return self.audio[self.offsets[i] : self.offsets[i + 1]].float() / 32767.0

    def crop(self, i: int, n: int, rng: random.Random, tries: int = 6) -> torch.Tensor:
        """``n`` samples of utterance ``i`` where it is speaking (a crop at least 30 % of its RMS), zero-padded."""
        x = self.utterance(i)
        if x.numel() <= n:
            return x
        rms = x.pow(2).mean().sqrt()
        for _ in range(tries):
            start = rng.randrange(0, x.numel() - n + 1)
            seg = x[start : start + n]
            if seg.pow(2).mean().sqrt() >= 0.3 * rms:
                break
        return seg

    def batch(self, size: int, n: int, rng: random.Random) -> tuple[torch.Tensor, torch.Tensor]:
        """``(mixtures (B, n), sources (B, 2, n))``: speakers drawn uniformly, never the same one twice in a mixture."""
        mixes, sources = [], []
        for _ in range(size):
            s1, s2 = rng.sample(self.speaker_names, 2)
            a = self.crop(rng.choice(self.by_speaker[s1]), n, rng)
            b = self.crop(rng.choice(self.by_speaker[s2]), n, rng)
            mix, src = make_mixture(a, b, rng, length=n)
            level = 10 ** (rng.uniform(-25, -10) / 20)  # a random overall level (RMS, dBFS)
            scale = level / mix.pow(2).mean().sqrt().clamp(min=1e-5)
            mixes.append(mix * scale)
            sources.append(src * scale)
        return torch.stack(mixes), torch.stack(sources)


def load_pool(files: list[SpeechFile], rate: int) -> SpeechPool:
    """Decode ``files`` at ``rate`` (cached by the file list and rate)."""
    from safetensors.torch import load_file, save_file

    from zoo.train.recipe import load_many

    key = hashlib.sha1(json.dumps([rate, [(f.path, f.speaker) for f in files]]).encode()).hexdigest()[:16]
    path = cache_root() / "separation" / f"pool-{rate}-{key}.safetensors"
    if path.is_file():
        t = load_file(str(path))
        meta = json.loads((path.with_suffix(".json")).read_text())
        return SpeechPool(t["audio"], t["offsets"].tolist(), meta["speakers"], rate)
    to_int16 = lambda x: (x.clamp(-1, 1) * 32767).round().to(torch.int16)  # noqa: E731
    waves = load_many([f.path for f in files], rate, "decoding speech", unit="file", convert=to_int16)
    offsets = [0]
    for w in waves:
        offsets.append(offsets[-1] + int(w.numel()))
    audio = torch.cat(waves)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file({"audio": audio, "offsets": torch.tensor(offsets)}, str(path))
    path.with_suffix(".json").write_text(json.dumps({"speakers": [f.speaker for f in files]}))
    return SpeechPool(audio, offsets, [f.speaker for f in files], rate)


def checkpoint_dir(out_dir: str | Path) -> Path:
    """Where a run keeps what ``--resume`` needs (weights, optimiser, step): the zoo cache, not the checkpoint."""
    key = hashlib.sha1(str(Path(out_dir).resolve()).encode()).hexdigest()[:10]
    return cache_root() / "separation" / "state" / f"{Path(out_dir).name}-{key}"
