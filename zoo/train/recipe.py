"""The skeleton every training recipe shares: its command line, file loading, and noise draws.

A recipe is a config dataclass plus ``train(cfg)``; ``zoo train NAME`` calls
the recipe's ``main(argv)``, which is mostly::

    p = recipe_parser("zoo train my-model", __doc__)         # --tiny --steps --seed --device ... --no-registry
    p.add_argument("--my-knob", type=float)                  # the recipe's own flags
    args = p.parse_args(argv)
    cfg = apply_args(MyConfig.tiny() if args.tiny else MyConfig(), args, "zoo train my-model", argv)
    return train(cfg)

Recipes are imported only by ``zoo train`` (plugins register them with
:func:`lazy`), never when the zoo loads.
"""

from __future__ import annotations

import argparse
import importlib
import random
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import torch

from .. import audio as zaudio

__all__ = ["COMMON_FLAGS", "COMMON_KEYS", "apply_args", "lazy", "load_many", "noise_segment", "recipe_parser"]

C = TypeVar("C")

#: config fields the common flags set (``--out`` and ``--data`` land in ``out_dir`` and ``data_root``)
COMMON_KEYS = ("steps", "seed", "device", "threads", "lr", "warmup", "out_dir", "data_root", "init_from")


def lazy(module: str, attr: str = "main") -> Callable[[Sequence[str]], Any]:
    """A recipe entry point that imports ``module`` only when called (``register(name, lazy(...))``).

    >>> main = lazy("zoo_plugins.kws.training.recipe")   # nothing imported yet
    """

    def run(argv: Sequence[str] | None = None) -> Any:
        return getattr(importlib.import_module(module), attr)(None if argv is None else list(argv))

    run.__qualname__ = run.__name__ = f"lazy({module}:{attr})"
    return run


#: the flags :func:`recipe_parser` adds by default (a recipe without, e.g., --eval-only passes its own list)
COMMON_FLAGS = (
    "tiny",
    "eval-only",
    "steps",
    "seed",
    "device",
    "threads",
    "lr",
    "warmup",
    "out",
    "data",
    "init-from",
    "no-registry",
)


def recipe_parser(
    prog: str,
    doc: str | None,
    data_help: str = "folder holding the training data",
    flags: Sequence[str] = COMMON_FLAGS,
) -> argparse.ArgumentParser:
    """An argument parser with the flags every recipe takes (``flags`` narrows them)."""
    p = argparse.ArgumentParser(prog=prog, description=(doc or "").split("\n")[0])
    spec: dict[str, tuple[tuple[Any, ...], dict[str, Any]]] = {
        "tiny": (("--tiny",), {"action": "store_true", "help": "a seconds-long smoke run (CI)"}),
        "eval-only": (
            ("--eval-only",),
            {"action": "store_true", "help": "re-measure the checkpoint in --out and update its card"},
        ),
        "steps": (("--steps",), {"type": int}),
        "seed": (("--seed",), {"type": int}),
        "device": (("--device",), {"help": "cpu, cuda, cuda:1 ..."}),
        "threads": (("--threads",), {"type": int}),
        "lr": (("--lr",), {"type": float}),
        "warmup": (("--warmup",), {"type": int, "help": "linear warm-up steps"}),
        "out": (("--out",), {"dest": "out_dir", "help": "where to write the checkpoint"}),
        "data": (("--data",), {"dest": "data_root", "help": data_help}),
        "init-from": (("--init-from",), {"help": "warm start from this checkpoint directory"}),
        "no-registry": (
            ("--no-registry",),
            {"action": "store_true", "help": "do not write metrics into registry.yaml"},
        ),
    }
    for flag in flags:
        args, kwargs = spec[flag]
        p.add_argument(*args, **kwargs)
    return p


def apply_args(
    cfg: C, args: argparse.Namespace, command: str, argv: Sequence[str] | None, keys: Sequence[str] = ()
) -> C:
    """Copy the flags given (not None) onto ``cfg`` for the common keys and ``keys``; record the command."""
    for key in (*COMMON_KEYS, *keys):
        value = getattr(args, key, None)
        if value is not None and hasattr(cfg, key):
            setattr(cfg, key, value)
    if getattr(args, "no_registry", False):
        cfg.update_registry = False  # type: ignore[attr-defined]
    cfg.command = " ".join([command, *(argv if argv is not None else [])])  # type: ignore[attr-defined]
    return cfg


def load_many(
    paths: Sequence[str],
    rate: int,
    desc: str,
    unit: str = "clip",
    leave: bool = False,
    convert: Callable[[torch.Tensor], torch.Tensor] | None = None,
) -> list[torch.Tensor]:
    """Decode files to mono float32 at ``rate`` on two threads, with a progress bar (``convert``: e.g. to int16)."""
    from concurrent.futures import ThreadPoolExecutor

    from tqdm.auto import tqdm

    def one(path: str) -> torch.Tensor:
        x = zaudio.load(path, rate).mono()
        return convert(x) if convert is not None else x

    with ThreadPoolExecutor(2) as pool:
        return list(tqdm(pool.map(one, paths), total=len(paths), desc=desc, unit=unit, leave=leave))


def noise_segment(noises: Sequence[torch.Tensor], n: int, rng: random.Random) -> torch.Tensor:
    """``n`` samples from a random place in a random recording, scaled to unit RMS (tiled when too short)."""
    src = rng.choice(noises)
    if src.numel() <= n:
        src = src.repeat(n // src.numel() + 1)
    start = rng.randrange(0, src.numel() - n + 1)
    seg = src[start : start + n]
    return seg / (seg.pow(2).mean().sqrt() + 1e-8)
