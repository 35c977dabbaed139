"""The built-in task plugins of Audio Zoo, registered through the ``zoo.plugins`` entry point group.

Each built-in plugin is an ordinary plugin: it registers its task, architectures
and models through the same hooks a third-party plugin uses. Their model cards
live in one file, the catalogue ``registry.yaml`` at the top of the repository
(the one place to edit a card). The wheel ships it as ``zoo_plugins/registry.yaml``
(``setup.py`` copies it in at build time), next to the checkpoints and example
clips, so an installed zoo has every built-in model. ``bundled:`` weight paths
in the catalogue are relative to this package (``kws/checkpoints/kws-wav2vec2``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

__all__ = ["HERE", "catalogue", "catalogue_path", "register_catalogue"]

HERE = Path(__file__).resolve().parent


def catalogue_path() -> Path:
    """The built-in catalogue: the copy inside an installed wheel, else the checkout's top-level file."""
    shipped = HERE / "registry.yaml"
    return shipped if shipped.is_file() else HERE.parents[1] / "registry.yaml"


def catalogue() -> dict[str, Any]:
    """``{name: entry}`` of every built-in model card (empty when the file is missing)."""
    from zoo.registry import load_registry_yaml

    path = catalogue_path()
    if not path.is_file():
        return {}
    return dict(load_registry_yaml(path.read_text(), str(path)) or {})


def register_catalogue(register: Callable[..., None], tasks: Iterable[str]) -> None:
    """Register the catalogue's cards of ``tasks`` (a plugin's ``register_models`` calls this)."""
    wanted = set(tasks)
    for name, entry in catalogue().items():
        if isinstance(entry, dict) and entry.get("task") in wanted:
            register(name, entry, base_dir=HERE)
