"""Noisy speech for scoring speech enhancers: held-out speakers' read speech plus real recorded noise.

:func:`write_noisy_mixtures` takes utterances of the speakers
:func:`~.data.split_pool` holds out and adds a crop of one of the six Speech
Commands ``_background_noise_`` recordings (``speech-commands-noise/``: dishes,
exercise bike, running tap, miaowing, white and pink noise) at 0 or 5 dB SNR,
alternately. Each mixture is written in the layout :func:`~.data.mixtures`
reads: ``NNN/mix.wav``, ``s1.wav`` (the speech), ``s2.wav`` (the noise), plus
``noisy.json`` (SNR, noise file, speech file, speaker). The
``noisy-speech-heldout`` dataset (:func:`noisy_speech_heldout`) is that folder,
written once into the zoo cache.
"""

from __future__ import annotations

import hashlib
import json
import random
from pathlib import Path

import torch

from .data import MixtureExample, mixtures, speech_pool, split_pool

__all__ = ["NOISE_DIR", "SNRS_DB", "noisy_speech_heldout", "write_noisy_mixtures"]

#: the folder of real noise recordings under a data root
NOISE_DIR = "speech-commands-noise"
#: mixture i is made at ``SNRS_DB[i % len(SNRS_DB)]`` dB
SNRS_DB = (0.0, 5.0)


def _noise_files(root: Path) -> list[Path]:
    folder = root / NOISE_DIR
    files = sorted(p for p in folder.glob("*") if p.suffix in (".flac", ".wav", ".ogg")) if folder.is_dir() else []
    if not files:
        raise FileNotFoundError(
            f"no noise recordings in {folder}: expected the Speech Commands _background_noise_ files"
        )
    return files


def write_noisy_mixtures(
    root: str | Path, out_dir: str | Path, n: int = 40, rate: int = 16000, seed: int = 0, max_s: float = 6.0
) -> list[MixtureExample]:
    """``n`` noisy utterances of held-out speakers, written as ``NNN/mix.wav``, ``s1.wav`` (speech), ``s2.wav`` (noise).

    Each utterance (its first ``max_s`` seconds) is scaled to unit RMS and a
    random crop of a random noise recording is scaled to ``SNRS_DB[i % 2]`` dB
    below it; all three files share one gain so that the mixture peaks at 0.9.
    Deterministic for a data folder and seed; a folder already written with the
    same settings is reused.

    Raises:
        FileNotFoundError: ``root`` has no held-out read speech or no noise recordings.
    """
    from zoo import audio as zaudio

    root, out = Path(root), Path(out_dir)
    stamp = out / f"noisy-n{n}-r{rate}-s{seed}-m{max_s}.done"
    if not stamp.is_file():
        _, held = split_pool(speech_pool(root))
        if not held:
            raise FileNotFoundError(f"{root} holds no held-out speakers of read speech (speechocean762, librispeech)")
        noises = _noise_files(root)
        rng = random.Random(seed)
        cap = int(max_s * rate)
        loaded: dict[Path, torch.Tensor] = {}
        for i in range(n):
            utt = rng.choice(held)
            speech = zaudio.load(utt.path, rate).mono()[:cap]
            speech = speech / speech.pow(2).mean().sqrt().clamp(min=1e-5)
            noise_path = rng.choice(noises)
            if noise_path not in loaded:
                loaded[noise_path] = zaudio.load(str(noise_path), rate).mono()
            full = loaded[noise_path]
            start = rng.randrange(0, max(1, full.numel() - speech.numel() + 1))
            noise = full[start : start + speech.numel()]
            noise = torch.nn.functional.pad(noise, (0, speech.numel() - noise.numel()))
            snr = SNRS_DB[i % len(SNRS_DB)]
            noise = noise / noise.pow(2).mean().sqrt().clamp(min=1e-8) * 10 ** (-snr / 20)
            mix = speech + noise
            peak = float(mix.abs().max()) / 0.9
            d = out / f"{i:03d}"
            d.mkdir(parents=True, exist_ok=True)
            for name, x in [("mix", mix), ("s1", speech), ("s2", noise)]:
                zaudio.save(d / f"{name}.wav", zaudio.Audio((x / peak)[None], rate), subtype="FLOAT")
            (d / "speakers.txt").write_text(f"{utt.speaker}\n")
            meta = {"snr_db": snr, "noise": noise_path.stem, "speech": utt.path, "speaker": utt.speaker}
            (d / "noisy.json").write_text(json.dumps(meta) + "\n")
        stamp.write_text("")
    return mixtures(out, limit=n)


def noisy_speech_heldout(root: str | Path, n: int = 40, rate: int = 16000) -> list[MixtureExample]:
    """The ``noisy-speech-heldout`` dataset: :func:`write_noisy_mixtures` of a data folder, kept in the zoo cache.

    ``root`` is the folder holding speechocean762-train/, librispeech-speakers/
    and speech-commands-noise/ (``../shared/data``); a folder that already holds
    mixtures is read as it is.
    """
    from zoo.weights import cache_root

    root = Path(root)
    if any((d / "mix.wav").is_file() for d in root.iterdir() if d.is_dir()):
        return mixtures(root)
    key = hashlib.sha1(str(root.resolve()).encode()).hexdigest()[:10]
    return write_noisy_mixtures(root, cache_root() / "separation" / f"noisy-{rate}-{key}", n, rate)
