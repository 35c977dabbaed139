"""Throughput of `zoo serve` with 16 concurrent clients against the same requests sent one at a time.

Both modes run in one process against one server (a uvicorn subprocess on a
loopback port), alternating sequential and concurrent rounds so machine load
hits both alike. Each request carries one ~1 s clip. Writes
benchmarks/results/serve.json and serve.md.

    .venv/bin/python benchmarks/serve/bench_serve.py [--model kws-wav2vec2] [--requests 128] [--rounds 2]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(model: str, port: int, max_wait_ms: float, max_batch: int) -> subprocess.Popen:
    code = (
        "from zoo.serve import serve; "
        f"serve(port={port}, models=[{model!r}], preload=True, max_wait_ms={max_wait_ms}, "
        f"max_batch={max_batch}, log_level='warning')"
    )
    proc = subprocess.Popen([sys.executable, "-c", code], cwd=REPO)
    deadline = time.time() + 300
    while time.time() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200:
                return proc
        except httpx.HTTPError:
            time.sleep(0.5)
        if proc.poll() is not None:
            raise RuntimeError("server exited")
    proc.kill()
    raise RuntimeError("server did not come up")


def one(client: httpx.Client, url: str, clip: Path) -> float:
    t0 = time.perf_counter()
    r = client.post(url, files={"file": (clip.name, clip.read_bytes(), "audio/wav")})
    r.raise_for_status()
    assert r.json()[0]["type"] != "ErrorResult", r.text
    return time.perf_counter() - t0


def run_mode(base: str, model: str, clips: list[Path], n: int, concurrency: int) -> dict:
    url = f"{base}/v1/run/{model}"
    work = [clips[i % len(clips)] for i in range(n)]
    clients = [httpx.Client(timeout=120) for _ in range(concurrency)]
    t0 = time.perf_counter()
    if concurrency == 1:
        lat = [one(clients[0], url, c) for c in work]
    else:
        with ThreadPoolExecutor(concurrency) as pool:
            lat = list(pool.map(lambda ic: one(clients[ic[0] % concurrency], url, ic[1]), enumerate(work)))
    wall = time.perf_counter() - t0
    for c in clients:
        c.close()
    lat.sort()
    return {
        "requests": n,
        "concurrency": concurrency,
        "wall_s": round(wall, 3),
        "throughput_rps": round(n / wall, 2),
        "p50_ms": round(1000 * statistics.median(lat), 1),
        "p95_ms": round(1000 * lat[min(len(lat) - 1, int(0.95 * len(lat)))], 1),
    }


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--model", default="kws-wav2vec2")
    p.add_argument("--requests", type=int, default=128)
    p.add_argument("--concurrency", type=int, default=16)
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--max-wait-ms", type=float, default=5.0)
    p.add_argument("--max-batch", type=int, default=32)
    p.add_argument("--out", default=str(REPO / "benchmarks" / "results"))
    args = p.parse_args()
    import zoo_plugins.kws as kws

    clips = sorted((Path(kws.__file__).parent / "examples").glob("*.wav"))
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    proc = start_server(args.model, port, args.max_wait_ms, args.max_batch)
    try:
        run_mode(base, args.model, clips, 16, 1)  # warm-up: first calls, allocator, threads
        run_mode(base, args.model, clips, 32, args.concurrency)
        rounds = []
        for _ in range(args.rounds):
            seq = run_mode(base, args.model, clips, args.requests, 1)
            con = run_mode(base, args.model, clips, args.requests, args.concurrency)
            ratio = round(con["throughput_rps"] / seq["throughput_rps"], 2)
            rounds.append({"sequential": seq, "concurrent": con, "ratio": ratio})
            print(json.dumps(rounds[-1]), flush=True)
        health = httpx.get(f"{base}/healthz").json()
    finally:
        proc.terminate()
        proc.wait(30)
    load = os.getloadavg()
    report = {
        "model": args.model,
        "clip": "bundled KWS example clips (~1 s, 16 kHz), one per request",
        "max_wait_ms": args.max_wait_ms,
        "max_batch": args.max_batch,
        "rounds": rounds,
        "ratio_min": min(r["ratio"] for r in rounds),
        "batching": health["batching"],
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, "
        f"loadavg {load[0]:.1f}/{load[1]:.1f}/{load[2]:.1f} at the end (other work shares the CPUs)",
        "when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
    }
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "serve.json").write_text(json.dumps(report, indent=2) + "\n")
    lines = [
        f"# `zoo serve` batching across requests ({args.model})",
        "",
        f"{report['when']}; {report['machine']}. {report['clip']}.",
        f"Server: uvicorn subprocess on loopback, max_wait_ms={args.max_wait_ms}, max_batch={args.max_batch}.",
        "Sequential and concurrent rounds alternate in one run against one server.",
        "",
        "| round | mode | requests | wall s | req/s | p50 ms | p95 ms |",
        "|---|---|---|---|---|---|---|",
    ]
    for i, r in enumerate(rounds, 1):
        for mode in ("sequential", "concurrent"):
            m = r[mode]
            label = "1 client" if mode == "sequential" else f"{m['concurrency']} clients"
            cells = [i, label, m["requests"], m["wall_s"], m["throughput_rps"], m["p50_ms"], m["p95_ms"]]
            lines.append("| " + " | ".join(str(c) for c in cells) + " |")
    ratios = ", ".join(str(r["ratio"]) for r in rounds)
    lines += ["", f"Throughput ratio (concurrent / sequential) per round: {ratios}", ""]
    (out / "serve.md").write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
