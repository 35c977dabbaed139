"""Training data for the keyword-spotting recipes: the clip pools (synthetic, real, mined, noise) and the
augmenter that draws 1 s training batches from them."""

from __future__ import annotations

import math
import random
from pathlib import Path

import torch

from zoo import audio as zaudio
from zoo.train.augment import reverb, speed_perturb
from zoo.train.recipe import load_many, noise_segment

from ..data import Example
from ..task import KEYWORDS, LABELS
from .config import SR, UNKNOWN_WORDS, RecipeConfig, checkpoint_dir

__all__ = ["Augmenter", "Pools", "build_pools"]


# ---------------------------------------------------------------- data
def _load_clip(path: str) -> torch.Tensor:
    return zaudio.load(path, SR).mono()


def _load_many(paths: list[str], desc: str) -> list[torch.Tensor]:
    return load_many(paths, SR, desc)


class Pools:
    """In-memory clips per label and source, plus noise recordings."""

    def __init__(self) -> None:
        self.real: dict[str, list[torch.Tensor]] = {label: [] for label in LABELS}
        self.tts: dict[str, list[torch.Tensor]] = {label: [] for label in LABELS}
        self.mined: dict[str, list[torch.Tensor]] = {label: [] for label in LABELS}
        self.noise: list[torch.Tensor] = []
        self.silence_rms_db: tuple[float, float] = (-60.0, -25.0)

    def counts(self) -> dict[str, dict[str, int]]:
        return {
            label: {"real": len(self.real[label]), "mined": len(self.mined[label]), "tts": len(self.tts[label])}
            for label in LABELS
        }


def build_pools(cfg: RecipeConfig, train_dev: list[Example], rng: random.Random) -> Pools:
    from zoo.train.tts import synthesize

    root = Path(cfg.data_root)
    pools = Pools()
    cache = Path(cfg.cache_dir)
    tiny = cfg.voices_per_keyword < 5
    # synthetic keywords and unknown words
    kw_rows = synthesize(list(KEYWORDS), cache / "tts-keywords", cfg.voices_per_keyword, seed=cfg.seed)
    unk_words = UNKNOWN_WORDS[:4] if tiny else UNKNOWN_WORDS
    unk_rows = synthesize(list(unk_words), cache / "tts-unknown", cfg.voices_per_unknown, seed=cfg.seed + 1)
    for row, clip in zip(kw_rows, _load_many([r["path"] for r in kw_rows], "tts keywords")):
        pools.tts[row["text"]].append(clip)
    pools.tts["_unknown_"] = _load_many([r["path"] for r in unk_rows], "tts unknown")
    # real unknown words (and the few real `right` clips) from speakers outside the dev split
    extra = root / "speech-commands-extra"
    extra_paths: list[tuple[str, str]] = []
    if extra.is_dir():
        for folder in sorted(extra.iterdir()):
            label = folder.name if folder.name in KEYWORDS else "_unknown_"
            files = sorted(str(f) for f in folder.iterdir())
            if tiny:
                files = files[:3]
            extra_paths += [(label, f) for f in files]
    fsdd = sorted(str(f) for f in (root / "fsdd").glob("*.flac"))
    if tiny:
        fsdd = fsdd[:3]
    extra_paths += [("_unknown_", f) for f in fsdd]
    if cfg.wake_words:  # real phrases from 50+ other speakers, none of them a keyword
        wake = sorted(str(f) for f in (root / "wake-words").glob("*/*.opus"))
        extra_paths += [("_unknown_", f) for f in (wake[:3] if tiny else wake)]
    extra_paths += [(e.label, e.path) for e in train_dev]
    for (label, _), clip in zip(extra_paths, _load_many([p for _, p in extra_paths], "real clips")):
        pools.real[label].append(clip)
    # real words force-aligned out of transcribed read speech
    if cfg.mined_fraction > 0 and cfg.mine_corpora and (cfg.mine_with or cfg.encoder_from):
        from .mining import filter_by_teacher, mine, mined_pools

        asr = checkpoint_dir(cfg.mine_with or cfg.encoder_from)
        rows = mine([root / c for c in cfg.mine_corpora], asr, cache)
        mined = mined_pools(rows, KEYWORDS, cfg.mined_unknown, cfg.seed)
        if cfg.mined_filter:
            mined = filter_by_teacher(mined, cfg.mined_filter)
        pools.mined.update(mined)
    # background noise; silence levels from the real silence clips we train on
    pools.noise = [_load_clip(str(f)) for f in sorted((root / "speech-commands-noise").glob("*.flac"))]
    if not pools.noise:
        pools.noise = [torch.randn(SR * 10) * 0.05]
    if pools.real["_silence_"]:
        levels = sorted(_rms_db(c) for c in pools.real["_silence_"])
        pools.silence_rms_db = (
            levels[max(0, len(levels) // 20)] - 6,
            levels[min(len(levels) - 1, len(levels) * 19 // 20)] + 3,
        )
    return pools


def _rms_db(x: torch.Tensor) -> float:
    return float(20 * torch.log10(x.pow(2).mean().sqrt() + 1e-8))


# --------------------------------------------------------- augmentation
class Augmenter:
    """Builds augmented 1 s training batches from :class:`Pools`."""

    def __init__(self, pools: Pools, cfg: RecipeConfig, seed: int) -> None:
        self.pools = pools
        self.cfg = cfg
        self.g = torch.Generator().manual_seed(seed)
        self.rng = random.Random(seed)

    def _noise(self, n: int) -> torch.Tensor:
        return noise_segment(self.pools.noise, n, self.rng)

    def _silence(self) -> torch.Tensor:
        lo, hi = self.pools.silence_rms_db
        if self.pools.real["_silence_"] and self.rng.random() < 0.3:
            clip = self.rng.choice(self.pools.real["_silence_"])
            return _fit(clip, SR, self.rng) * 10 ** (self.rng.uniform(-6, 6) / 20)
        if self.rng.random() < 0.05:
            return torch.randn(SR, generator=self.g) * 10 ** (self.rng.uniform(-90, -60) / 20)
        return self._noise(SR) * 10 ** (self.rng.uniform(lo, hi) / 20)

    def _speech(self, label: str) -> torch.Tensor:
        real, tts, mined = self.pools.real[label], self.pools.tts[label], self.pools.mined[label]
        recorded = True
        if mined and self.rng.random() < self.cfg.mined_fraction:
            clip = self.rng.choice(mined)
        else:
            use_real = real and (not tts or self.rng.random() < self.cfg.real_fraction)
            clip = self.rng.choice(real if use_real else tts)
            recorded = bool(use_real)
        if recorded and self.rng.random() < self.cfg.speed_prob:
            clip = speed_perturb(clip, self.rng, self.cfg.speed_change)
        return self.degrade(_fit(clip, SR, self.rng))

    def degrade(self, x: torch.Tensor) -> torch.Tensor:
        """Random gain, then reverberation, real background noise and the telephone band, by the recipe's chances."""
        peak = float(x.abs().max()) + 1e-8
        x = x / peak * 10 ** (self.rng.uniform(-30, 0) / 20)
        if self.rng.random() < self.cfg.reverb_prob:
            x = reverb(x, SR, self.rng, self.g)
        if self.rng.random() < self.cfg.noise_prob:
            speech_rms = x.pow(2).mean().sqrt() + 1e-8
            snr = self.rng.uniform(0, 25)
            # x.pow(2).mean() of a clip is about half its active speech power
            x = x + self._noise(x.numel()) * speech_rms * 10 ** (-snr / 20) * math.sqrt(4.0)
        if self.cfg.band_limit_prob and self.rng.random() < self.cfg.band_limit_prob:  # off: same draws as before
            x = zaudio.resample(zaudio.resample(x[None], SR, 8000), 8000, SR)[0, : x.numel()]
        return x

    def batch(self, n: int) -> tuple[torch.Tensor, torch.Tensor]:
        labels = [self.rng.randrange(len(LABELS)) for _ in range(n)]
        xs = [self._silence() if LABELS[y] == "_silence_" else self._speech(LABELS[y]) for y in labels]
        return torch.stack(xs).clamp(-1, 1), torch.tensor(labels)


def _fit(clip: torch.Tensor, n: int, rng: random.Random) -> torch.Tensor:
    """Place ``clip`` at a random offset in ``n`` samples (random crop if longer)."""
    if clip.numel() >= n:
        start = rng.randrange(0, clip.numel() - n + 1)
        return clip[start : start + n].clone()
    out = torch.zeros(n)
    start = rng.randrange(0, n - clip.numel() + 1)
    out[start : start + clip.numel()] = clip
    return out
