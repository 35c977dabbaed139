"""Ray Data against the in-process runner on this machine, with where Ray's time goes.

Generates N one-second clips in a temp folder, then in one process:
1. in-process: zoo.load + model.run(paths) (load and run timed apart);
2. Ray: ray.init (local cluster), then zoo.ray.run over the same paths
   (actor start + model load inside the actor + streaming execution);
3. checks both give the same labels.
Writes benchmarks/results/ray.json and ray.md.

    .venv/bin/python benchmarks/serve/bench_ray.py [--files 400] [--actors 1] [--batch-size 64]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf
import torch

REPO = Path(__file__).resolve().parents[2]


def make_clips(folder: Path, n: int) -> list[str]:
    rng = np.random.default_rng(0)
    rate = 16000
    t = np.arange(rate, dtype=np.float32) / rate
    out = []
    for i in range(n):
        x = 0.2 * np.sin(2 * np.pi * rng.uniform(100, 3000) * t) + 0.05 * rng.standard_normal(rate)
        path = folder / f"clip{i:04d}.wav"
        sf.write(path, x.astype(np.float32), rate)
        out.append(str(path))
    return out


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--model", default="kws-wav2vec2")
    p.add_argument("--files", type=int, default=400)
    p.add_argument("--actors", type=int, default=1)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--out", default=str(REPO / "benchmarks" / "results"))
    args = p.parse_args()
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    import ray

    import zoo
    import zoo.ray as zray

    with tempfile.TemporaryDirectory() as tmp:
        paths = make_clips(Path(tmp), args.files)
        t0 = time.perf_counter()
        model = zoo.load(args.model)
        load_s = time.perf_counter() - t0
        model.run(paths[:8], progress=False)  # warm-up
        t0 = time.perf_counter()
        local = model.run(paths, batch_size=args.batch_size, progress=False)
        local_s = time.perf_counter() - t0
        # Ray gives an actor with num_cpus=1 one intra-op thread (OMP_NUM_THREADS=1): time that in-process too
        threads = torch.get_num_threads()
        t0 = time.perf_counter()
        model.run(paths, batch_size=args.batch_size, progress=False, threads=1)
        local1_s = time.perf_counter() - t0
        torch.set_num_threads(threads)
        del model

        t0 = time.perf_counter()
        ray.init(include_dashboard=False, log_to_driver=False, configure_logging=False)
        init_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        zray.run(args.model, paths[:8], batch_size=8, concurrency=args.actors)  # actor start + model load + 8 files
        first_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        timings: dict[str, float] = {}
        rows = zray.run(args.model, paths, batch_size=args.batch_size, concurrency=args.actors, timings=timings)
        ray_s = time.perf_counter() - t0
        ray.shutdown()
    same = sum(r.get("label") == getattr(x, "label", None) for r, x in zip(rows, local))
    n = args.files
    load = os.getloadavg()
    report = {
        "model": args.model,
        "files": n,
        "clip_s": 1.0,
        "batch_size": args.batch_size,
        "actors": args.actors,
        "in_process": {
            "load_s": round(load_s, 2),
            "threads": threads,
            "run_s": round(local_s, 2),
            "files_per_s": round(n / local_s, 1),
            "run_1_thread_s": round(local1_s, 2),
            "files_per_s_1_thread": round(n / local1_s, 1),
        },
        "ray": {
            "init_s": round(init_s, 2),
            "first_run_8_files_s": round(first_s, 2),
            "run_s": round(ray_s, 2),
            "files_per_s": round(n / ray_s, 1),
            "files_per_s_with_init": round(n / (ray_s + init_s), 1),
            "actor_model_load_s": round(timings["load_s"], 2),
            "actor_runner_s": round(timings["runner_s"], 2),
            "other_s": round(ray_s - timings["load_s"] - timings["runner_s"], 2),
        },
        "same_labels": f"{same}/{n}",
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, loadavg {load[0]:.1f}/{load[1]:.1f}/{load[2]:.1f}",
        "when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
    }
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "ray.json").write_text(json.dumps(report, indent=2) + "\n")
    i, r = report["in_process"], report["ray"]
    md = f"""# Ray Data vs the in-process runner ({args.model})

{report["when"]}; {report["machine"]}. {n} generated 1 s clips, runner batch {args.batch_size}, {args.actors} actor(s).

| | wall s | files/s |
|---|---|---|
| in-process `model.run`, {i["threads"]} threads (load: {i["load_s"]} s) | {i["run_s"]} | {i["files_per_s"]} |
| in-process, 1 thread (as a `num_cpus=1` actor) | {i["run_1_thread_s"]} | {i["files_per_s_1_thread"]} |
| `zoo.ray.run` (cluster up; includes actor start + model load in the actor) | {r["run_s"]} | {r["files_per_s"]} |
| `zoo.ray.run` + `ray.init` ({r["init_s"]} s) | {round(r["run_s"] + r["init_s"], 2)} | {r["files_per_s_with_init"]} |

Where the Ray run's {r["run_s"]} s went: model load inside the actor {r["actor_model_load_s"]} s, runner calls
{r["actor_runner_s"]} s (in-process on 1 thread: {i["run_1_thread_s"]} s), everything else (actor process start
and imports, scheduling, moving rows) {r["other_s"]} s.

A first `zoo.ray.run` on 8 files (actor start, imports, model load, 8 files) took {r["first_run_8_files_s"]} s:
that fixed cost is paid again by every run, because Ray Data starts a fresh actor pool per dataset.
Same labels: {report["same_labels"]}.
"""
    (out / "ray.md").write_text(md)
    print(md)


if __name__ == "__main__":
    main()
