"""Errors raised by the zoo.

Every error keeps its context as attributes, and its message says what to do
next. Errors from third-party libraries are translated at the edge with
``raise ZooError(...) from exc``.

    ZooError
    ├── RegistryError           a registry entry is malformed (.entry, .key)
    ├── UnknownModelError       no such model or task (.name, .suggestions)
    ├── PluginError             a plugin failed to load or register (.plugin)
    ├── WeightsError            weights could not be resolved or loaded (.source)
    │   ├── UnsafeWeightsError  a pickle checkpoint was refused
    │   └── OfflineWeightsError a hub checkpoint is not in the local cache
    ├── AudioError              an input could not be turned into audio (.source, .reason)
    ├── TaskError               a task could not run an item (.task)
    └── InvalidArgumentError    an argument is out of range (.argument, .value); also a ValueError
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

__all__ = [
    "AudioError",
    "InvalidArgumentError",
    "OfflineWeightsError",
    "PluginError",
    "RegistryError",
    "TaskError",
    "UnknownModelError",
    "UnsafeWeightsError",
    "WeightsError",
    "ZooError",
]


class ZooError(Exception):
    """Base class of every error the zoo raises on purpose."""


class RegistryError(ZooError):
    """A registry entry is malformed: names the entry and the offending key."""

    def __init__(self, entry: str, key: str | None, message: str) -> None:
        self.entry = entry
        self.key = key
        where = f"registry entry {entry!r}" + (f", key {key!r}" if key else "")
        super().__init__(f"{where}: {message}")


class UnknownModelError(ZooError, KeyError):
    """No model or task of that name; carries close matches."""

    def __init__(self, name: str, suggestions: Sequence[str] = ()) -> None:
        self.name = name
        self.suggestions = list(suggestions)
        hint = f" Did you mean {', '.join(repr(s) for s in self.suggestions)}?" if self.suggestions else ""
        super().__init__(f"Unknown model {name!r}.{hint} See `zoo list` for every model.")

    def __str__(self) -> str:  # KeyError would repr() the message
        return str(self.args[0])


class PluginError(ZooError):
    """A plugin failed to import or to register; ``.plugin`` names it."""

    def __init__(self, plugin: str, message: str) -> None:
        self.plugin = plugin
        super().__init__(f"plugin {plugin!r}: {message}")


class WeightsError(ZooError):
    """Weights could not be resolved or loaded; ``.source`` says from where."""

    def __init__(self, source: Any, message: str) -> None:
        self.source = source
        super().__init__(message)


class UnsafeWeightsError(WeightsError):
    """A pickle-based checkpoint (.bin, .pt, .ckpt) was refused."""


class OfflineWeightsError(WeightsError):
    """A hub checkpoint is needed but the network is off and the cache lacks it."""


class AudioError(ZooError):
    """An input could not be decoded or validated as audio."""

    def __init__(self, source: Any, reason: str) -> None:
        self.source = source
        self.reason = reason
        super().__init__(f"{_describe(source)}: {reason}")


class TaskError(ZooError):
    """A task failed on an item for a reason other than its audio."""

    def __init__(self, task: str, message: str) -> None:
        self.task = task
        super().__init__(f"{task}: {message}")


class InvalidArgumentError(ZooError, ValueError):
    """An argument (batch size, dtype, sample rate...) is out of range; names it and its value."""

    def __init__(self, argument: str, value: Any, message: str) -> None:
        self.argument = argument
        self.value = value
        super().__init__(f"{argument}={value!r}: {message}")


def _describe(source: Any) -> str:
    if isinstance(source, str):
        return source
    return type(source).__name__
