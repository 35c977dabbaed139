"""The keyword spotters side by side: accuracy is on their cards, this measures what each costs.

Every bundled ``keyword-spotting`` model runs the same 1 s clips of
held-out ``speech-commands-dev`` speakers through the zoo runner, in
interleaved rounds in one process (``zoo.bench.timing.interleave``).

    python benchmarks/kws_models_speed.py [--n 128] [--rounds 3] [--threads 2]

Writes ``benchmarks/results/kws-models-speed.md``.
"""

from __future__ import annotations

import argparse
import statistics
from pathlib import Path

import torch

import zoo
from zoo.bench.timing import Contestant, interleave

OUT = Path(__file__).parent / "results" / "kws-models-speed.md"


def contestant(name: str, files: list[str]) -> Contestant:
    model = zoo.load(name)

    def run() -> list[float]:
        results = model(files, progress=False)
        if not all(r.ok for r in results):
            raise RuntimeError(f"{name}: some inputs failed")
        return []

    return Contestant(name, run)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=128)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--data", default="../shared/data/speech-commands-dev")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    from zoo_plugins.kws.data import speech_commands_heldout

    files = [e.path for e in speech_commands_heldout(args.data)[: args.n]]
    names = sorted(zoo.list_models("kws-*"))
    measured = interleave([contestant(n, files) for n in names], args.rounds)
    fastest = min(statistics.median(m.seconds) for m in measured.values() if m.seconds)
    lines = [
        "# Keyword spotters: cost side by side",
        "",
        f"`python benchmarks/kws_models_speed.py --n {args.n} --rounds {args.rounds} --threads {args.threads}`:"
        f" {len(files)} clips of 1 s from held-out speech-commands-dev speakers, zoo runner, CPU, {args.threads}"
        " threads, interleaved rounds; median over rounds.",
        "",
        "| model | clips/s | ms a clip | time ÷ fastest | peak RSS MB |",
        "|---|---|---|---|---|",
    ]
    for name in names:
        m = measured[name]
        if m.error or not m.seconds:
            lines.append(f"| {name} | failed: {m.error} | | | |")
            continue
        s = statistics.median(m.seconds)
        per_clip = 1000 * s / len(files)
        lines.append(f"| {name} | {len(files) / s:.1f} | {per_clip:.1f} | {s / fastest:.2f}× | {m.peak_rss_mb:.0f} |")
    OUT.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
