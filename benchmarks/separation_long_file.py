"""One hour of two-speaker speech through the default separator: time and peak memory.

``python benchmarks/separation_long_file.py [--minutes 60] [--rate 16000]`` writes a
recording of that length at that rate (held-out mixtures end to end, from
``../shared/data``), separates it with ``zoo.load("source-separation")`` and
writes ``benchmarks/results/separation-long-file.md``: wall time, real-time
factor, and peak resident memory above the level before the call (sampled every
5 ms), with the process's total peak for reference.
"""

from __future__ import annotations

import argparse
import json
import resource
import tempfile
import time
from pathlib import Path

import torch

import zoo
from zoo import audio as zaudio
from zoo.bench.timing import RssSampler

OUT = Path(__file__).resolve().parent / "results" / "separation-long-file.md"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--minutes", type=float, default=60.0)
    p.add_argument("--rate", type=int, default=16000)
    p.add_argument("--data", default=str(Path(__file__).resolve().parents[2] / "shared" / "data"))
    args = p.parse_args()
    from zoo_plugins.separation.data import heldout_mixtures

    examples = heldout_mixtures(args.data)
    target = int(args.minutes * 60 * args.rate)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "long.wav"
        pieces = [zaudio.load(e.path, args.rate).mono() for e in examples]
        one_pass = torch.cat(pieces)
        wav = one_pass.repeat(target // one_pass.numel() + 1)[:target]
        zaudio.save(path, zaudio.Audio(wav[None], args.rate), subtype="PCM_16")
        del wav, one_pass, pieces
        model = zoo.load("source-separation")
        model(examples[0].path)  # warm up
        with RssSampler() as rss:
            t0 = time.perf_counter()
            result = model(str(path))
            seconds = time.perf_counter() - t0
        assert result.ok, result.summary()
        row = {
            "model": model.name,
            "audio_minutes": args.minutes,
            "input_rate": args.rate,
            "output": list(result.sources.shape),
            "output_rate": result.sample_rate,
            "seconds": round(seconds, 1),
            "rtf": round(seconds / (args.minutes * 60), 4),
            "peak_rss_above_start_mb": round(rss.peak_mb, 1),
            "process_peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
            "threads": torch.get_num_threads(),
        }
    head = "| " + " | ".join(row) + " |\n|" + "---|" * len(row) + "\n"
    OUT.write_text(
        '# A long recording through `zoo.load("source-separation")`\n\n'
        "`python benchmarks/separation_long_file.py`: held-out mixtures end to end, read window by window.\n\n"
        + head
        + "| "
        + " | ".join(str(v) for v in row.values())
        + " |\n"
    )
    OUT.with_suffix(".json").write_text(json.dumps(row, indent=1) + "\n")
    print(json.dumps(row))


if __name__ == "__main__":
    main()
