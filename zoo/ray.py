"""Batch inference with Ray Data: the zoo runner on every actor of a Ray cluster.

:func:`run` builds a ``ray.data`` Dataset of input paths and ``map_batches`` a
callable class, :class:`ZooPredictor`, over it. Ray starts ``concurrency``
actors; each loads the model once (in its constructor) and runs the zoo runner
on every batch of paths it is handed, so decoding, length bucketing and
per-item errors work exactly as in-process. A row comes back per input with
its path and its ``to_dict()``; a bad file is an ``ErrorResult`` row, the other
rows are untouched. Without a running cluster, ``ray.init()`` starts a local
one on this machine; ``address="ray://head:10001"`` (or ``"auto"``) joins an
existing cluster instead.

>>> rows = zoo.ray.run("kws-wav2vec2", "clips/")            # doctest: +SKIP
>>> rows[0]["path"], rows[0]["label"]                       # doctest: +SKIP
('clips/a.wav', 'yes')
"""

from __future__ import annotations

import glob
import json
import os
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from .errors import ZooError

__all__ = ["AUDIO_SUFFIXES", "ZooPredictor", "expand_inputs", "run", "write_rows"]

#: file types a folder is searched for
AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".opus", ".mp3")


def expand_inputs(inputs: str | os.PathLike | Iterable[str | os.PathLike]) -> list[str]:
    """Paths from a folder (audio files inside it, recursively), a glob pattern, a file, or a list of those.

    >>> expand_inputs([])
    []
    """
    if isinstance(inputs, (str, os.PathLike)):
        inputs = [inputs]
    out: list[str] = []
    for item in inputs:
        text = os.fspath(item)
        path = Path(text)
        if path.is_dir():
            out += sorted(str(p) for p in path.rglob("*") if p.suffix.lower() in AUDIO_SUFFIXES and p.is_file())
        elif glob.has_magic(text):
            out += sorted(glob.glob(text, recursive=True))
        else:
            out.append(text)  # a missing file becomes that row's ErrorResult, like in-process
    return out


class ZooPredictor:
    """Ray Data's callable class: loads a model once per actor, runs the runner on each batch.

    A batch is a dict of columns (``"index"``, ``"path"``); the answer adds
    ``ok``, ``type``, ``summary`` and ``result`` (``to_dict()`` as JSON text, so
    rows of different result types share one schema).
    """

    def __init__(
        self,
        name: str,
        device: str | None = None,
        dtype: str | None = None,
        params: dict[str, Any] | None = None,
        runner_batch_size: int | None = None,
    ) -> None:
        import time

        import zoo

        t0 = time.perf_counter()
        self.model = zoo.load(name, device=device, dtype=dtype, **(params or {}))
        self.load_s = time.perf_counter() - t0  # reported once, with the actor's first batch
        self.runner_batch_size = runner_batch_size

    def __call__(self, batch: dict[str, Any]) -> dict[str, Any]:
        import time

        paths = [str(p) for p in batch["path"]]
        t0 = time.perf_counter()
        results = self.model.run(paths, batch_size=self.runner_batch_size, progress=False)
        runner_s = time.perf_counter() - t0
        load_s, self.load_s = self.load_s, 0.0
        return {
            # timings for `timings=`: the first row of a batch carries the batch's (and the actor's load) time
            "runner_s": [runner_s] + [0.0] * (len(paths) - 1),
            "load_s": [load_s] + [0.0] * (len(paths) - 1),
            "index": list(batch["index"]),
            "path": paths,
            "ok": [bool(r.ok) for r in results],
            "type": [type(r).__name__ for r in results],
            "summary": [_summary(r) for r in results],
            "result": [json.dumps(r.to_dict(), ensure_ascii=False) for r in results],
        }


def _summary(result: Any) -> str:
    summary = getattr(result, "summary", None)
    if callable(summary):
        return str(summary())
    return getattr(result, "reason", None) or type(result).__name__


def run(
    model: str,
    inputs: str | os.PathLike | Iterable[str | os.PathLike],
    *,
    out: str | os.PathLike | None = None,
    batch_size: int = 64,
    concurrency: int = 1,
    num_cpus: float = 1,
    num_gpus: float = 0,
    device: str | None = None,
    dtype: str | None = None,
    params: dict[str, Any] | None = None,
    address: str | None = None,
    init_kwargs: dict[str, Any] | None = None,
    timings: dict[str, float] | None = None,
) -> list[dict[str, Any]]:
    """Run ``model`` over ``inputs`` with Ray Data; one row per input, in input order.

    Args:
        model: a model or task name, loaded by each actor with :func:`zoo.load`.
        inputs: a folder, a glob pattern, a file, or a list of paths (see
            :func:`expand_inputs`). Every actor must see the same paths (a
            shared file system on a cluster).
        out: also write the rows to a ``.jsonl`` or ``.parquet`` file.
        batch_size: paths per Ray batch (one runner call per batch on an actor).
        concurrency: how many actors (each holds one copy of the model).
        num_cpus, num_gpus: resources reserved per actor; ``num_gpus=1`` puts
            each actor on its own GPU (pass ``device="cuda"``).
        device, dtype, params: as for :func:`zoo.load`.
        address: an existing cluster (``"auto"``, ``"ray://host:10001"``);
            ``None`` joins the one this process already started or starts a local one.
        init_kwargs: more ``ray.init`` arguments (e.g. ``runtime_env``).
        timings: a dict to fill with where the time went: ``init_s`` (starting
            Ray here), ``total_s`` (the dataset run), ``load_s`` (model loads in
            the actors, summed) and ``runner_s`` (runner calls, summed).

    Returns:
        ``[{"path": ..., **result.to_dict(), "summary": result.summary()}, ...]``;
        failed inputs have ``"type": "ErrorResult"`` with ``reason``.

    Raises:
        ZooError: Ray is not installed, or ``out`` has an unknown suffix.
    """
    try:
        import ray
    except ImportError as exc:
        raise ZooError("`--ray` needs the ray extra: pip install 'audio-zoo[ray]'") from exc
    if out is not None and Path(out).suffix not in (".jsonl", ".parquet"):
        raise ZooError(f"--out for --ray must end in .jsonl or .parquet, got {os.fspath(out)!r}")
    paths = expand_inputs(inputs)
    if not paths:
        raise ZooError(f"no input files found in {inputs!r}")
    t_start = time.perf_counter()
    if not ray.is_initialized():
        kwargs = {"include_dashboard": False, "log_to_driver": False, "configure_logging": False}
        ray.init(address=address, **{**kwargs, **(init_kwargs or {})})
    t_init = time.perf_counter()
    ctx = ray.data.DataContext.get_current()
    ctx.enable_progress_bars = False
    ctx.execution_options.preserve_order = True
    ds = ray.data.from_items([{"index": i, "path": p} for i, p in enumerate(paths)])
    ds = ds.map_batches(
        ZooPredictor,
        fn_constructor_kwargs={"name": model, "device": device, "dtype": dtype, "params": params},
        batch_size=batch_size,
        compute=ray.data.ActorPoolStrategy(size=concurrency),
        num_cpus=num_cpus,
        num_gpus=num_gpus,
        batch_format="numpy",
    )
    table = sorted(ds.take_all(), key=lambda row: int(row["index"]))
    if timings is not None:
        timings["init_s"] = t_init - t_start
        timings["total_s"] = time.perf_counter() - t_init
        timings["load_s"] = float(sum(float(row["load_s"]) for row in table))
        timings["runner_s"] = float(sum(float(row["runner_s"]) for row in table))
    rows = [
        {"path": str(row["path"]), **json.loads(str(row["result"])), "summary": str(row["summary"])} for row in table
    ]
    if len(rows) != len(paths):
        raise ZooError(f"Ray returned {len(rows)} rows for {len(paths)} inputs")
    if out is not None:
        write_rows(rows, out)
    return rows


def write_rows(rows: Sequence[dict[str, Any]], out: str | os.PathLike) -> Path:
    """Write result rows as JSON lines (``.jsonl``) or Parquet (``.parquet``).

    Parquet columns: ``path``, ``ok``, ``type``, ``summary`` (one line) and
    ``result`` (the row's ``to_dict()`` as JSON text; result types differ in
    fields, so they share one text column).
    """
    path = Path(out)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".jsonl":
        with path.open("w", encoding="utf-8") as f:
            for row in rows:
                f.write(json.dumps(row, ensure_ascii=False) + "\n")
        return path
    if path.suffix == ".parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        columns = {
            "path": [r["path"] for r in rows],
            "ok": [r.get("type") != "ErrorResult" for r in rows],
            "type": [r.get("type") for r in rows],
            "summary": [r.get("summary", r.get("type")) for r in rows],
            "result": [
                json.dumps({k: v for k, v in r.items() if k not in ("path", "summary")}, ensure_ascii=False)
                for r in rows
            ],
        }
        pq.write_table(pa.table(columns), path)
        return path
    raise ZooError(f"unknown results format {path.suffix!r}: use .jsonl or .parquet")
