"""Write measured metrics and provenance back into ``registry.yaml``."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from ..plugins import registry_path

__all__ = ["update_card"]

HEADER = (
    "# Audio Zoo model catalogue: data only. `task` and `architecture` link to plugin code.\n"
    "# Metrics are written by training recipes and `zoo bench`; never typed in by hand.\n"
    "# The one place to edit a built-in card: each built-in plugin registers its task's cards from here\n"
    "# (the wheel ships it as zoo_plugins/registry.yaml); `bundled:` paths are relative to plugins/zoo_plugins/.\n"
)


def update_card(
    name: str,
    metrics: Mapping[str, Mapping[str, Any]] | None = None,
    provenance: Mapping[str, Any] | None = None,
    path: Path | None = None,
) -> None:
    """Merge ``metrics`` (per dataset) and ``provenance`` into entry ``name`` of the registry file.

    A provenance value of ``None`` removes that key.
    """
    path = path or registry_path()
    data = yaml.safe_load(path.read_text()) or {}
    if name not in data:
        raise KeyError(f"{name} is not in {path}; add its entry first")
    entry = data[name]
    if metrics:
        entry.setdefault("metrics", {})
        for dataset, values in metrics.items():
            entry["metrics"][dataset] = dict(values)
    if provenance:
        prov = entry.setdefault("provenance", {})
        for key, value in provenance.items():
            if value is None:  # a key that no longer applies (e.g. a stage the new recipe does not have)
                prov.pop(key, None)
            else:
                prov[key] = value
    text = yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=100)
    path.write_text(HEADER + text)
