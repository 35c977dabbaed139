"""Run a suite: quality jobs against registry claims, speed jobs against baselines."""

from __future__ import annotations

import os
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from .. import audio as zaudio
from ..errors import ZooError
from ..runner import plan_batches
from ..task import Workload
from .suite import QualityJob, SpeedJob, Suite
from .timing import Contestant, interleave, percentile, ratio_summary

__all__ = ["BenchConfig", "run_bench", "run_quality", "run_speed"]

REPO = Path(__file__).resolve().parents[2]


@dataclass
class BenchConfig:
    """Command-line choices that narrow or redirect a suite."""

    task: str | None = None
    models: str | None = None
    data: dict[str, str] = field(default_factory=dict)
    out: Path = REPO / "benchmarks" / "results"
    limit: int | None = None
    speed: bool = True
    quality: bool = True
    log: Callable[[str], None] = print


def _root(name: str, default: str, cfg: BenchConfig) -> Path:
    raw = cfg.data.get(name) or os.path.expandvars(default)
    path = Path(raw)
    return path if path.is_absolute() else (REPO / path).resolve()


def _examples(job_dataset: str, root: Path, limit: int | None) -> list[Any]:
    import zoo

    z = zoo.get_zoo()
    if job_dataset not in z.datasets:
        raise ZooError(f"no plugin provides dataset {job_dataset!r}; known: {', '.join(sorted(z.datasets))}")
    if not root.exists():
        raise ZooError(f"data for {job_dataset!r} not found at {root}; pass --data {job_dataset}=DIR")
    examples = list(z.datasets[job_dataset].obj(root))
    if limit and len(examples) > limit:
        step = len(examples) / limit
        examples = [examples[int(i * step)] for i in range(limit)]
    return examples


# ----------------------------------------------------------------- quality
def run_quality(job: QualityJob, cfg: BenchConfig) -> list[dict[str, Any]]:
    """Evaluate every model matching the job; compare with the card's claims."""
    import zoo

    z = zoo.get_zoo()
    examples = _examples(job.dataset, _root(job.dataset, job.root, cfg), cfg.limit or job.limit)
    metrics = [m for m in z.metrics.values() if m.task == job.task]
    rows = []
    for card in z.registry.list(cfg.models or job.models, job.task):
        cfg.log(f"quality: {card.name} on {job.dataset} ({len(examples)} examples)")
        try:
            model = zoo.load(card.name, **job.params)
        except ZooError as exc:
            rows.append({"model": card.name, "dataset": job.dataset, "error": str(exc)})
            continue
        t0 = time.perf_counter()
        results = model.task.quality_results(model, examples)
        values: dict[str, Any] = {"examples": len(examples), "failed": sum(not r.ok for r in results)}
        for m in metrics:
            values.update(m.obj(results, examples))
        row = {
            "model": card.name,
            "dataset": job.dataset,
            **({"params": dict(job.params)} if job.params else {}),
            "seconds": round(time.perf_counter() - t0, 2),
            "metrics": values,
            "claims": compare_with_card(values, card.metrics.get(job.dataset, {}), params_suffix(job.params)),
        }
        if job.int8 and model.device.type == "cpu":
            row["int8"] = _int8_change(card.name, examples, metrics, values, job.params)
        rows.append(row)
    return rows


def _int8_change(
    name: str, examples: list[Any], metrics: list[Any], fp32: dict[str, Any], params: dict[str, Any]
) -> dict[str, Any]:
    """Metrics of the int8-quantized model and their change from float32."""
    import zoo

    results = zoo.load(name, device="cpu", quantize="int8", **params)([e.path for e in examples], progress=False)
    values: dict[str, Any] = {}
    for m in metrics:
        values.update(m.obj(results, examples))
    change = {
        k: round(float(v) - float(fp32[k]), 4)
        for k, v in values.items()
        if _is_number(v) and _is_number(fp32.get(k)) and not k.endswith("_stderr")
    }
    return {"metrics": {k: v for k, v in values.items() if _is_number(v)}, "change": change}


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def params_suffix(params: dict[str, Any]) -> str:
    """``{decoder: greedy}`` -> ``"_greedy"``: how a card names metrics measured with those params."""
    return "".join(f"_{v}" for v in params.values())


def compare_with_card(measured: dict[str, Any], claimed: dict[str, Any], suffix: str = "") -> dict[str, Any]:
    """For each claimed metric also measured: the difference and whether it is beyond noise.

    Noise is two standard errors when the metric reports ``<name>_stderr``, else 0.01.
    Integer entries (clips, speakers, reference words) describe the sample, so
    they are not compared: a subset run is not a drift.
    A job run with card params compares against the claims named ``<metric>_<value>``
    (``decoder: greedy`` -> ``wer_greedy``); ``suffix`` is that ``_<value>`` part.
    """
    out = {}
    for full_key, claim in claimed.items():
        if suffix and not full_key.endswith(suffix):
            continue
        key = full_key[: -len(suffix)] if suffix else full_key
        # integers are sample sizes (clips, speakers, reference words), not quality claims
        if key not in measured or not isinstance(claim, float):
            continue
        diff = float(measured[key]) - float(claim)
        noise = 2 * float(measured.get(f"{key}_stderr", 0.005))
        out[key] = {
            "claimed": claim,
            "measured": measured[key],
            "diff": round(diff, 4),
            "noise": round(noise, 4),
            "flag": abs(diff) > noise,
        }
    return out


# ------------------------------------------------------------------- speed
def _make_workload(job: SpeedJob, cfg: BenchConfig, tmp: Path, model: Any) -> Workload:
    """The job's inputs, made by the model's task from the dataset (audio tasks: clips of ``job.lengths_s``)."""
    examples = _examples(job.dataset, _root(job.dataset, job.root, cfg), None) if job.dataset else []
    return model.task.bench_workload(model, examples, job.n, tuple(job.lengths_s), tmp)


def run_speed(job: SpeedJob, cfg: BenchConfig) -> dict[str, Any]:
    """Time the zoo runner against the HF pipeline and the raw forward pass, interleaved."""
    import zoo

    if job.threads:
        torch.set_num_threads(job.threads)
    model = zoo.load(job.model, **job.params)
    with tempfile.TemporaryDirectory() as tmp:
        workload = _make_workload(job, cfg, Path(tmp), model)
        files, audio_s = workload.inputs, workload.audio_s
        contestants = [_zoo_contestant(model, files)]
        if job.int8 and model.device.type == "cpu":
            contestants.append(
                _zoo_contestant(zoo.load(job.model, device="cpu", quantize="int8", **job.params), files, "zoo-int8")
            )
        if "raw" in job.baselines:
            contestants += [_raw_contestant(model, files, b) for b in (1, 8, 32)]
            contestants.append(_decode_contestant(model, files))
            if model.task.input_kind == "audio":
                contestants.append(_predecoded_contestant(model, files))
        if "pipeline" in job.baselines and model.task.hf_pipeline_task:
            contestants += [_pipeline_contestant(model, files, b) for b in (1, 8, 32)]
        if "ray" in job.baselines:
            contestants.append(_ray_contestant(job, files))
        for variant, extra in job.variants.items():
            extra = dict(extra)
            quantize, runner = extra.pop("quantize", None), extra.pop("runner", {})
            variant_model = zoo.load(job.model, quantize=quantize, **{**job.params, **extra})
            if runner:  # runner settings, e.g. {batch_size: 1} to measure what batching across files gains
                variant_model.config = type(variant_model.config)(**{**variant_model.config.__dict__, **runner})
            contestants.append(_zoo_contestant(variant_model, files, f"zoo-{variant}"))
        contestants += model.task.speed_baselines(model, files, job.baselines)
        cfg.log(
            f"speed: {job.name} ({job.model}, {len(files)} inputs"
            + (f", {audio_s:.0f} s of audio" if audio_s else "")
            + ", "
            f"{torch.get_num_threads()} threads, {job.repeats} rounds)"
        )
        measured = interleave(contestants, job.repeats, progress=None)
    return summarise_speed(job, measured, len(files), audio_s)


def summarise_speed(job: SpeedJob, measured: dict, n: int, audio_s: float | None) -> dict[str, Any]:
    """Per-contestant throughput and latency, and the ratios between them (RTF only for audio input)."""
    rows = {}
    for name, m in measured.items():
        if m.error:
            rows[name] = {"error": m.error}
            continue
        t = statistics.median(m.seconds)
        rows[name] = {
            "clips_per_s": round(n / t, 2),
            **({"rtf": round(t / audio_s, 5)} if audio_s else {}),
            "seconds": [round(s, 3) for s in m.seconds],
            "batch_p50_ms": round(1000 * percentile(m.batch_latencies, 0.5), 2),
            "batch_p95_ms": round(1000 * percentile(m.batch_latencies, 0.95), 2),
            "peak_rss_mb": round(m.peak_rss_mb, 1),
            "peak_gpu_mb": round(m.peak_gpu_mb, 1),
        }
    ok = {k: v for k, v in measured.items() if not v.error}

    def best(prefix: str) -> str | None:
        names = [k for k in ok if k.startswith(prefix)]
        return min(names, key=lambda k: statistics.median(ok[k].seconds)) if names else None

    ratios = {}
    for ref in ("pipeline-b1", best("pipeline-"), best("raw-")):
        if ref and ref in ok and "zoo" in ok:
            ratios[f"zoo_vs_{ref}"] = ratio_summary(ok["zoo"].seconds, ok[ref].seconds)
    raw = best("raw-")
    if "zoo-predecoded" in ok and raw:
        ratios[f"zoo-predecoded_vs_{raw}"] = ratio_summary(ok["zoo-predecoded"].seconds, ok[raw].seconds)
    if "zoo-int8" in ok and "zoo" in ok:
        ratios["zoo-int8_vs_zoo"] = ratio_summary(ok["zoo-int8"].seconds, ok["zoo"].seconds)
    for variant in job.variants:
        if f"zoo-{variant}" in ok and "zoo" in ok:
            ratios[f"zoo-{variant}_vs_zoo"] = ratio_summary(ok[f"zoo-{variant}"].seconds, ok["zoo"].seconds)
    own = ("zoo", "raw-", "pipeline-", "decode-only", "ray")
    for other in (k for k in ok if not k.startswith(own)):  # the task's own baselines (other tools)
        for mine in ("zoo", "zoo-int8", *(f"zoo-{v}" for v in job.variants)):
            if mine in ok:
                ratios[f"{mine}_vs_{other}"] = ratio_summary(ok[mine].seconds, ok[other].seconds)
    if "ray" in ok and "zoo" in ok:
        ratios["ray_vs_zoo"] = ratio_summary(ok["ray"].seconds, ok["zoo"].seconds)
    return {
        "job": job.name,
        "model": job.model,
        "files": n,
        "audio_s": round(audio_s, 1) if audio_s else None,
        "threads": torch.get_num_threads(),
        "device": "cuda" if torch.cuda.is_available() else "cpu",
        "contestants": rows,
        "ratios": ratios,
        "best_pipeline": best("pipeline-"),
        "best_raw": best("raw-"),
    }


def _zoo_contestant(model: Any, files: list[str], name: str = "zoo") -> Contestant:
    def run() -> list[float]:
        lat: list[float] = []
        model.config = type(model.config)(
            **{**model.config.__dict__, "on_batch": lambda n, s: lat.append(s), "progress": False}
        )
        results = model(files)
        bad = [r for r in results if not r.ok]
        if bad:
            raise ZooError(f"{len(bad)} inputs failed, e.g. {bad[0].reason}")
        return lat

    return Contestant(name, run)


def _ray_contestant(job: SpeedJob, files: list[str]) -> Contestant:
    """``zoo.ray.run`` on local Ray (one actor): each pass starts an actor pool and loads the model in it."""

    def setup() -> None:
        import os

        import ray

        os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
        if not ray.is_initialized():
            ray.init(include_dashboard=False, log_to_driver=False, configure_logging=False)

    def run() -> list[float]:
        from .. import ray as zray

        rows = zray.run(job.model, files, params=dict(job.params) or None)
        bad = [r for r in rows if r.get("type") == "ErrorResult"]
        if bad:
            raise ZooError(f"{len(bad)} inputs failed under Ray, e.g. {bad[0].get('reason')}")
        return []

    return Contestant("ray", run, setup)


def _predecoded_contestant(model: Any, files: list[str]) -> Contestant:
    """The runner given already-decoded audio: its own overhead, without the cost of decoding files."""
    decoded: list[Any] = []
    inner = _zoo_contestant(model, decoded, "zoo-predecoded")

    def setup() -> None:
        if not decoded:
            decoded.extend(zaudio.load(f, model.card.sample_rate) for f in files)

    return Contestant(inner.name, inner.run, setup)


def _raw_contestant(model: Any, files: list[str], batch_size: int) -> Contestant:
    """The ceiling: pre-decoded, pre-chunked tensors, length-bucketed, straight through the task's forward."""
    chunks: list[Any] = []

    def setup() -> None:
        for f in files:
            chunks.extend(model.task.preprocess(model, model.task.read(model, f)))

    def run() -> list[float]:
        lat = []
        budget = batch_size * max(c.length for c in chunks)
        for batch in plan_batches([c.length for c in chunks], batch_size, budget):
            t0 = time.perf_counter()
            b = model.task.collate(model, [chunks[i] for i in batch])
            b = {k: v.to(model.device) if isinstance(v, torch.Tensor) else v for k, v in b.items()}
            with torch.inference_mode():
                model.task.forward(model, b)
            lat.append(time.perf_counter() - t0)
        return lat

    return Contestant(f"raw-b{batch_size}", run, setup)


def _decode_contestant(model: Any, files: list[str]) -> Contestant:
    """Decoding and chunking alone, on the runner's worker threads: what the raw ceiling leaves out."""
    from concurrent.futures import ThreadPoolExecutor

    def run() -> list[float]:
        with ThreadPoolExecutor(max_workers=model.config.workers) as pool:
            list(pool.map(lambda f: model.task.preprocess(model, model.task.read(model, f)), files))
        return []

    return Contestant("decode-only", run)


def _pipeline_contestant(model: Any, files: list[str], batch_size: int) -> Contestant:
    """``transformers.pipeline`` on the same checkpoint, given the file paths (it decodes with ffmpeg)."""
    pipe_box: list[Any] = []

    def setup() -> None:
        if pipe_box:
            return
        from transformers import pipeline

        from ..weights import resolve

        device = 0 if model.device.type == "cuda" else -1
        pipe_box.append(
            pipeline(model.task.hf_pipeline_task, model=str(resolve(model.card)), device=device, dtype=model.dtype)
        )

    def run() -> list[float]:
        pipe = pipe_box[0]
        lat: list[float] = []
        forward = pipe.forward

        def timed(*a: Any, **k: Any) -> Any:
            t0 = time.perf_counter()
            out = forward(*a, **k)
            lat.append(time.perf_counter() - t0)
            return out

        pipe.forward = timed
        try:
            list(pipe(files, batch_size=batch_size))
        finally:
            del pipe.forward
        return lat

    return Contestant(f"pipeline-b{batch_size}", run, setup)


# -------------------------------------------------------------------- suite
def register_suite_models(suite: Suite, log: Callable[[str], None] = print) -> None:
    """Add the suite's extra entries to the registry, making random-init checkpoints that are missing."""
    import zoo
    from zoo.registry import card_from_entry

    z = zoo.get_zoo()
    for name, spec in suite.models.items():
        spec = dict(spec)
        make = spec.pop("make", None)
        if "path" in spec.get("weights", {}):
            spec["weights"] = {"path": os.path.expanduser(os.path.expandvars(spec["weights"]["path"]))}
        card = card_from_entry(name, spec, REPO, plugin=f"suite {suite.name}")
        target = Path(card.weights.get("path", ""))
        if make and not (target / "model.safetensors").exists():
            log(f"making random-init checkpoint {name} at {target}")
            _make_random_checkpoint(make, target)
        if name not in z.registry:
            z.registry.add(card)


def _make_random_checkpoint(make: dict[str, Any], target: Path) -> None:
    import transformers

    torch.manual_seed(0)
    config = getattr(transformers, make["config_class"])(**make.get("config", {}))
    model = getattr(transformers, make["model_class"])(config)
    target.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(target, safe_serialization=True)
    if make.get("feature_extractor"):
        fe = dict(make["feature_extractor"])
        getattr(transformers, fe.pop("class"))(**fe).save_pretrained(target)


def run_bench(suite: Suite, cfg: BenchConfig) -> dict[str, Any]:
    """Run the suite's jobs (filtered by ``cfg``) and return the report dict."""
    register_suite_models(suite, cfg.log)
    report: dict[str, Any] = {
        "suite": suite.name,
        "torch": torch.__version__,
        "quality": [],
        "speed": [],
        "machine": _machine(),
    }
    if cfg.quality:
        for job in suite.quality:
            if cfg.task and job.task != cfg.task:
                continue
            try:
                report["quality"] += run_quality(job, cfg)
            except ZooError as exc:
                report["quality"].append({"dataset": job.dataset, "task": job.task, "error": str(exc)})
                cfg.log(f"quality job skipped: {exc}")
    if cfg.speed:
        for sjob in suite.speed:
            if (cfg.task and sjob.task != cfg.task) or (cfg.models and not _match(cfg.models, sjob.model)):
                continue
            try:
                report["speed"].append(run_speed(sjob, cfg))
            except ZooError as exc:
                report["speed"].append({"job": sjob.name, "error": str(exc)})
                cfg.log(f"speed job skipped: {exc}")
    return report


def _match(pattern: str, name: str) -> bool:
    import fnmatch

    return fnmatch.fnmatchcase(name, pattern)


def _machine() -> dict[str, Any]:
    import platform

    info = {
        "cpu": platform.processor() or platform.machine(),
        "cores": os.cpu_count(),
        "python": platform.python_version(),
    }
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
    return info
