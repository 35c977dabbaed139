"""Frozen-encoder features of ESC-50 clips and augmented copies, computed once and cached.

Encoding is the costly part (a 30 s Whisper window takes about 1 s on one
CPU core, a 5 s clip at its own length about 0.1 s), so the recipes never
encode inside the training loop. This module encodes each clip once as it is and ``variants - 1`` more times
augmented on the waveform (random circular time shift, gain, real background
noise at 5-25 dB SNR, and, for half of them, a second clip of another class
from the *same* cross-validation fold mixed in 3-10 dB below), and stores the
frame features (float16, 50 Hz) with what each copy holds. The training loop
adds its own cheap augmentations on the features (SpecAugment-like masks,
feature mixing).

Folds: each ``src_file`` (ESC-50's source recording) gets a fold from a stable
hash, so clips cut from one recording never land on both sides of a split.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path

import torch

from zoo import audio as zaudio

from ..data import Clip, esc50, fold_of

__all__ = ["FeatureSet", "encode_clips", "noise_pool"]

RATE = 16000


def noise_pool(data_root: str | Path) -> list[torch.Tensor]:
    """Real background recordings (Speech Commands' ``_background_noise_``), mono at 16 kHz; empty if absent."""
    folder = Path(data_root) / "speech-commands-noise"
    return [zaudio.load(p, RATE).mono() for p in sorted(folder.glob("*.flac"))] if folder.is_dir() else []


@dataclass
class FeatureSet:
    """Cached encoder features: ``feats[i]`` is ``(frames, dim)`` float16 for copy ``i`` of clip ``clip[i]``.

    ``mix[i]`` is the index of the clip mixed into copy ``i`` (-1: none), ``variant[i]`` 0 for the clean copy.
    """

    clips: list[Clip]
    feats: list[torch.Tensor]
    clip: list[int]
    variant: list[int]
    mix: list[int]

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        torch.save(
            {
                "clips": [(c.path, c.label, c.src_file) for c in self.clips],
                "feats": self.feats,
                "clip": self.clip,
                "variant": self.variant,
                "mix": self.mix,
            },
            path,
        )

    @classmethod
    def load(cls, path: Path) -> FeatureSet:
        d = torch.load(path, weights_only=True)
        return cls([Clip(*c) for c in d["clips"]], d["feats"], d["clip"], d["variant"], d["mix"])


def _augment(
    wav: torch.Tensor, other: torch.Tensor | None, noises: list[torch.Tensor], rng: random.Random
) -> torch.Tensor:
    from zoo.train.recipe import noise_segment

    x = torch.roll(wav, rng.randrange(wav.numel()))
    x = x * 10 ** (rng.uniform(-6, 6) / 20)
    rms = x.pow(2).mean().sqrt() + 1e-6
    if other is not None:
        o = torch.roll(other[: x.numel()], rng.randrange(min(other.numel(), x.numel())))
        o = torch.nn.functional.pad(o, (0, x.numel() - o.numel()))
        x = x + o / (o.pow(2).mean().sqrt() + 1e-6) * rms * 10 ** (-rng.uniform(3, 10) / 20)
    if noises and rng.random() < 0.7:
        x = x + noise_segment(noises, x.numel(), rng) * rms * 10 ** (-rng.uniform(5, 25) / 20)
    peak = float(x.abs().max())
    return x / peak * 0.99 if peak > 0.99 else x


def encode_clips(
    encoder,
    clips: list[Clip],
    *,
    variants: int,
    folds: int,
    noises: list[torch.Tensor],
    seed: int = 0,
    batch: int = 4,
    part: tuple[int, int] = (0, 1),
    encode_options: dict | None = None,
) -> FeatureSet:
    """Encode ``variants`` copies of each clip (the first clean); only clips ``i % part[1] == part[0]``.

    ``encoder`` is a zoo model whose net has ``encode(waveforms, lengths, rate, **encode_options)``.
    """
    from tqdm.auto import tqdm

    waves = [zaudio.load(c.path, RATE).mono() for c in clips]
    rng = random.Random(seed)
    jobs: list[tuple[int, int, int, torch.Tensor]] = []
    for i, c in enumerate(clips):
        fold = fold_of(c.src_file, folds)
        partners = [j for j, d in enumerate(clips) if d.label != c.label and fold_of(d.src_file, folds) == fold]
        for v in range(variants):
            mix = rng.choice(partners) if (v > 0 and partners and rng.random() < 0.5) else -1
            wav = waves[i] if v == 0 else _augment(waves[i], waves[mix] if mix >= 0 else None, noises, rng)
            if i % part[1] == part[0]:
                jobs.append((i, v, mix, wav))
    out = FeatureSet(clips, [], [], [], [])
    for k in tqdm(range(0, len(jobs), batch), desc="encoding", unit="batch"):
        group = jobs[k : k + batch]
        lengths = torch.tensor([g[3].numel() for g in group])
        wav = torch.zeros(len(group), int(lengths.max()))
        for r, g in enumerate(group):
            wav[r, : g[3].numel()] = g[3]
        with torch.inference_mode():
            feats = encoder.net.encode(wav, lengths, RATE, **(encode_options or {}))
        for g, f in zip(group, feats):
            out.feats.append(f.to(torch.float16))
            out.clip.append(g[0])
            out.variant.append(g[1])
            out.mix.append(g[2])
    return out


def main() -> None:
    """``python -m zoo_plugins.tagging.training.features OUT PART NPARTS [VARIANTS]``: cache one part."""
    import sys

    import zoo

    torch.set_num_threads(1)
    out, part, nparts = Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
    variants = int(sys.argv[4]) if len(sys.argv) > 4 else 3
    data = Path("../shared/data")
    encoder = zoo.load("asr-whisper-tiny-en")
    fs = encode_clips(
        encoder,
        esc50(data / "esc50-dev"),
        variants=variants,
        folds=5,
        noises=noise_pool(data),
        part=(part, nparts),
    )
    fs.save(out)


if __name__ == "__main__":
    main()
