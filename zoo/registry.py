"""The model catalogue: :class:`ModelCard` entries from ``registry.yaml`` and plugins.

Entries are data only. ``task`` and ``architecture`` are the only links to code;
a plugin registers the code under those names. Unknown keys are errors that
name the entry and the key.
"""

from __future__ import annotations

import difflib
import fnmatch
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import yaml

from .errors import RegistryError, UnknownModelError

__all__ = ["WEIGHT_SOURCE_KINDS", "ModelCard", "Registry", "is_inner_path", "load_registry_yaml", "parse_cards"]

WEIGHT_SOURCE_KINDS = ("bundled", "path", "hf", "url", "package")
_SHA_RE = re.compile(r"[0-9a-f]{40}")
_SHA256_RE = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True)
class ModelCard:
    """Everything needed to find, build and describe one model.

    ``weights`` holds exactly one source: ``{bundled: DIR}`` (relative to the
    file that declared the entry, and inside its folder), ``{path: DIR}``,
    ``{hf: REPO_ID, revision: COMMIT_SHA}``, ``{url: URL, sha256: HEX}`` or
    ``{package: MODULE}`` (files shipped inside an installed Python package,
    optionally ``subfolder: DIR``). Any source may also declare ``sha256`` as a
    mapping ``{relative/file: HEX}`` (a directory source) or a string (a
    single file); every declared digest is checked on every load.
    """

    name: str
    task: str
    architecture: str
    weights: Mapping[str, str]
    sample_rate: int
    license: str
    provenance: Mapping[str, Any]
    labels: tuple[str, ...] = ()
    metrics: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    default: bool = False
    description: str = ""
    params: Mapping[str, Any] = field(default_factory=dict)
    tags: tuple[str, ...] = ()
    # Not YAML keys: where the entry came from.
    base_dir: Path = field(default=Path("."), compare=False, repr=False)
    plugin: str = field(default="registry.yaml", compare=False, repr=False)

    @property
    def weights_kind(self) -> str:
        return next(k for k in WEIGHT_SOURCE_KINDS if k in self.weights)

    def to_dict(self) -> dict[str, Any]:
        """The entry as it would appear in YAML (without ``name``)."""
        out: dict[str, Any] = {}
        for f in fields(self):
            if f.name in ("name", "base_dir", "plugin"):
                continue
            value = getattr(self, f.name)
            if value in ((), {}, "", False) and f.name not in ("labels",):
                continue
            out[f.name] = list(value) if isinstance(value, tuple) else _plain(value)
        return out


_REQUIRED = ("task", "architecture", "weights", "sample_rate", "license", "provenance")
_ALLOWED = {f.name for f in fields(ModelCard)} - {"name", "base_dir", "plugin"}


def _plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    return value


def parse_cards(data: Mapping[str, Any], base_dir: Path, plugin: str = "registry.yaml") -> list[ModelCard]:
    """Validate a ``{name: entry}`` mapping and turn it into cards.

    Raises:
        RegistryError: naming the entry and the offending key.
    """
    if not isinstance(data, Mapping):
        raise RegistryError("<root>", None, "the registry must be a mapping of model name to entry")
    return [card_from_entry(name, entry, base_dir, plugin) for name, entry in data.items()]


def card_from_entry(name: str, entry: Any, base_dir: Path, plugin: str = "registry.yaml") -> ModelCard:
    """Validate one entry and build its :class:`ModelCard`."""
    if not isinstance(name, str) or not re.fullmatch(r"[a-z0-9][a-z0-9.\-_]*", name):
        raise RegistryError(str(name), None, "model names are lower-case letters, digits, '.', '-' and '_'")
    if not isinstance(entry, Mapping):
        raise RegistryError(name, None, f"the entry must be a mapping, got {type(entry).__name__}")
    for key in entry:
        if key not in _ALLOWED:
            close = difflib.get_close_matches(str(key), sorted(_ALLOWED), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise RegistryError(name, str(key), f"unknown key{hint}; allowed keys: {', '.join(sorted(_ALLOWED))}")
    for key in _REQUIRED:
        if key not in entry or entry[key] in (None, "", {}):
            raise RegistryError(name, key, "is required")
    _check_weights(name, entry["weights"])
    rate = entry["sample_rate"]
    if not isinstance(rate, int) or isinstance(rate, bool) or rate <= 0:
        raise RegistryError(name, "sample_rate", f"must be a positive integer, got {rate!r}")
    labels = entry.get("labels", ())
    if not isinstance(labels, (list, tuple)) or not all(isinstance(x, str) for x in labels):
        hint = ""
        if isinstance(labels, (list, tuple)) and any(isinstance(x, bool) for x in labels):
            hint = " (YAML reads unquoted yes/no/on/off as booleans: quote them, e.g. 'yes')"
        raise RegistryError(name, "labels", f"must be a list of strings{hint}")
    if len(set(labels)) != len(labels):
        raise RegistryError(name, "labels", "contains duplicates")
    provenance = entry["provenance"]
    if not isinstance(provenance, Mapping):
        raise RegistryError(name, "provenance", "must be a mapping (e.g. trained_on, recipe, source)")
    metrics = entry.get("metrics", {}) or {}
    if not isinstance(metrics, Mapping) or not all(isinstance(v, Mapping) for v in metrics.values()):
        raise RegistryError(name, "metrics", "must map dataset name to {metric: value}")
    for key in ("params",):
        if not isinstance(entry.get(key, {}) or {}, Mapping):
            raise RegistryError(name, key, "must be a mapping")
    if not isinstance(entry.get("default", False), bool):
        raise RegistryError(name, "default", "must be true or false")
    tags = entry.get("tags", ()) or ()
    if not isinstance(tags, (list, tuple)) or not all(isinstance(t, str) for t in tags):
        raise RegistryError(name, "tags", f"must be a list of strings such as [english, small], got {tags!r}")
    return ModelCard(
        name=name,
        task=str(entry["task"]),
        architecture=str(entry["architecture"]),
        weights=dict(entry["weights"]),
        sample_rate=rate,
        license=str(entry["license"]),
        provenance=dict(provenance),
        labels=tuple(labels),
        metrics={k: dict(v) for k, v in metrics.items()},
        default=bool(entry.get("default", False)),
        description=str(entry.get("description", "")),
        params=dict(entry.get("params", {}) or {}),
        tags=tuple(tags),
        base_dir=Path(base_dir),
        plugin=plugin,
    )


def _check_weights(name: str, weights: Any) -> None:
    if not isinstance(weights, Mapping):
        raise RegistryError(name, "weights", "must be a mapping such as {bundled: DIR} or {hf: ID, revision: SHA}")
    kinds = [k for k in WEIGHT_SOURCE_KINDS if k in weights]
    if len(kinds) != 1:
        raise RegistryError(name, "weights", f"needs exactly one source of {', '.join(WEIGHT_SOURCE_KINDS)}")
    extra = set(weights) - {kinds[0], "revision", "sha256", "subfolder"}
    if extra:
        raise RegistryError(name, f"weights.{sorted(extra)[0]}", "unknown weights key")
    revision = weights.get("revision", "")
    if kinds[0] == "hf" and not (isinstance(revision, str) and _SHA_RE.fullmatch(revision)):
        raise RegistryError(name, "weights.revision", "hub weights must pin a 40-hex commit sha")
    if kinds[0] == "url" and not (isinstance(weights.get("sha256"), str) and _SHA256_RE.fullmatch(weights["sha256"])):
        raise RegistryError(name, "weights.sha256", "url weights need the file's sha256 (64 lower-case hex digits)")
    digests = weights.get("sha256")
    if isinstance(digests, Mapping):
        if not digests:
            raise RegistryError(name, "weights.sha256", "an empty mapping; list {relative/file: sha256} or drop it")
        for rel, digest in digests.items():
            if not isinstance(rel, str) or not is_inner_path(rel):
                raise RegistryError(name, "weights.sha256", f"{rel!r} must be a relative path inside the weights")
            if not (isinstance(digest, str) and _SHA256_RE.fullmatch(digest)):
                raise RegistryError(name, f"weights.sha256.{rel}", "must be 64 lower-case hex digits")
    elif digests is not None and not (isinstance(digests, str) and _SHA256_RE.fullmatch(digests)):
        raise RegistryError(
            name, "weights.sha256", "must be a file's sha256 (64 hex digits) or a {relative/file: sha256} mapping"
        )
    if kinds[0] == "package" and not re.fullmatch(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)*", str(weights["package"])):
        raise RegistryError(name, "weights.package", "must be an importable module name such as 'pocketsphinx'")


def is_inner_path(rel: str) -> bool:
    """True for a non-empty relative path that cannot leave its root (no ``..``, not absolute).

    >>> is_inner_path("checkpoints/kws"), is_inner_path("../../etc"), is_inner_path("/etc")
    (True, False, False)
    """
    if not rel or "\\" in rel or rel.startswith(("/", "~")) or re.match(r"[A-Za-z]:", rel):
        return False
    return all(part not in ("..",) for part in rel.split("/")) and rel.strip("/") != ""


class RegistryLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` that refuses aliases (a few bytes can expand to gigabytes) and duplicate keys."""

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            raise yaml.constructor.ConstructorError(
                None,
                None,
                f"aliases (*{event.anchor}) are not allowed in registry files; write the value out",
                event.start_mark,
            )
        return super().compose_node(parent, index)

    def construct_mapping(self, node: Any, deep: bool = False) -> Any:
        seen: dict[Any, Any] = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            if isinstance(key, (str, int, float, bool)) and key in seen:
                raise yaml.constructor.ConstructorError(
                    "while reading a mapping",
                    node.start_mark,
                    f"duplicate key {key!r} (the first is {seen[key]})",
                    key_node.start_mark,
                )
            seen[key] = f"on line {key_node.start_mark.line + 1}"
        return super().construct_mapping(node, deep)


def load_registry_yaml(text: str, source: str = "<registry>") -> Any:
    """Parse registry YAML safely: no aliases, no duplicate keys, no Python objects.

    Plugins that keep their cards in a YAML file should read it with this.

    Raises:
        RegistryError: invalid YAML, an alias, or a key given twice.
    """
    try:
        return yaml.load(text, Loader=RegistryLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as exc:
        raise RegistryError(source, None, f"is not valid registry YAML: {exc}") from exc


class Registry:
    """Cards by name, with wildcard listing and task defaults."""

    def __init__(self, cards: Iterable[ModelCard] = ()) -> None:
        self._cards: dict[str, ModelCard] = {}
        for card in cards:
            self.add(card)

    def add(self, card: ModelCard) -> None:
        """Add a card; a name clash is an error naming both sources."""
        if card.name in self._cards:
            other = self._cards[card.name]
            raise RegistryError(card.name, None, f"defined twice: by {other.plugin} and by {card.plugin}")
        self._cards[card.name] = card

    def remove(self, name: str) -> ModelCard:
        """Take card ``name`` out (a plugin's dropped registration); returns it."""
        return self._cards.pop(name)

    def load_yaml(self, path: Path, plugin: str = "registry.yaml") -> None:
        """Add every entry of a YAML file."""
        data = load_registry_yaml(Path(path).read_text(), str(path)) or {}
        for card in parse_cards(data, Path(path).parent, plugin):
            self.add(card)

    def __contains__(self, name: object) -> bool:
        return name in self._cards

    def __len__(self) -> int:
        return len(self._cards)

    def get(self, name: str) -> ModelCard:
        """The card called ``name``; unknown names suggest close matches."""
        try:
            return self._cards[name]
        except KeyError:
            close = difflib.get_close_matches(name, list(self._cards), n=3, cutoff=0.6)
            raise UnknownModelError(name, close) from None

    def list(self, pattern: str | None = None, task: str | None = None) -> list[ModelCard]:
        """Cards whose name matches the shell-style ``pattern``, sorted by name."""
        out = []
        for name in sorted(self._cards):
            card = self._cards[name]
            if pattern and not fnmatch.fnmatchcase(name, pattern):
                continue
            if task and card.task != task:
                continue
            out.append(card)
        return out

    def default_for(self, task: str) -> ModelCard | None:
        """The card marked ``default: true`` for ``task`` (or its only card)."""
        cards = self.list(task=task)
        marked = [c for c in cards if c.default]
        if marked:
            return marked[0]
        return cards[0] if len(cards) == 1 else None
