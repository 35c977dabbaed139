"""The batching engine shared by every task.

Inputs are decoded on background threads while the model computes. Chunks are
grouped into length-bucketed batches under a sample budget (padding costs
compute, so similar lengths go together), collated with their lengths, moved to
the device and run under ``torch.inference_mode``. A CUDA out-of-memory error
halves the batch and retries. Any other failure is retried item by item so that
only the bad item gets an :class:`ErrorResult`; every other item keeps its result.
"""

from __future__ import annotations

import os
import time
import traceback
import weakref
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import torch

from .errors import InvalidArgumentError, ZooError
from .results import ErrorResult, Result
from .task import Chunk, unwrap_seed
from .task import ModelLike as Model
from .threads import choose_threads

__all__ = ["RunnerConfig", "is_oom", "plan_batches", "run"]


@dataclass(frozen=True)
class RunnerConfig:
    """How the runner batches.

    ``batch_size`` caps the items per batch; ``max_batch_samples`` caps the
    padded size of a batch (batch x longest chunk), so long chunks come in
    smaller batches, down to one. ``window`` is how many inputs are decoded and
    bucketed together, which bounds memory on long input lists.
    """

    batch_size: int = 32
    max_batch_samples: int = 32 * 16000
    window: int = 256
    workers: int = 2
    progress: bool | None = None  # None: show a bar for 64 inputs or more
    #: intra-op CPU threads; None: all free cores (probed before runs of 32+ inputs), see zoo.threads
    threads: int | None = None
    #: called with (batch size, seconds) after every forward pass (benchmarks use it)
    on_batch: Callable[[int, float], None] | None = None

    def __post_init__(self) -> None:
        for name in ("batch_size", "max_batch_samples", "window"):
            _check_count(name, getattr(self, name), minimum=1)
        _check_count("workers", self.workers, minimum=0)
        if self.threads is not None:
            _check_count("threads", self.threads, minimum=1)
        if self.progress is not None and not isinstance(self.progress, bool):
            raise InvalidArgumentError("progress", self.progress, "must be True, False or None")


def _check_count(name: str, value: Any, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise InvalidArgumentError(name, value, f"must be a whole number >= {minimum}")


def plan_batches(lengths: Sequence[int], batch_size: int, max_batch_samples: int) -> list[list[int]]:
    """Group indices into length-bucketed batches.

    Indices are sorted by length (longest first) and packed greedily while
    ``count <= batch_size`` and ``count * longest <= max_batch_samples``. A chunk
    longer than the budget gets a batch of its own. Every index appears in
    exactly one batch.

    >>> plan_batches([10, 100, 12, 95], batch_size=8, max_batch_samples=200)
    [[1, 3], [2, 0]]
    """
    if batch_size < 1:
        raise InvalidArgumentError("batch_size", batch_size, "must be a whole number >= 1")
    order = sorted(range(len(lengths)), key=lambda i: (-lengths[i], i))
    batches: list[list[int]] = []
    current: list[int] = []
    longest = 0
    for i in order:
        n = max(int(lengths[i]), 1)
        if current and (len(current) + 1 > batch_size or (len(current) + 1) * longest > max_batch_samples):
            batches.append(current)
            current = []
        if not current:
            longest = n
        current.append(i)
    if current:
        batches.append(current)
    return batches


def is_oom(exc: BaseException) -> bool:
    """True for a device out-of-memory error (CUDA, MPS or XPU)."""
    if isinstance(exc, torch.cuda.OutOfMemoryError):
        return True
    return isinstance(exc, RuntimeError) and "out of memory" in str(exc).lower()


@dataclass
class _Item:
    index: int
    source: str
    value: Any = None
    chunks: list[Chunk] | None = None
    outputs: list[Any] | None = None
    error: BaseException | None = None
    seed: int | None = None


def run(model: Model, inputs: Sequence[Any], config: RunnerConfig) -> list[Result]:
    """Run ``model``'s task over ``inputs``; one result per input, in order."""
    results: list[Result | None] = [None] * len(inputs)
    show = config.progress if config.progress is not None else len(inputs) >= 64
    bar = _progress(len(inputs), show, model.card.name)
    on_cpu = model.device.type == "cpu"
    before = torch.get_num_threads()
    pool = decode_pool(model, config.workers)
    # The contention probe (~50 ms) runs beside decoding; its answer applies from the next window on.
    probe = pool.submit(choose_threads, config.threads, on_cpu and len(inputs) >= 32) if on_cpu else None
    try:
        for window in _windows(model, inputs, pool, config.window, first=min(config.window, config.batch_size)):
            if probe is not None and probe.done():  # never wait for the probe
                chosen = probe.result()
                if chosen != torch.get_num_threads():
                    torch.set_num_threads(chosen)
                probe = None
            _run_window(model, window, config)
            for item in window:
                results[item.index] = _finish(model, item)
            bar.update(len(window))
    finally:
        if torch.get_num_threads() != before:
            torch.set_num_threads(before)
    bar.close()
    # every input gets a result, never None (a bug above must not look like a silent success)
    missing = ZooError("the runner produced no result for this input (a bug: please report it)")
    return [r if r is not None else error_result(f"<input {i}>", missing) for i, r in enumerate(results)]


def decode_pool(model: Model, workers: int) -> ThreadPoolExecutor:
    """The model's decoding threads, started on first use and kept for later calls.

    Starting and joining threads costs a few milliseconds per call, which is
    several percent of a batch of 1 s clips on a small model. The pool has one
    thread more than ``workers`` for the thread-contention probe. Its idle
    threads hold no CPU; they end with the model (or at interpreter exit).
    """
    size = max(1, workers) + 1
    pool = getattr(model, "_decode_pool", None)
    if pool is None or getattr(model, "_decode_pool_size", None) != size:
        if pool is not None:
            pool.shutdown(wait=False)
        pool = ThreadPoolExecutor(max_workers=size, thread_name_prefix="zoo-decode")
        weakref.finalize(model, pool.shutdown, wait=False)
        model._decode_pool, model._decode_pool_size = pool, size  # type: ignore[attr-defined]
    return pool


#: inputs decoded per worker task: fewer, larger tasks mean fewer thread hand-offs per batch
GROUP = 4


def _windows(
    model: Model, inputs: Sequence[Any], pool: ThreadPoolExecutor, size: int, first: int
) -> Iterator[list[_Item]]:
    """Decode windows of inputs on the pool, one window ahead of compute.

    The first window is small (one batch) so compute starts while the next,
    full-size window is still decoding.
    """

    def submit(start: int, stop: int) -> list[tuple[list[_Item], Future]]:
        out = []
        stop = min(stop, len(inputs))
        for g in range(start, stop, GROUP):
            idx = range(g, min(g + GROUP, stop))
            group = [_item(model, i, inputs[i]) for i in idx]
            out.append((group, pool.submit(_prepare_group, model, [unwrap_seed(inputs[i]) for i in idx])))
        return out

    pending = submit(0, first) if inputs else []
    start = first
    while pending:
        upcoming = submit(start, start + size) if start < len(inputs) else []
        start += size
        window = []
        for group, fut in pending:
            for item, prepared in zip(group, fut.result()):
                if isinstance(prepared, BaseException):
                    item.error = prepared
                else:
                    item.value, item.chunks = prepared
                    item.outputs = [None] * len(item.chunks)
                window.append(item)
        yield window
        pending = upcoming


def _item(model: Model, index: int, x: Any) -> _Item:
    value, seed = unwrap_seed(x)
    return _Item(index, model.task.describe(value), seed=seed)


def _prepare_group(model: Model, xs: list[tuple[Any, int | None]]) -> list[tuple[Any, list[Chunk]] | BaseException]:
    out: list[tuple[Any, list[Chunk]] | BaseException] = []
    for x, seed in xs:
        try:
            out.append(_prepare(model, x, seed))
        except Exception as exc:  # noqa: BLE001 - becomes this item's ErrorResult
            out.append(exc)
    return out


def _prepare(model: Model, x: Any, seed: int | None = None) -> tuple[Any, list[Chunk]]:
    value = model.task.read(model, x)
    chunks = model.task.preprocess(model, value)
    if not chunks:
        raise ZooError("the input produced no chunks to run")
    if seed is not None:
        # the seed rides on the chunks, so whichever batch (or OOM retry) runs them samples the same way
        for chunk in chunks:
            if chunk.seed is None:
                chunk.seed = seed
    return value, chunks


def _run_window(model: Model, window: list[_Item], config: RunnerConfig) -> None:
    refs = [(item, j) for item in window if item.error is None for j in range(len(item.chunks or ()))]
    lengths = [item.chunks[j].length for item, j in refs]  # type: ignore[index]
    for batch in plan_batches(lengths, config.batch_size, config.max_batch_samples):
        _run_batch(model, [refs[k] for k in batch], config.on_batch)


def _run_batch(model: Model, refs: list[tuple[_Item, int]], on_batch: Callable[[int, float], None] | None) -> None:
    refs = [(item, j) for item, j in refs if item.error is None]
    if not refs:
        return
    try:
        t0 = time.perf_counter()
        outputs = _forward(model, [item.chunks[j] for item, j in refs])  # type: ignore[index]
        if on_batch is not None:
            on_batch(len(refs), time.perf_counter() - t0)
    except Exception as exc:  # noqa: BLE001
        if len(refs) == 1:
            refs[0][0].error = exc
            return
        if is_oom(exc) and model.device.type == "cuda":
            torch.cuda.empty_cache()
        # Halve and retry: on OOM this backs off; on any other error it
        # isolates the failing item so the rest of the batch still finishes.
        half = len(refs) // 2
        _run_batch(model, refs[:half], on_batch)
        _run_batch(model, refs[half:], on_batch)
        return
    for (item, j), out in zip(refs, outputs):
        item.outputs[j] = out  # type: ignore[index]


def _forward(model: Model, chunks: list[Chunk]) -> list[Any]:
    batch = model.task.collate(model, chunks)
    batch = {k: _to(v, model) for k, v in batch.items()}
    with torch.inference_mode():
        outputs = model.task.forward(model, batch)
    if len(outputs) != len(chunks):
        raise ZooError(f"task {model.task.name!r} returned {len(outputs)} outputs for {len(chunks)} chunks")
    return outputs


def _to(value: Any, model: Model) -> Any:
    if not isinstance(value, torch.Tensor):
        return value
    if value.is_floating_point():
        return value.to(model.device, model.dtype, non_blocking=True)
    return value.to(model.device, non_blocking=True)


def _finish(model: Model, item: _Item) -> Result:
    if item.error is None:
        try:
            return model.task.postprocess(model, item.value, item.chunks, item.outputs)  # type: ignore[arg-type]
        except Exception as exc:  # noqa: BLE001
            item.error = exc
    return error_result(item.source, item.error)  # type: ignore[arg-type]


def error_result(source: str, exc: BaseException) -> ErrorResult:
    """The :class:`ErrorResult` for an input that raised ``exc``."""
    reason = getattr(exc, "reason", None) or str(exc) or type(exc).__name__
    if not isinstance(exc, ZooError) and os.environ.get("ZOO_DEBUG"):
        reason += "\n" + "".join(traceback.format_exception(exc))
    return ErrorResult(source=source, error=type(exc).__name__, reason=reason)


def _progress(total: int, show: bool, name: str) -> Any:
    if not show:
        return _NoBar()
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=name, unit="input", dynamic_ncols=True)


class _NoBar:
    def update(self, n: int) -> None:
        pass

    def close(self) -> None:
        pass
