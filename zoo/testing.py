"""Conformance kit: check that a plugin's tasks and models keep the zoo's contracts.

Plugin authors call it from their own pytest suite, with one call::

    import zoo.testing

    def test_my_plugin_conforms():
        zoo.testing.check_plugin("my-plugin")   # raises ConformanceError naming each failed check

or one test per model::

    @pytest.mark.parametrize("model", zoo.testing.plugin_models("my-plugin"))
    def test_model_conforms(model):
        zoo.testing.check_plugin("my-plugin", models=[model])

The checks, by the name that reports and errors use:

- ``plugin-loads``: the plugin is installed under ``zoo.plugins`` and registers
  with no error in strict mode (``ZOO_STRICT_PLUGINS=1``).
- ``task-contract``: each task it registers has a name, a description, a frozen
  :class:`zoo.Result` dataclass as ``result_type``, and implements ``forward``
  and ``postprocess``.
- ``registry-entry``: each model's entry re-validates, has a license and a
  provenance, and names a known task and architecture.
- ``model-loads``: the weights resolve and the architecture's loader builds it.
- ``standard-signals``: the task's ``example_inputs`` (for audio tasks:
  silence, white noise, tones and a speech-like signal, and one as a file) each
  give an ok result of the task's ``result_type`` with ``source`` set, a
  one-line ``summary()``, a JSON-ready ``to_dict()`` and a working ``save()``.
- ``batch-consistency``: one batch gives the same results as one input at a time.
- ``bad-inputs``: the task's ``bad_inputs`` (for audio: a missing file and a NaN
  array) give :class:`zoo.ErrorResult` in a batch, and a good item beside them
  still succeeds with an unchanged result.

A plugin's models are those it registers itself plus registry entries built by
an architecture it registers; ``models=`` narrows (or names) the models checked.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import os
import tempfile
import warnings
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from .errors import WeightsError, ZooError
from .model import Model, build_model
from .plugins import ENTRY_POINT_GROUP, Zoo
from .registry import ModelCard, card_from_entry
from .results import Result
from .signals import speech_like, standard_signals
from .task import Task

__all__ = [
    "CHECKS",
    "Check",
    "ConformanceError",
    "ConformanceReport",
    "check_plugin",
    "plugin_models",
    "speech_like",
    "standard_signals",
]

CHECKS = (
    "plugin-loads",
    "task-contract",
    "registry-entry",
    "model-loads",
    "standard-signals",
    "batch-consistency",
    "bad-inputs",
)
#: provenance keys of which an entry needs at least one: where the weights come from
PROVENANCE_KEYS = ("source", "trained_on", "recipe", "url", "paper")
_PLACEHOLDER_LICENSES = {"unknown", "?", "todo", "tbd", "none", "n/a"}


@dataclass(frozen=True)
class Check:
    """The outcome of one check on one subject (the plugin, a task or a model)."""

    plugin: str
    subject: str
    name: str
    status: str  # "passed", "failed" or "skipped"
    detail: str = ""

    def __str__(self) -> str:
        tail = f": {self.detail}" if self.detail else ""
        return f"plugin {self.plugin!r}, {self.subject}, check {self.name!r} {self.status}{tail}"


@dataclass
class ConformanceReport:
    """Every check run by :func:`check_plugin`, in order."""

    plugin: str
    checks: list[Check] = field(default_factory=list)

    @property
    def failures(self) -> list[Check]:
        return [c for c in self.checks if c.status == "failed"]

    @property
    def skipped(self) -> list[Check]:
        return [c for c in self.checks if c.status == "skipped"]

    @property
    def ok(self) -> bool:
        return not self.failures

    def summary(self) -> str:
        """One line per check, failures first."""
        order = {"failed": 0, "skipped": 1, "passed": 2}
        lines = [str(c) for c in sorted(self.checks, key=lambda c: order.get(c.status, 3))]
        return "\n".join(lines)

    def raise_for_failures(self) -> ConformanceReport:
        """Raise :class:`ConformanceError` if any check failed; else return ``self``."""
        if self.failures:
            raise ConformanceError(self)
        return self


class ConformanceError(ZooError, AssertionError):
    """A plugin failed conformance checks; ``.report`` holds them all."""

    def __init__(self, report: ConformanceReport) -> None:
        self.report = report
        lines = "\n".join(f"  - {c}" for c in report.failures)
        super().__init__(
            f"plugin {report.plugin!r} failed {len(report.failures)} conformance check(s):\n{lines}\n"
            "See docs/writing-plugins.md (section 'The conformance kit') for what each check expects."
        )


# -- standard test signals -------------------------------------------------
def find_shared_data() -> Path | None:
    """The real-audio folder: ``$ZOO_DATA``, or the first ``shared/data`` above the working directory."""
    if os.environ.get("ZOO_DATA"):
        return Path(os.environ["ZOO_DATA"])
    for start in (Path.cwd(), Path(__file__).resolve()):
        for parent in [start, *start.parents]:
            if (parent / "shared" / "data").is_dir():
                return parent / "shared" / "data"
    return None


def shared_data(name: str) -> Path:
    """``<shared data>/<name>``; inside pytest, skips the test with the reason when it is absent."""
    root = find_shared_data()
    if root is None or not (root / name).is_dir():
        import pytest

        pytest.skip(f"real audio folder {name!r} not found (set ZOO_DATA to the shared data folder)")
    return root / name


# -- running the checks ----------------------------------------------------
def check_plugin(
    plugin: str,
    *,
    models: Iterable[str] | None = None,
    device: str | torch.device | None = "cpu",
    atol: float = 1e-4,
    rtol: float = 1e-3,
    missing_weights: str = "fail",
    extra: Mapping[str, Any] | None = None,
    raise_on_failure: bool = True,
) -> ConformanceReport:
    """Run every conformance check on ``plugin``'s tasks and models.

    Args:
        plugin: the plugin's entry point name (as ``zoo plugins`` lists it).
        models: check only these models (default: all of the plugin's models;
            an empty list checks the plugin and its tasks only).
        device: where to run the models (``None``: CUDA when available).
        atol, rtol: float tolerance of the batch-versus-single comparison.
        missing_weights: ``"fail"`` or ``"skip"``: what a model whose weights
            are not there (yet) counts as.
        extra: plugin objects to load beside the installed ones, by name (to
            check a module before it is installed).
        raise_on_failure: raise :class:`ConformanceError` when a check fails.

    Returns:
        The :class:`ConformanceReport` (also when it raises, as ``.report``).
    """
    if missing_weights not in ("fail", "skip"):
        raise ValueError("missing_weights must be 'fail' or 'skip'")
    report = ConformanceReport(plugin)
    z = _load_strict(plugin, report, extra)
    if z is not None:
        info = z.plugins[plugin]
        for task_name in info.tasks:
            _check_task(z.tasks[task_name], plugin, report)
        wanted = _select_models(z, plugin, models, report)
        for card in wanted:
            _check_model(z, card, plugin, report, device, atol, rtol, missing_weights)
    if raise_on_failure:
        report.raise_for_failures()
    return report


def plugin_models(plugin: str, extra: Mapping[str, Any] | None = None) -> list[str]:
    """Names of the models that belong to ``plugin`` (for ``pytest.mark.parametrize``)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        z = Zoo(strict=False).load(extra=dict(extra or {}))
    return [c.name for c in _own_models(z, plugin)]


def _own_models(z: Zoo, plugin: str) -> list[ModelCard]:
    archs = {a.name for a in z.architectures.values() if a.plugin == plugin}
    return [c for c in z.registry.list() if c.plugin == plugin or c.architecture in archs]


@contextlib.contextmanager
def _env(name: str, value: str | None) -> Iterator[None]:
    old = os.environ.get(name)
    if value is None:
        os.environ.pop(name, None)
    else:
        os.environ[name] = value
    try:
        yield
    finally:
        if old is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = old


def _load_strict(plugin: str, report: ConformanceReport, extra: Mapping[str, Any] | None) -> Zoo | None:
    """Load every plugin; then load again in strict mode with only the broken others disabled."""

    def fail(detail: str) -> None:
        report.checks.append(Check(plugin, "the plugin", "plugin-loads", "failed", detail))

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            lenient = Zoo(strict=False).load(extra=dict(extra or {}))
    except ZooError as exc:
        fail(f"the zoo itself did not load: {exc}")
        return None
    info = lenient.plugins.get(plugin)
    if info is None:
        installed = ", ".join(sorted(lenient.plugins)) or "none"
        fail(
            f"no plugin named {plugin!r} is installed (installed: {installed}). Install its distribution "
            f"(`pip install -e .`) and check its pyproject.toml has [project.entry-points.{ENTRY_POINT_GROUP!r}] "
            f'{plugin} = "your_module"' + _pinning_hint(plugin)
        )
        return None
    if info.error:
        fail(info.error)
        return None
    broken = [name for name, i in lenient.plugins.items() if i.error and name != plugin]
    disabled = [x for x in os.environ.get("ZOO_DISABLE_PLUGINS", "").split(",") if x.strip()] + broken
    try:
        with _env("ZOO_DISABLE_PLUGINS", ",".join(disabled) or None):
            strict = Zoo(strict=True).load(extra=dict(extra or {}))
    except ZooError as exc:
        fail(f"fails in strict mode (ZOO_STRICT_PLUGINS=1): {exc}")
        return None
    detail = f"hooks: {', '.join(info.hooks) or 'none'}"
    if broken:
        detail += f" (other plugins skipped because they are broken: {', '.join(broken)})"
    report.checks.append(Check(plugin, "the plugin", "plugin-loads", "passed", detail))
    return strict


def _pinning_hint(plugin: str) -> str:
    only = os.environ.get("ZOO_PLUGINS")
    disabled = os.environ.get("ZOO_DISABLE_PLUGINS", "")
    if only is not None and plugin not in only.split(","):
        return f"; note ZOO_PLUGINS={only!r} leaves it out"
    if plugin in disabled.split(","):
        return f"; note ZOO_DISABLE_PLUGINS={disabled!r} disables it"
    return ""


def _check_task(task: Task, plugin: str, report: ConformanceReport) -> None:
    problems = []
    rt = task.result_type
    if not (isinstance(rt, type) and issubclass(rt, Result)) or rt is Result:
        problems.append("result_type must be a subclass of zoo.Result (e.g. a frozen dataclass of your results)")
    elif not dataclasses.is_dataclass(rt) or not rt.__dataclass_params__.frozen:  # type: ignore[attr-defined]
        problems.append(f"result_type {rt.__name__} must be a @dataclass(frozen=True)")
    if not task.description:
        problems.append("set a one-line `description`")
    for method in ("forward", "postprocess"):
        if getattr(type(task), method) is getattr(Task, method):
            problems.append(f"implement {method}()")
    status = "failed" if problems else "passed"
    report.checks.append(Check(plugin, f"task {task.name!r}", "task-contract", status, "; ".join(problems)))


def _select_models(z: Zoo, plugin: str, models: Iterable[str] | None, report: ConformanceReport) -> list[ModelCard]:
    if models is None:
        return _own_models(z, plugin)
    out = []
    for name in [models] if isinstance(models, str) else list(models):
        if name in z.registry:
            out.append(z.registry.get(name))
        else:
            detail = f"no such model; the plugin's models: {', '.join(c.name for c in _own_models(z, plugin))}"
            report.checks.append(Check(plugin, f"model {name!r}", "registry-entry", "failed", detail))
    return out


def _check_model(
    z: Zoo,
    card: ModelCard,
    plugin: str,
    report: ConformanceReport,
    device: str | torch.device | None,
    atol: float,
    rtol: float,
    missing_weights: str,
) -> None:
    subject = f"model {card.name!r}"

    def add(name: str, problem: str | None, passed: str = "") -> bool:
        report.checks.append(Check(plugin, subject, name, "failed" if problem else "passed", problem or passed))
        return problem is None

    def skip_rest(after: str, why: str) -> None:
        for name in CHECKS[CHECKS.index(after) + 1 :]:
            report.checks.append(Check(plugin, subject, name, "skipped", why))

    if not add("registry-entry", _entry_problem(z, card)):
        skip_rest("registry-entry", "its registry entry is invalid")
        return
    try:
        model = _build(z, card, device)
    except Exception as exc:  # noqa: BLE001 - any failure to load is this check's failure
        if missing_weights == "skip" and isinstance(exc, WeightsError) and "not found" in str(exc):
            report.checks.append(Check(plugin, subject, "model-loads", "skipped", f"weights missing: {exc}"))
            skip_rest("model-loads", "its weights are missing")
            return
        add("model-loads", f"{type(exc).__name__}: {exc}")
        skip_rest("model-loads", "the model did not load")
        return
    add("model-loads", None, repr(model))
    with tempfile.TemporaryDirectory(prefix="zoo-conformance-") as tmp:
        try:
            examples = model.task.example_inputs(model, Path(tmp))
            names, inputs = list(examples), list(examples.values())
            singles = [model([x], batch_size=1, progress=False)[0] for x in inputs]
            problem = _signals_problem(model, names, inputs, singles, Path(tmp) / "saved")
        except Exception as exc:  # noqa: BLE001
            problem = f"running the model raised {type(exc).__name__}: {exc}"
        if not add("standard-signals", problem, f"{len(inputs)} example inputs of task {model.task.name!r}"):
            skip_rest("standard-signals", "the standard signals did not run")
            return
        try:
            batched = model(inputs, batch_size=len(inputs), max_batch_samples=2**62, progress=False)
            problem = _batch_problem(names, singles, batched, atol, rtol)
        except Exception as exc:  # noqa: BLE001
            problem = f"running one batch raised {type(exc).__name__}: {exc}"
        add("batch-consistency", problem)
        try:
            bad = model.task.bad_inputs(model, Path(tmp))
            problem = _bad_inputs_problem(model, bad, inputs[0], singles[0], atol, rtol)
        except Exception as exc:  # noqa: BLE001
            problem = f"a batch with bad inputs raised {type(exc).__name__}: {exc} (bad items must become ErrorResults)"
        add("bad-inputs", problem, "" if bad else f"task {model.task.name!r} declares no bad inputs")


def _entry_problem(z: Zoo, card: ModelCard) -> str | None:
    try:
        again = card_from_entry(card.name, card.to_dict(), card.base_dir, card.plugin)
    except ZooError as exc:
        return f"the entry does not re-validate: {exc}"
    if again != card:
        return "the entry changes when written out and read back (card.to_dict() -> card_from_entry)"
    if card.license.strip().lower() in _PLACEHOLDER_LICENSES:
        return f"license {card.license!r} is a placeholder: name the license of the weights (and of their data)"
    if not any(card.provenance.get(k) for k in PROVENANCE_KEYS):
        return f"provenance must say where the weights come from: set at least one of {', '.join(PROVENANCE_KEYS)}"
    if card.task not in z.tasks:
        return f"task {card.task!r} is not provided by any installed plugin (tasks: {', '.join(sorted(z.tasks))})"
    if card.architecture not in z.architectures:
        return f"architecture {card.architecture!r} is not registered by any plugin"
    arch = z.architectures[card.architecture]
    if arch.task is not None and arch.task != card.task:
        return f"architecture {arch.name!r} is registered for task {arch.task!r}, but the entry says {card.task!r}"
    try:
        z.tasks[card.task].check_card(card)
    except ZooError as exc:
        return str(exc)
    return None


def _build(z: Zoo, card: ModelCard, device: str | torch.device | None) -> Model:
    return build_model(z, card, device, torch.float32)


def _signals_problem(
    model: Model, names: Sequence[str], inputs: Sequence[Any], results: Sequence[Result], out: Path
) -> str | None:
    rt = model.task.result_type
    for i, (name, x, r) in enumerate(zip(names, inputs, results)):
        if not isinstance(r, Result):
            return f"{name}: the model returned {type(r).__name__}, not a zoo.Result"
        if not r.ok:
            return f"{name}: got an error result ({getattr(r, 'error', '?')}: {getattr(r, 'reason', '')})"
        if not isinstance(r, rt):
            return f"{name}: got {type(r).__name__}, but task {model.task.name!r} declares {rt.__name__}"
        if not isinstance(r.source, str) or not r.source:
            return f"{name}: result.source is not set"
        if isinstance(x, str) and r.source != x:
            return f"{name}: result.source is {r.source!r}, expected the input path {x!r}"
        try:
            json.dumps(r.to_dict())
        except (TypeError, ValueError) as exc:
            return f"{name}: result.to_dict() is not JSON-ready ({exc}); use plain numbers, strings, tuples"
        line = r.summary()
        if not isinstance(line, str) or not line or "\n" in line:
            return f"{name}: result.summary() must be one non-empty line, got {line!r}"
        saved = r.save(out, stem=f"{i:02d}")
        if not saved or not all(p.is_file() for p in saved):
            return f"{name}: result.save() must write files and return their paths, got {saved!r}"
    return None


def _batch_problem(
    names: Sequence[str], singles: Sequence[Result], batched: Sequence[Result], atol: float, rtol: float
) -> str | None:
    if len(batched) != len(singles):
        return f"a batch of {len(singles)} inputs gave {len(batched)} results"
    for name, one, many in zip(names, singles, batched):
        where = _difference(one.to_dict(paths={}), many.to_dict(paths={}), "result", atol, rtol)
        if where:
            return f"{name}: batched result differs from the one-at-a-time result at {where}"
    return None


def _bad_inputs_problem(
    model: Model, bad: Mapping[str, Any], good: Any, expected: Result, atol: float, rtol: float
) -> str | None:
    if not bad:
        return None
    inputs = [*bad.values(), good]
    results = model(inputs, batch_size=len(inputs), progress=False)
    if len(results) != len(inputs):
        return f"{len(inputs)} inputs gave {len(results)} results"
    *errors, third = results
    for (name, x), r in zip(bad.items(), errors):
        if r.ok:
            return f"{name} gave an ok result instead of an ErrorResult"
        if isinstance(x, str) and r.source != model.task.describe(x):
            return f"the ErrorResult of {name} has source {r.source!r}, expected {x!r}"
        if not getattr(r, "reason", ""):
            return f"the ErrorResult of {name} has an empty reason"
    if not third.ok or not isinstance(third, model.task.result_type):
        return f"the good input beside {len(bad)} bad ones did not succeed: {third}"
    where = _difference(expected.to_dict(paths={}), third.to_dict(paths={}), "result", atol, rtol)
    if where:
        return f"the good input's result changed when it shared a batch with bad inputs, at {where}"
    return None


def _difference(a: Any, b: Any, path: str, atol: float, rtol: float) -> str | None:
    """Where two ``to_dict()`` trees differ (floats within tolerance), or None."""
    number = (int, float)
    if isinstance(a, number) and isinstance(b, number) and not isinstance(a, bool) and not isinstance(b, bool):
        if isinstance(a, float) or isinstance(b, float):
            if math.isnan(a) and math.isnan(b):
                return None
            ok = math.isclose(a, b, rel_tol=rtol, abs_tol=atol)
        else:
            ok = a == b
        return None if ok else f"{path} ({a!r} vs {b!r})"
    if isinstance(a, Mapping) and isinstance(b, Mapping):
        if set(a) != set(b):
            return f"{path} (keys {sorted(set(a) ^ set(b))} differ)"
        for key in a:
            where = _difference(a[key], b[key], f"{path}.{key}", atol, rtol)
            if where:
                return where
        return None
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        if len(a) != len(b):
            return f"{path} (length {len(a)} vs {len(b)})"
        for i, (x, y) in enumerate(zip(a, b)):
            where = _difference(x, y, f"{path}[{i}]", atol, rtol)
            if where:
                return where
        return None
    return None if a == b else f"{path} ({a!r} vs {b!r})"
