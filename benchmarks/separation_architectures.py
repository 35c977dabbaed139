"""Which asteroid separator suits two CPU cores: training-step and inference time per architecture.

``python benchmarks/separation_architectures.py`` times, in one process and
interleaved, one optimiser step (4 mixtures of 2 s at 8 kHz, PIT SI-SDR loss)
and the separation of 60 s of audio for each configuration the recipe knows
(``zoo_plugins.separation.training.recipe.ARCHITECTURES``) and two larger
variants, and writes ``benchmarks/results/separation-architectures.md``.
Quality per unit of compute is in the model page (docs/models/sep-sudormrf-8k.md).
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path

import torch
from asteroid.losses import PITLossWrapper, pairwise_neg_sisdr
from zoo_plugins.separation.arch import build_asteroid
from zoo_plugins.separation.training.recipe import ARCHITECTURES

OUT = Path(__file__).resolve().parent / "results" / "separation-architectures.md"
CONFIGS = {
    **{name: (cls, {"n_src": 2, **args, "sample_rate": 8000}) for name, (cls, args) in ARCHITECTURES.items()},
    "sudormrf-16-blocks": ("SuDORMRFImprovedNet", {"n_src": 2, "bn_chan": 128, "num_blocks": 16,
                           "upsampling_depth": 4, "n_filters": 512, "kernel_size": 21, "stride": 10}),
    "sudormrf-original-8": ("SuDORMRFNet", {"n_src": 2, "bn_chan": 128, "num_blocks": 8, "upsampling_depth": 4,
                            "n_filters": 256, "kernel_size": 21, "stride": 10}),
}  # fmt: skip


def main(rounds: int = 3) -> None:
    torch.manual_seed(0)
    loss_fn = PITLossWrapper(pairwise_neg_sisdr, pit_from="pw_mtx")
    models = {name: build_asteroid(cls, args) for name, (cls, args) in CONFIGS.items()}
    opts = {name: torch.optim.Adam(m.parameters(), 1e-3) for name, m in models.items()}
    step_s: dict[str, list[float]] = {n: [] for n in models}
    infer_s: dict[str, list[float]] = {n: [] for n in models}
    x, s, long = torch.randn(4, 16000), torch.randn(4, 2, 16000), torch.randn(1, 60 * 8000)
    for r in range(rounds + 1):  # round 0 warms up
        for name, m in models.items():
            t = time.perf_counter()
            loss = loss_fn(m(x), s)
            opts[name].zero_grad()
            loss.backward()
            opts[name].step()
            dt = time.perf_counter() - t
            with torch.inference_mode():
                t = time.perf_counter()
                m(long)
                di = time.perf_counter() - t
            if r:
                step_s[name].append(dt)
                infer_s[name].append(di)
    lines = [
        "# Separation architectures on this machine",
        "",
        f"`python benchmarks/separation_architectures.py`, {torch.get_num_threads()} threads, "
        f"median of {rounds} interleaved rounds.",
        "",
        "| architecture | asteroid class | parameters | train step (4 x 2 s) | separate 60 s | real-time factor |",
        "|---|---|---|---|---|---|",
    ]
    for name, m in models.items():
        n = sum(p.numel() for p in m.parameters())
        inf = statistics.median(infer_s[name])
        lines.append(
            f"| {name} | {CONFIGS[name][0]} | {n / 1e6:.2f} M | {statistics.median(step_s[name]):.2f} s "
            f"| {inf:.2f} s | {inf / 60:.3f} |"
        )
    OUT.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
