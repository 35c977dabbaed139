"""The hooks a zoo plugin may implement.

Each hook receives a ``register`` callback; the core validates what is passed
to it and names the plugin in any error. A plugin module implements the hooks
with ``@zoo.hookimpl`` and is published under the ``zoo.plugins`` entry point
group (the built-in plugins use the same group).
"""

from __future__ import annotations

from collections.abc import Callable

import pluggy

__all__ = ["hookimpl", "hookspec"]

hookspec = pluggy.HookspecMarker("zoo")
hookimpl = pluggy.HookimplMarker("zoo")


@hookspec
def register_tasks(register: Callable) -> None:
    """Register tasks: ``register(task)`` with a :class:`zoo.Task` instance."""


@hookspec
def register_architectures(register: Callable) -> None:
    """Register model builders: ``register(name, loader, task=TASK)``; ``loader(card, weights_dir, device, dtype)``."""


@hookspec
def register_models(register: Callable) -> None:
    """Register registry entries: ``register(name, entry_dict, base_dir=DIR)``, validated like ``registry.yaml``."""


@hookspec
def register_datasets(register: Callable) -> None:
    """Register benchmark datasets: ``register(name, loader, task=TASK)``; ``loader(root)`` yields examples."""


@hookspec
def register_metrics(register: Callable) -> None:
    """Register benchmark metrics: ``register(name, metric, task=TASK)``; ``metric(results, references)`` -> dict."""


@hookspec
def register_recipes(register: Callable) -> None:
    """Register training recipes: ``register(model_name, train)``; ``zoo train NAME`` calls ``train(argv)``."""
