"""Write the demo's example clips: ``python -m zoo_plugins.kws.training.make_examples``.

Six 1-second 16 kHz keyword clips made with the project's own synthesis
(espeak-ng and flite voices), named ``<label>_<voice>.wav``. They are synthetic,
so they show that the pipeline runs, not how well the model hears real voices.
"""

from __future__ import annotations

import random
import tempfile
from pathlib import Path

import torch

from zoo.audio import Audio, load, save
from zoo.train.tts import Voice, _synth_one

CLIPS = [
    ("yes", Voice("flite", "slt")),
    ("no", Voice("espeak-ng", "en-us+f3", pitch=60)),
    ("stop", Voice("flite", "rms")),
    ("left", Voice("espeak-ng", "en-gb+m3")),
    ("go", Voice("flite", "awb")),
    ("up", Voice("espeak-ng", "en-us+m1", rate=0.9)),
]


def main(out: Path = Path(__file__).resolve().parents[1] / "examples") -> None:
    out.mkdir(exist_ok=True)
    rng = random.Random(0)
    with tempfile.TemporaryDirectory() as tmp:
        for word, voice in CLIPS:
            raw = Path(tmp) / f"{word}.flac"
            _synth_one(word, voice, raw, 16000)
            x = load(raw).mono()[:16000]
            clip = torch.zeros(16000)
            start = rng.randrange(0, 16000 - x.numel() + 1)
            clip[start : start + x.numel()] = x * 0.5
            save(out / f"{word}_{voice.engine}-{voice.voice.replace('+', '-')}.wav", Audio(clip[None], 16000), "PCM_16")


if __name__ == "__main__":
    main()
