"""Module structure: no import circles (type-only and function-level imports included), and the core never
imports the built-in plugins."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from .conftest import REPO

ROOTS = {"zoo": REPO / "zoo", "zoo_plugins": REPO / "plugins" / "zoo_plugins"}


def _modules() -> dict[str, Path]:
    out = {}
    for top, root in ROOTS.items():
        for path in root.rglob("*.py"):
            parts = [top, *path.relative_to(root).with_suffix("").parts]
            if parts[-1] == "__init__":
                parts = parts[:-1]
            out[".".join(parts)] = path
    return out


def _imports(name: str, path: Path, known: set[str]) -> set[str]:
    """Every internal module ``name`` imports, wherever the import statement is."""
    is_pkg = path.name == "__init__.py"
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = name.split(".")[: len(name.split(".")) - node.level + (1 if is_pkg else 0)]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            # `from pkg import sub` imports the submodule pkg.sub; `from pkg import name` imports pkg
            subs = [f"{module}.{a.name}" for a in node.names if f"{module}.{a.name}" in known]
            targets = subs if len(subs) == len(node.names) else [module, *subs]
        for t in targets:
            while t and t not in known:  # `import zoo.audio.x` -> the deepest known module
                t = t.rpartition(".")[0]
            if t and t != name:
                found.add(t)
    return found


def _graph() -> dict[str, set[str]]:
    mods = _modules()
    return {name: _imports(name, path, set(mods)) for name, path in mods.items()}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_no_import_circles():
    """No two modules import each other, directly or through others (counting TYPE_CHECKING imports)."""
    assert _cycles(_graph()) == []


def test_core_never_imports_the_built_in_plugins():
    """zoo/ knows no task: nothing in it imports zoo_plugins."""
    bad = {m: sorted(d for d in deps if d.startswith("zoo_plugins")) for m, deps in _graph().items()}
    assert {m: d for m, d in bad.items() if m.startswith("zoo") and not m.startswith("zoo_plugins") and d} == {}


@pytest.mark.parametrize(
    "plugin", sorted(p.name for p in ROOTS["zoo_plugins"].iterdir() if (p / "__init__.py").exists())
)
def test_plugins_do_not_reach_into_each_other(plugin):
    """A built-in plugin uses another plugin's models through zoo.load and the registry, not its modules."""
    own = f"zoo_plugins.{plugin}"
    graph = _graph()
    reach = {
        m: sorted(d for d in deps if d.startswith("zoo_plugins.") and d.split(".")[1] != plugin)
        for m, deps in graph.items()
        if m == own or m.startswith(own + ".")
    }
    assert {m: d for m, d in reach.items() if d} == {}
