"""Interleaved, repeated timing of contestants in one process, with memory peaks."""

from __future__ import annotations

import math
import statistics
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import torch

__all__ = ["Contestant", "Measurement", "RssSampler", "interleave", "ratio_summary"]


@dataclass
class Contestant:
    """A named way to process the whole workload; ``run()`` returns per-batch latencies (s)."""

    name: str
    run: Callable[[], list[float]]
    setup: Callable[[], None] | None = None


@dataclass
class Measurement:
    name: str
    seconds: list[float] = field(default_factory=list)
    batch_latencies: list[float] = field(default_factory=list)
    peak_rss_mb: float = 0.0
    peak_gpu_mb: float = 0.0
    error: str | None = None


class RssSampler:
    """Samples this process's resident memory every few ms; ``peak_mb`` above the start level."""

    def __init__(self, interval_s: float = 0.005) -> None:
        self.interval_s = interval_s
        self._stop = threading.Event()
        self.base = self.peak = _rss_bytes()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, _rss_bytes())
            time.sleep(self.interval_s)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, _rss_bytes())

    @property
    def peak_mb(self) -> float:
        return (self.peak - self.base) / 2**20


def _rss_bytes() -> int:
    try:
        with open("/proc/self/statm") as f:
            import os

            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:  # not Linux: fall back to the lifetime peak
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def interleave(
    contestants: list[Contestant],
    repeats: int,
    warmup: bool = True,
    progress: Callable[[str], None] | None = None,
    min_round_s: float = 0.5,
) -> dict[str, Measurement]:
    """Run every contestant once per round, ``repeats`` rounds, in a rotating order.

    A contestant whose pass over the workload takes less than ``min_round_s``
    makes enough consecutive passes in its turn to fill it, and its time is the
    mean per pass: a 0.1 s measurement is mostly scheduler noise.
    """
    out = {c.name: Measurement(c.name) for c in contestants}
    if warmup:
        for c in contestants:
            try:
                if c.setup:
                    c.setup()
                c.run()
            except Exception as exc:  # noqa: BLE001 - a failing baseline is reported, not fatal
                out[c.name].error = f"{type(exc).__name__}: {exc}"
    live = [c for c in contestants if out[c.name].error is None]
    for r in range(repeats):
        order = live[r % len(live) :] + live[: r % len(live)] if live else []
        for c in order:
            if progress:
                progress(f"round {r + 1}/{repeats}: {c.name}")
            m = out[c.name]
            if torch.cuda.is_available():
                torch.cuda.synchronize()
                torch.cuda.reset_peak_memory_stats()
            with RssSampler() as rss:
                t0 = time.perf_counter()
                lat = c.run()
                if torch.cuda.is_available():
                    torch.cuda.synchronize()
                first = time.perf_counter() - t0
                passes = 1 if first >= min_round_s else min(50, math.ceil(min_round_s / max(first, 1e-6)))
                for _ in range(passes - 1):
                    lat += c.run()
                if torch.cuda.is_available():
                    torch.cuda.synchronize()
                m.seconds.append((time.perf_counter() - t0) / passes)
            m.batch_latencies += lat
            m.peak_rss_mb = max(m.peak_rss_mb, rss.peak_mb)
            if torch.cuda.is_available():
                m.peak_gpu_mb = max(m.peak_gpu_mb, torch.cuda.max_memory_allocated() / 2**20)
    return out


def ratio_summary(num: list[float], den: list[float]) -> dict[str, float]:
    """Per-round speed ratios ``den_time / num_time`` (>1: numerator is faster): median, min, max."""
    ratios = [d / n for n, d in zip(num, den) if n > 0]
    if not ratios:
        return {}
    return {"median": round(statistics.median(ratios), 3), "min": round(min(ratios), 3), "max": round(max(ratios), 3)}


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    s = sorted(values)
    k = min(len(s) - 1, max(0, round(q * (len(s) - 1))))
    return s[k]
