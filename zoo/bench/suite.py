"""Benchmark suites: YAML files in ``benchmarks/`` (``quick.yaml``, ``full.yaml``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ..errors import ZooError

__all__ = ["QualityJob", "SpeedJob", "Suite", "load_suite", "suites_dir"]


@dataclass(frozen=True)
class QualityJob:
    """Run ``models`` (a pattern) of ``task`` on ``dataset`` (at most ``limit`` examples)."""

    task: str
    models: str
    dataset: str
    root: str
    limit: int | None = None
    #: also evaluate each model with int8 dynamic quantization (CPU) and report the change
    int8: bool = False
    #: card params for this job (e.g. ``{decoder: greedy}``); the row is labelled with them
    params: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class SpeedJob:
    """Time ``model`` on a workload of ``n`` clips from ``dataset`` with lengths in ``lengths_s``."""

    name: str
    task: str
    model: str
    dataset: str
    root: str
    n: int = 64
    lengths_s: tuple[float, float] = (1.0, 1.0)
    repeats: int = 3
    threads: int | None = None
    #: "pipeline", "raw", and "ray" (zoo.ray.run on local Ray; needs audio-zoo[ray])
    baselines: tuple[str, ...] = ("pipeline", "raw")
    #: also time the zoo runner with int8 dynamic quantization (CPU only)
    int8: bool = False
    #: card params for the zoo contestants (e.g. ``{decoder: greedy}`` to time what the pipeline does)
    params: dict[str, Any] = field(default_factory=dict)
    #: more zoo contestants, ``zoo-<name>``, each loaded with these extra params (to measure one lever each);
    #: ``quantize`` and ``runner`` (RunnerConfig fields) are taken out of the params
    variants: dict[str, dict[str, Any]] = field(default_factory=dict)


@dataclass(frozen=True)
class Suite:
    """A named set of jobs; ``models`` holds extra registry entries only this suite uses.

    An extra entry may carry ``make: {model_class: NAME, config_class: NAME, config: {...},
    feature_extractor: {...}}``: a randomly initialised transformers model written to its
    ``weights.path`` when missing (for speed measurements of a model size the zoo does not ship).
    """

    name: str
    quality: tuple[QualityJob, ...] = ()
    speed: tuple[SpeedJob, ...] = ()
    notes: str = ""
    models: dict[str, Any] = field(default_factory=dict)


def suites_dir() -> Path:
    return Path(__file__).resolve().parents[2] / "benchmarks"


def load_suite(name_or_path: str) -> Suite:
    """Load ``benchmarks/<name>.yaml`` (or a path to a YAML file)."""
    path = Path(name_or_path)
    if not path.suffix:
        path = suites_dir() / f"{name_or_path}.yaml"
    if not path.exists():
        known = sorted(p.stem for p in suites_dir().glob("*.yaml"))
        raise ZooError(f"no benchmark suite {name_or_path!r}; known suites: {', '.join(known)}")
    data = yaml.safe_load(path.read_text()) or {}
    try:
        quality = tuple(QualityJob(**q) for q in data.get("quality", []))
        speed = tuple(
            SpeedJob(
                **(
                    s
                    | {
                        "lengths_s": tuple(s.get("lengths_s", (1.0, 1.0))),
                        "baselines": tuple(s.get("baselines", ("pipeline", "raw"))),
                    }
                )
            )
            for s in data.get("speed", [])
        )
    except TypeError as exc:
        raise ZooError(f"{path}: bad suite entry: {exc}") from exc
    return Suite(
        name=data.get("name", path.stem),
        quality=quality,
        speed=speed,
        notes=data.get("notes", ""),
        models=dict(data.get("models", {}) or {}),
    )
