"""Batching across requests: concurrent requests for one model share one runner call.

Each model gets one worker thread. A request hands its inputs to
:meth:`MicroBatcher.submit` and gets a future. The worker takes the oldest
waiting request, keeps gathering until ``max_wait_ms`` after that request
arrived or until ``max_batch`` inputs are waiting, and runs them all through
``model.run`` as one list (the runner then buckets them into batches). Results
are split back per request, in order. Requests that arrived while the previous
batch was running are already past their wait, so under load nothing waits
for the timer. A request is refused with :class:`Overloaded` when more than
``max_pending`` inputs are already waiting: the server answers 503 with
``Retry-After`` instead of queueing without bound.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

from ..errors import ZooError

__all__ = ["BatchStats", "MicroBatcher", "Overloaded"]


class Overloaded(ZooError):
    """Too many inputs are waiting for this model; try again after ``retry_after_s``."""

    def __init__(self, model: str, pending: int, retry_after_s: int) -> None:
        self.model = model
        self.pending = pending
        self.retry_after_s = retry_after_s
        super().__init__(f"model {model!r} has {pending} inputs waiting; retry in {retry_after_s} s")


@dataclass
class _Request:
    inputs: list[Any]
    future: Future
    arrived: float


@dataclass
class BatchStats:
    """Counters for ``/healthz``: how many runner calls, inputs and the largest gathered batch."""

    calls: int = 0
    inputs: int = 0
    largest: int = 0
    sizes: list[int] = field(default_factory=list)

    def record(self, n: int) -> None:
        self.calls += 1
        self.inputs += n
        self.largest = max(self.largest, n)
        self.sizes.append(n)
        del self.sizes[:-100]  # the last 100 are enough to see the batching


class MicroBatcher:
    """Gather concurrent requests for one model into one ``run`` call.

    ``run`` takes a list of inputs and returns one result per input (usually
    ``model.run``).

    >>> b = MicroBatcher(lambda xs: [x * 2 for x in xs], name="double", max_wait_ms=1)
    >>> b.submit([1, 2]).result(), b.submit([3]).result()
    ([2, 4], [6])
    >>> b.close()
    """

    def __init__(
        self,
        run: Callable[[list[Any]], Sequence[Any]],
        *,
        name: str = "model",
        max_batch: int = 32,
        max_wait_ms: float = 5.0,
        max_pending: int = 256,
        retry_after_s: int = 1,
    ) -> None:
        self._run = run
        self.name = name
        self.max_batch = max(1, max_batch)
        self.max_wait_s = max(0.0, max_wait_ms) / 1000
        self.max_pending = max_pending
        self.retry_after_s = retry_after_s
        self.stats = BatchStats()
        self._queue: deque[_Request] = deque()
        self._pending = 0
        self._cv = threading.Condition()
        self._closed = False
        self._thread = threading.Thread(target=self._loop, name=f"zoo-batch-{name}", daemon=True)
        self._thread.start()

    @property
    def pending(self) -> int:
        """Inputs waiting (not yet handed to the runner)."""
        return self._pending

    def submit(self, inputs: Sequence[Any]) -> Future:
        """Queue ``inputs``; the future gives their results, in order.

        Raises:
            Overloaded: more than ``max_pending`` inputs would be waiting.
        """
        fut: Future = Future()
        items = list(inputs)
        if not items:
            fut.set_result([])
            return fut
        with self._cv:
            if self._closed:
                raise RuntimeError(f"the batcher for {self.name!r} is closed")
            if self._pending + len(items) > self.max_pending and self._pending > 0:
                raise Overloaded(self.name, self._pending, self.retry_after_s)
            self._queue.append(_Request(items, fut, time.monotonic()))
            self._pending += len(items)
            self._cv.notify()
        return fut

    def close(self) -> None:
        """Stop the worker; requests still waiting fail."""
        with self._cv:
            self._closed = True
            self._cv.notify()
        self._thread.join(timeout=5)
        while self._queue:
            self._queue.popleft().future.set_exception(RuntimeError("the server is shutting down"))

    def _take(self) -> list[_Request] | None:
        """Block for the next gathered group of requests (``None`` once closed)."""
        with self._cv:
            while not self._queue and not self._closed:
                self._cv.wait()
            if self._closed:
                return None
            deadline = self._queue[0].arrived + self.max_wait_s
            while self._pending < self.max_batch and not self._closed:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._cv.wait(left)
            group = [self._queue.popleft()]
            count = len(group[0].inputs)
            # A request is never split; the first one goes even when it alone is bigger than max_batch.
            while self._queue and count + len(self._queue[0].inputs) <= self.max_batch:
                req = self._queue.popleft()
                group.append(req)
                count += len(req.inputs)
            self._pending -= count
            return group

    def _loop(self) -> None:
        while True:
            group = self._take()
            if group is None:
                return
            live = [r for r in group if r.future.set_running_or_notify_cancel()]
            inputs = [x for r in live for x in r.inputs]
            if not inputs:
                continue
            try:
                results = list(self._run(inputs))
                if len(results) != len(inputs):
                    raise ZooError(f"{self.name}: {len(results)} results for {len(inputs)} inputs")
            except BaseException as exc:  # noqa: BLE001 - every waiting request learns why
                for r in live:
                    r.future.set_exception(exc)
                continue
            self.stats.record(len(inputs))
            start = 0
            for r in live:
                r.future.set_result(results[start : start + len(r.inputs)])
                start += len(r.inputs)
