"""The batched runner: bucketing, padding invariance, OOM back-off, per-item errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from zoo import ErrorResult
from zoo.runner import is_oom, plan_batches


@settings(max_examples=200, deadline=None)
@given(
    lengths=st.lists(st.integers(min_value=1, max_value=10_000), max_size=60),
    batch_size=st.integers(min_value=1, max_value=16),
    budget=st.integers(min_value=1, max_value=50_000),
)
def test_plan_batches_properties(lengths, batch_size, budget):
    """Every index once; batch size and padded budget respected (a lone long chunk may exceed it)."""
    batches = plan_batches(lengths, batch_size, budget)
    flat = sorted(i for b in batches for i in b)
    assert flat == list(range(len(lengths)))
    for b in batches:
        assert 1 <= len(b) <= batch_size
        padded = len(b) * max(lengths[i] for i in b)
        assert padded <= budget or len(b) == 1


def test_plan_batches_groups_similar_lengths():
    lengths = [100, 1000, 110, 990, 105, 1010]
    batches = plan_batches(lengths, batch_size=3, max_batch_samples=10**6)
    assert [sorted(b) for b in batches] == [[1, 3, 5], [0, 2, 4]]


def test_padding_invariance(tiny_model):
    """Batched outputs equal single-item outputs within 1e-4, for mixed lengths."""
    rng = np.random.default_rng(0)
    clips = [(rng.standard_normal(n).astype(np.float32) * 0.1, 16000) for n in (4000, 16000, 9000, 12000, 16000)]
    batched = tiny_model(clips, batch_size=8)
    single = [tiny_model(c, batch_size=1) for c in clips]
    for b, s in zip(batched, single):
        for label in b.scores:
            assert abs(b.scores[label] - s.scores[label]) < 1e-4


def test_padding_invariance_at_the_network(tiny_model):
    """The network itself ignores padding: masked logits match unpadded ones."""
    net = tiny_model.net
    x = torch.randn(1, 11000) * 0.1
    alone = net(x, torch.tensor([11000]))
    padded = torch.nn.functional.pad(x, (0, 5000))
    batch = torch.cat([padded, torch.randn(1, 16000) * 0.1])
    together = net(batch, torch.tensor([11000, 16000]))
    assert torch.allclose(alone[0], together[0], atol=1e-4)


def test_one_bad_item_does_not_cost_the_others(tiny_model, tmp_path, tone):
    """Bad inputs become ErrorResults in place; every good input still gets its result."""
    bad_file = tmp_path / "bad.wav"
    bad_file.write_bytes(b"not audio")
    nan = tone.copy()
    nan[5] = np.nan
    inputs = [(tone, 16000), str(bad_file), (nan, 16000), str(tmp_path / "missing.wav"), (tone, 16000), str(tmp_path)]
    results = tiny_model(inputs)
    assert [r.ok for r in results] == [True, False, False, False, True, False]
    assert results[1].source == str(bad_file) and "readable" in results[1].reason
    assert results[3].error == "AudioError" and "no such file" in results[3].reason


def test_failure_inside_a_batch_is_isolated(tiny_model, tone, monkeypatch):
    """If the forward pass fails for one item, the batch is split and only that item errors."""
    task = tiny_model.task
    real_forward = type(task).forward

    def flaky(self, model, batch):
        if (batch["inputs"].abs().amax(dim=1) > 0.9).any():
            raise ValueError("poisoned item")
        return real_forward(self, model, batch)

    monkeypatch.setattr(type(task), "forward", flaky)
    loud = np.clip(tone * 4, -1, 1)
    results = tiny_model([(tone, 16000)] * 3 + [(loud, 16000)] + [(tone, 16000)] * 4, batch_size=8)
    assert [r.ok for r in results] == [True] * 3 + [False] + [True] * 4
    assert "poisoned" in results[3].reason


def test_simulated_oom_halves_the_batch(tiny_model, tone, monkeypatch):
    """A CUDA OOM on a big batch backs off to smaller batches and every item finishes."""
    task = tiny_model.task
    real_forward = type(task).forward
    sizes = []

    def oom_above_2(self, model, batch):
        sizes.append(batch["inputs"].shape[0])
        if batch["inputs"].shape[0] > 2:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return real_forward(self, model, batch)

    monkeypatch.setattr(type(task), "forward", oom_above_2)
    results = tiny_model([(tone, 16000)] * 8, batch_size=8)
    assert all(r.ok for r in results)
    assert sizes[0] == 8 and max(sizes[1:]) <= 4 and 2 in sizes


def test_is_oom():
    assert is_oom(torch.cuda.OutOfMemoryError("x"))
    assert is_oom(RuntimeError("CUDA error: out of memory"))
    assert not is_oom(ValueError("out of memory"))


def test_thousand_items_in_order(tiny_model):
    """1,000 inputs return 1,000 results in input order."""
    rng = np.random.default_rng(1)
    clips = [(rng.standard_normal(1600 * (1 + i % 10)).astype(np.float32) * 0.05, 16000) for i in range(1000)]
    results = tiny_model(clips, batch_size=64, progress=False)
    assert len(results) == 1000 and all(r.ok for r in results)
    again = tiny_model(clips[:40], batch_size=1, progress=False)
    for a, b in zip(results[:40], again):
        assert a.label == b.label and abs(a.score - b.score) < 1e-4


def test_single_input_returns_single_result(tiny_model, tone):
    r = tiny_model((tone, 16000))
    assert not isinstance(r, list) and r.ok
    assert isinstance(tiny_model([(tone, 16000)]), list)


def test_error_result_is_typed(tiny_model):
    r = tiny_model("/definitely/missing.wav")
    assert isinstance(r, ErrorResult) and not r.ok
    assert r.to_dict()["type"] == "ErrorResult"


def test_thread_choice_pins_and_probes(monkeypatch):
    """ZOO_NUM_THREADS pins the count; the probe never asks for more threads than torch has."""
    from zoo import threads

    monkeypatch.setenv("ZOO_NUM_THREADS", "1")
    assert threads.choose_threads() == 1
    assert threads.choose_threads(requested=3) == 3
    monkeypatch.delenv("ZOO_NUM_THREADS")
    assert 1 <= threads.choose_threads() <= torch.get_num_threads()
    before = torch.get_num_threads()
    with threads.thread_count(1):
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == before


def test_busy_cores_is_bounded_and_cached():
    """The contention probe returns 0..cores busy cores and caches its answer."""
    import os

    from zoo import threads

    threads._cache.clear()
    busy = threads.busy_cores(window_s=0.05)
    if busy is None:
        pytest.skip("no /proc/stat on this system")
    assert 0 <= busy <= (os.cpu_count() or 1)
    assert threads.busy_cores() == busy


def test_decode_threads_are_kept_between_calls_and_end_with_the_model(tiny_entry, tone):
    """One decode pool per model, reused by every call; dropping the model ends its threads."""
    import gc
    import threading
    import time

    from zoo.model import Model
    from zoo.runner import decode_pool

    def decode_threads() -> set[int]:
        return {t.ident for t in threading.enumerate() if t.name.startswith("zoo-decode")}

    import zoo
    from zoo.registry import card_from_entry
    from zoo.weights import resolve

    card = card_from_entry("kws-tiny", tiny_entry, Path("."))
    net = zoo.get_zoo().architecture(card.architecture).loader(card, resolve(card), torch.device("cpu"), torch.float32)
    before = decode_threads()
    model = Model(card, zoo.get_zoo().task(card.task), net, torch.device("cpu"), torch.float32)
    assert model([(tone, 16000)] * 6)[0].ok
    pool = decode_pool(model, model.config.workers)
    mine = decode_threads() - before
    assert mine
    assert model([(tone, 16000)] * 6)[-1].ok
    assert decode_pool(model, model.config.workers) is pool
    mine_after = decode_threads() - before
    assert mine <= mine_after and len(mine_after) <= model.config.workers + 1  # reused, never more than the pool
    mine = mine_after
    del model, pool, net
    gc.collect()
    deadline = time.monotonic() + 5
    while decode_threads() & mine and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not decode_threads() & mine
