"""asteroid's own inference on the same files, timed beside the zoo by ``zoo bench``."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import torch

__all__ = ["asteroid_baselines"]


def asteroid_baselines(model: Any, inputs: Sequence[Any], names: Sequence[str]) -> list[Any]:
    """``asteroid-separate``: the same asteroid model's ``separate()`` on each file, read with soundfile.

    This is what a user of asteroid writes: read the file (at the model's rate),
    ``model.separate(wav)`` on the whole recording in one forward pass, under
    ``torch.inference_mode``. The weights are the card's own (``model.net.model``).
    """
    from zoo.bench.timing import Contestant

    if "asteroid-separate" not in names or not hasattr(getattr(model.net, "model", None), "separate"):
        return []
    net = model.net.model

    def run() -> list[float]:
        import soundfile as sf

        lat = []
        for path in inputs:
            t0 = time.perf_counter()
            wav, rate = sf.read(path, dtype="float32", always_2d=True)
            if rate != net.sample_rate:
                raise ValueError(f"{path} is at {rate} Hz; asteroid's separate() needs {net.sample_rate} Hz")
            with torch.inference_mode():
                net.separate(torch.from_numpy(wav.mean(1))[None])
            lat.append(time.perf_counter() - t0)
        return lat

    return [Contestant("asteroid-separate", run)]
