"""Plugin discovery and the registries that plugins fill.

Plugins are modules published under the ``zoo.plugins`` entry point group; the
built-in task plugins use the same group. ``ZOO_PLUGINS=a,b`` loads only those
plugins (empty: none), ``ZOO_DISABLE_PLUGINS=a,b`` skips some. A plugin that
fails to import or register (an exception or ``sys.exit()``) is skipped with a
warning naming it, unless ``ZOO_STRICT_PLUGINS=1`` (or ``strict=True``) makes
that an error.

Built-in plugins (distribution ``audio-zoo``, modules ``zoo_plugins.*``) load
first and win every name clash. A third-party model card whose name is already
taken, or that fails its task's ``check_card``, is dropped with a warning
naming the plugin (the rest of that plugin still loads); ``zoo plugins`` lists
what was dropped and why. Strict mode raises instead.
"""

from __future__ import annotations

import importlib.metadata as md
import os
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import pluggy

from . import hookspecs
from .errors import PluginError, RegistryError
from .registry import ModelCard, Registry, card_from_entry
from .task import Task

__all__ = ["ENTRY_POINT_GROUP", "Architecture", "PluginInfo", "Zoo", "registry_path"]

ENTRY_POINT_GROUP = "zoo.plugins"
HOOKS = (
    "register_tasks",
    "register_architectures",
    "register_models",
    "register_datasets",
    "register_metrics",
    "register_recipes",
)


@dataclass(frozen=True)
class Architecture:
    """A named model builder: ``loader(card, weights_dir, device, dtype) -> net``."""

    name: str
    loader: Callable[..., Any]
    task: str | None
    plugin: str


@dataclass(frozen=True)
class Extension:
    """A named dataset loader or metric contributed by a plugin for a task."""

    name: str
    obj: Any
    task: str | None
    plugin: str


@dataclass
class PluginInfo:
    """What ``zoo plugins`` shows for one plugin."""

    name: str
    version: str
    module: str
    hooks: list[str] = field(default_factory=list)
    tasks: list[str] = field(default_factory=list)
    models: list[str] = field(default_factory=list)
    error: str | None = None
    #: ships with the zoo (distribution ``audio-zoo`` or a ``zoo_plugins.*`` module)
    builtin: bool = False
    #: registrations dropped at load time (name clashes, failed card checks), with the reason
    dropped: list[str] = field(default_factory=list)


def registry_path() -> Path:
    """``$ZOO_REGISTRY`` or the ``registry.yaml`` at the repository root (where recipes write their metrics).

    The core loads only ``$ZOO_REGISTRY`` (an extra catalogue of your own cards);
    the repository's ``registry.yaml`` holds the built-in plugins' cards, and
    they register them themselves (see :mod:`zoo_plugins`).
    """
    env = os.environ.get("ZOO_REGISTRY")
    return Path(env) if env else Path(__file__).resolve().parent.parent / "registry.yaml"


#: the distribution whose plugins are built in
BUILTIN_DISTRIBUTION = "audio-zoo"
#: the registry file's own cards count as built in
REGISTRY_PLUGIN = "registry.yaml"


def _is_builtin(module: str, dist: str | None = None) -> bool:
    if dist is not None and dist.lower().replace("_", "-") == BUILTIN_DISTRIBUTION:
        return True
    return module == "zoo_plugins" or module.startswith(("zoo_plugins.", "zoo_plugins:"))


def _env_list(name: str) -> list[str] | None:
    value = os.environ.get(name)
    if value is None:
        return None
    return [x.strip() for x in value.split(",") if x.strip()]


class Zoo:
    """Everything the plugins registered: tasks, architectures, models, datasets, metrics."""

    def __init__(self, strict: bool | None = None) -> None:
        self.strict = strict if strict is not None else os.environ.get("ZOO_STRICT_PLUGINS", "") not in ("", "0")
        self.pm = pluggy.PluginManager("zoo")
        self.pm.add_hookspecs(hookspecs)
        self.tasks: dict[str, Task] = {}
        self.architectures: dict[str, Architecture] = {}
        self.datasets: dict[str, Extension] = {}
        self.metrics: dict[str, Extension] = {}
        self.recipes: dict[str, Extension] = {}
        self.registry = Registry()
        self.plugins: dict[str, PluginInfo] = {}
        self._pending_cards: list[ModelCard] = []
        self._builtin: set[str] = set()

    # -- loading -------------------------------------------------------
    def load(self, extra: dict[str, ModuleType | object] | None = None) -> Zoo:
        """Discover entry-point plugins (plus ``extra`` objects) and collect their registrations."""
        if os.environ.get("ZOO_REGISTRY"):
            self.registry.load_yaml(registry_path())
        for name, obj, version in self._discover(extra or {}):
            self.add_plugin(name, obj, version)
        self._check_cards()
        return self

    def _discover(self, extra: dict[str, Any]) -> list[tuple[str, Any, str]]:
        only, disabled = _env_list("ZOO_PLUGINS"), set(_env_list("ZOO_DISABLE_PLUGINS") or [])
        found: list[tuple[str, Any, str]] = []

        def builtin_first(ep: md.EntryPoint) -> tuple[bool, str]:
            return (not _is_builtin(ep.value, ep.dist.name if ep.dist is not None else None), ep.name)

        for ep in sorted(md.entry_points(group=ENTRY_POINT_GROUP), key=builtin_first):
            if (only is not None and ep.name not in only) or ep.name in disabled or ep.name in self.plugins:
                continue
            version = ep.dist.version if ep.dist is not None else "?"
            if not builtin_first(ep)[0]:
                self._builtin.add(ep.name)
            try:
                obj = ep.load()
            except (Exception, SystemExit) as exc:  # noqa: BLE001 - one broken plugin must not take the zoo down
                self._fail(PluginInfo(ep.name, version, ep.value), f"failed to import {ep.value}: {exc!r}", exc)
                continue
            found.append((ep.name, obj, version))
        found += [(name, obj, "local") for name, obj in extra.items() if name not in disabled]
        return found

    def add_plugin(self, name: str, obj: Any, version: str = "local") -> PluginInfo | None:
        """Register one plugin object and run its hooks, isolating failures."""
        info = PluginInfo(name, version, getattr(obj, "__name__", type(obj).__name__))
        if _is_builtin(getattr(obj, "__name__", None) or type(obj).__module__):
            self._builtin.add(name)
        info.builtin = name in self._builtin
        try:
            self.pm.register(obj, name=name)
        except Exception as exc:  # pluggy.PluginValidationError, duplicate names
            self._fail(info, f"invalid hook implementation: {exc}", exc)
            return None
        unknown = [h for h in _hook_names(obj) if h not in HOOKS]
        if unknown:
            self.pm.unregister(name=name)
            self._fail(info, f"unknown hook(s) {', '.join(unknown)}; known hooks: {', '.join(HOOKS)}", None)
            return None
        snapshot = self._snapshot()
        try:
            for hook in HOOKS:
                impls = [i for i in getattr(self.pm.hook, hook).get_hookimpls() if i.plugin_name == name]
                for impl in impls:
                    info.hooks.append(hook)
                    impl.function(self._registrar(hook, name, info))
        except (Exception, SystemExit) as exc:  # noqa: BLE001 - sys.exit() in a hook is that plugin's failure
            self._restore(snapshot)
            self.pm.unregister(name=name)
            self._fail(info, f"failed while registering: {exc}", exc)
            return None
        self.plugins[name] = info
        return info

    def _fail(self, info: PluginInfo, message: str, exc: BaseException | None) -> None:
        err = PluginError(info.name, message)
        if self.strict:
            raise err from exc
        info.error = message
        self.plugins[info.name] = info
        warnings.warn(f"{err} (skipped; set ZOO_STRICT_PLUGINS=1 to make this an error)", RuntimeWarning, stacklevel=3)

    def _snapshot(self) -> tuple:
        return (
            dict(self.tasks),
            dict(self.architectures),
            dict(self.datasets),
            dict(self.metrics),
            dict(self.recipes),
            list(self._pending_cards),
        )

    def _restore(self, snap: tuple) -> None:
        self.tasks, self.architectures, self.datasets, self.metrics, self.recipes = (dict(s) for s in snap[:5])
        self._pending_cards = list(snap[5])

    # -- register callbacks -------------------------------------------
    def _registrar(self, hook: str, plugin: str, info: PluginInfo) -> Callable[..., None]:
        def register_task(task: Task) -> None:
            if not isinstance(task, Task) or not task.name:
                raise PluginError(plugin, f"register_tasks: expected a zoo.Task instance with a name, got {task!r}")
            if task.name in self.tasks:
                raise PluginError(plugin, f"task {task.name!r} is already registered")
            self.tasks[task.name] = task
            info.tasks.append(task.name)

        def register_architecture(name: str, loader: Callable[..., Any], task: str | None = None) -> None:
            if not callable(loader):
                raise PluginError(plugin, f"architecture {name!r}: loader must be callable")
            if name in self.architectures:
                raise PluginError(
                    plugin, f"architecture {name!r} is already registered by {self.architectures[name].plugin}"
                )
            self.architectures[name] = Architecture(name, loader, task, plugin)

        def register_model(name: str, entry: dict[str, Any], base_dir: str | Path = ".") -> None:
            try:
                card = card_from_entry(name, entry, Path(base_dir), plugin=plugin)
            except RegistryError as exc:
                raise PluginError(plugin, str(exc)) from exc
            self._pending_cards.append(card)
            info.models.append(name)

        def register_extension(table: dict[str, Extension], kind: str) -> Callable[..., None]:
            def register(name: str, obj: Any, task: str | None = None) -> None:
                if name in table:
                    raise PluginError(plugin, f"{kind} {name!r} is already registered by {table[name].plugin}")
                table[name] = Extension(name, obj, task, plugin)

            return register

        return {
            "register_tasks": register_task,
            "register_architectures": register_architecture,
            "register_models": register_model,
            "register_datasets": register_extension(self.datasets, "dataset"),
            "register_metrics": register_extension(self.metrics, "metric"),
            "register_recipes": register_extension(self.recipes, "recipe"),
        }[hook]

    def _check_cards(self) -> None:
        """Add the plugins' cards (built-ins win name clashes), then run each task's card check.

        A third-party card that clashes or fails its check is dropped with a
        warning naming its plugin; a built-in one is a bug in the zoo and raises.
        """
        for card in self._pending_cards:
            if card.name not in self.registry:
                self.registry.add(card)
                continue
            other = self.registry.get(card.name)
            if self._card_is_builtin(card) and not self._card_is_builtin(other):
                self.registry.remove(other.name)
                self.registry.add(card)
                self._drop(other, f"model {other.name!r} is also a built-in model ({card.plugin}), which wins")
            elif self._card_is_builtin(card) or card.plugin == other.plugin:
                self.registry.add(card)  # raises "defined twice": the zoo's own data is inconsistent
            else:
                self._drop(card, f"model {card.name!r} is already registered by {other.plugin}")
        self._pending_cards = []
        for card in self.registry.list():
            if card.task not in self.tasks:
                continue
            try:
                self.tasks[card.task].check_card(card)
            except (Exception, SystemExit) as exc:  # noqa: BLE001
                if self._card_is_builtin(card):
                    raise
                self.registry.remove(card.name)
                self._drop(card, f"model {card.name!r} fails the {card.task!r} task's card check: {exc}", exc)

    def _card_is_builtin(self, card: ModelCard) -> bool:
        if card.plugin == REGISTRY_PLUGIN:  # the repository's registry.yaml, unless it is $ZOO_REGISTRY (yours)
            return not os.environ.get("ZOO_REGISTRY")
        return card.plugin in self._builtin

    def _drop(self, card: ModelCard, message: str, exc: BaseException | None = None) -> None:
        """Drop one registration of a plugin (not the whole plugin); strict mode raises instead."""
        if self.strict:
            raise PluginError(card.plugin, message) from exc
        info = self.plugins.get(card.plugin)
        if info is not None:
            info.dropped.append(message)
            if card.name in info.models:
                info.models.remove(card.name)
        warnings.warn(
            f"plugin {card.plugin!r}: {message}; dropped it (see `zoo plugins`; "
            "set ZOO_STRICT_PLUGINS=1 to make this an error)",
            RuntimeWarning,
            stacklevel=4,
        )

    # -- lookups -------------------------------------------------------
    def task(self, name: str) -> Task:
        try:
            return self.tasks[name]
        except KeyError:
            raise PluginError(
                "?", f"no plugin provides task {name!r}; installed tasks: {', '.join(sorted(self.tasks)) or 'none'}"
            ) from None

    def architecture(self, name: str) -> Architecture:
        try:
            return self.architectures[name]
        except KeyError:
            raise PluginError(
                "?", f"no plugin provides architecture {name!r}; see `zoo plugins` for what is installed"
            ) from None


def _hook_names(obj: Any) -> list[str]:
    names = []
    for attr in dir(obj):
        fn = getattr(obj, attr, None)
        if callable(fn) and getattr(fn, "zoo_impl", None) is not None:
            names.append(attr)
    return names
