"""CPU thread configuration for inference.

On a shared machine, intra-op threads that assume every core is free are
slower than fewer threads: torch's workers spin while they wait for a core
another process holds. Before a large run the runner samples how busy the
other processes keep the CPU (``/proc/stat`` over ~0.1 s, while this process
is idle) and uses only the cores left free. ``ZOO_NUM_THREADS=N`` (or
``RunnerConfig.threads``) pins the count instead.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator

import torch

__all__ = ["busy_cores", "choose_threads", "thread_count"]


def _cpu_times() -> tuple[int, int] | None:
    try:
        with open("/proc/stat") as f:
            fields = [int(x) for x in f.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
    return sum(fields), idle


_cache: dict[str, float] = {}
CACHE_S = 60.0


def busy_cores(window_s: float = 0.05) -> float | None:
    """How many cores *other* processes kept busy over ``window_s`` (None where unknown).

    This process's own CPU time is subtracted, so the probe may overlap with its
    own work. The answer is cached for ``CACHE_S`` seconds.
    """
    now = time.monotonic()
    if now - _cache.get("at", -1e9) < CACHE_S:
        return _cache["busy"]
    a, own_a, t_a = _cpu_times(), time.process_time(), time.monotonic()
    if a is None:
        return None
    time.sleep(window_s)
    b, own_b, t_b = _cpu_times(), time.process_time(), time.monotonic()
    if b is None or b[0] == a[0]:
        return None
    cores = os.cpu_count() or 1
    busy_total = (1 - (b[1] - a[1]) / (b[0] - a[0])) * cores
    busy = max(0.0, busy_total - (own_b - own_a) / max(t_b - t_a, 1e-6))
    _cache.update(at=now, busy=busy)
    return busy


def choose_threads(requested: int | None = None, probe: bool = True) -> int:
    """The intra-op thread count to use: pinned, or the cores other processes leave free."""
    env = os.environ.get("ZOO_NUM_THREADS")
    if requested:
        return max(1, requested)
    if env:
        return max(1, int(env))
    current = torch.get_num_threads()
    if not probe or current <= 1:
        return current
    busy = busy_cores()
    if busy is None:
        return current
    free = max(1, int((os.cpu_count() or 1) - busy + 0.5))
    return min(current, free)


@contextlib.contextmanager
def thread_count(n: int) -> Iterator[int]:
    """Use ``n`` intra-op threads inside the block, then restore the previous count."""
    before = torch.get_num_threads()
    if n != before:
        torch.set_num_threads(n)
    try:
        yield n
    finally:
        if n != before:
            torch.set_num_threads(before)
