"""The README stays a user's page: short, with a row for every task, and model histories in docs/models/."""

from __future__ import annotations

import re

import zoo

from .conftest import REPO

README = REPO / "README.md"


def test_readme_is_short():
    """README.md is at most 15 KB; narratives belong in docs/models/<name>.md."""
    assert README.stat().st_size <= 15_000


def test_readme_task_table_covers_every_built_in_task():
    """Each task a built-in or example plugin provides has a row: task, main alias, result type, default model."""
    text = README.read_text()
    rows = {m.group(1): line for line in text.splitlines() if (m := re.match(r"\| `([a-z-]+)`", line))}
    z = zoo.get_zoo()
    for task in z.tasks.values():
        if task.name.startswith(("toy-", "bird")):
            continue
        assert task.name in rows, f"README task table has no row for {task.name}"
        row = rows[task.name]
        assert task.result_type.__name__ in row
        assert not task.aliases or f"`{task.aliases[0]}`" in row  # its main alias
        default = z.registry.default_for(task.name)
        if default is not None:
            assert f"`{default.name}`" in row


def test_models_trained_here_have_a_card_page():
    """Every bundled model (trained in this repository) has its history in docs/models/."""
    for card in zoo.get_zoo().registry.list():
        if card.weights_kind == "bundled" and card.plugin in ("kws", "asr"):
            assert (REPO / "docs" / "models" / f"{card.name}.md").is_file(), card.name
