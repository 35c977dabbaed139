"""The ``zoo`` command line: list, info, run, plugins, new-plugin, train, bench, demo."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .errors import ZooError

__all__ = ["main"]


def _table(rows: list[list[str]], header: list[str]) -> str:
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows)]
    line = lambda r: "  ".join(str(x).ljust(w) for x, w in zip(r, widths)).rstrip()  # noqa: E731
    return "\n".join([line(header), line(["-" * w for w in widths]), *(line(r) for r in rows)])


def _headline_metric(card: Any) -> str:
    import zoo

    task = zoo.get_zoo().tasks.get(card.task)
    return task.headline(card) if task is not None else ""


def cmd_list(args: argparse.Namespace) -> int:
    import zoo

    cards = zoo.get_zoo().registry.list(args.pattern, _task_alias(args.task))
    rows = [[c.name + (" *" if c.default else ""), c.task, c.weights_kind, _headline_metric(c)] for c in cards]
    print(_table(rows, ["model (* = task default)", "task", "weights", "measured"]))
    return 0


def cmd_info(args: argparse.Namespace) -> int:
    import yaml

    import zoo

    card = zoo.info(args.name)
    print(yaml.safe_dump({card.name: card.to_dict()}, sort_keys=False, width=100).rstrip())
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    import zoo

    name = _task_alias(args.name) or args.name
    params = dict(_parse_param(p) for p in args.param or [])
    if args.seconds is not None:
        params["seconds"] = args.seconds
    _check_params(name, params)
    model = zoo.load(name, device=args.device, dtype=args.dtype, **params)
    inputs = _run_inputs(model, args)
    results = model(inputs, batch_size=args.batch_size, progress=None if not args.json else False, seed=args.seed)
    if args.out:
        _save_results(results, Path(args.out))
    failed = 0
    if args.json:
        for r in results:
            print(json.dumps(r.to_dict()))
            failed += not r.ok
        return _run_exit_code(failed, len(results), args.fail_on_error)
    rows = []
    for r in results:
        failed += not r.ok
        rows.append([r.source, r.summary() if r.ok else f"ERROR {r.summary()}"])
    print(_table(rows, ["input", "result"]))
    return _run_exit_code(failed, len(results), args.fail_on_error)


def _run_exit_code(failed: int, total: int, fail_on_error: bool) -> int:
    """0 when the run produced results; 1 when every input failed (or any did, with ``--fail-on-error``)."""
    if failed and (fail_on_error or failed == total):
        print(f"zoo: {failed} of {total} input(s) failed", file=sys.stderr)
        return 1
    return 0


def _check_params(name: str, params: dict[str, Any]) -> None:
    """Refuse a ``--param`` key that looks like a typo of a known one; warn about other unknown keys.

    Known keys are the card's ``params`` plus the task's ``known_params``
    (params its code reads with a default, so they need not be on the card).
    """
    import difflib

    import zoo

    if not params:
        return
    card = zoo.info(name)
    task = zoo.get_zoo().tasks.get(card.task)
    known = sorted(set(card.params) | set(getattr(task, "known_params", ()) or ()))
    for key in params:
        if key in known:
            continue
        close = difflib.get_close_matches(key, known, n=1, cutoff=0.75)
        listed = ", ".join(known) or "none"
        if close:
            raise ZooError(
                f"unknown --param {key!r} for {card.name}; did you mean {close[0]!r}? Its params: {listed} "
                f"(see `zoo info {card.name}`)"
            )
        print(
            f"zoo: warning: --param {key!r} is not one of {card.name}'s known params ({listed}); "
            "it is passed on, but the model may ignore it",
            file=sys.stderr,
        )


def _parse_param(text: str) -> tuple[str, Any]:
    """``KEY=VALUE`` with VALUE read as YAML (numbers, booleans, strings)."""
    import yaml

    from .errors import ZooError

    key, sep, value = text.partition("=")
    if not sep or not key:
        raise ZooError(f"--param takes KEY=VALUE, got {text!r} (e.g. --param decoder=greedy)")
    return key.strip(), yaml.safe_load(value)


def _run_inputs(model: Any, args: argparse.Namespace) -> list[Any]:
    """The inputs ``zoo run`` hands the model, by the task's ``input_kind``."""
    kind = model.task.input_kind
    if kind == "audio":
        if args.prompt or args.num:
            raise ZooError(f"{model.name} ({model.task.name}) takes audio files, not --prompt or --num")
        if not args.files:
            raise ZooError(f"{model.name} ({model.task.name}) needs audio files: zoo run {model.name} a.wav")
        return list(args.files)
    if kind == "prompt":
        prompts = [*args.files, *(args.prompt or [])]
        if not prompts and model.task.prompt_optional:
            return [None] * (args.num or 1)
        if not prompts:
            raise ZooError(f"{model.name} ({model.task.name}) needs a prompt: zoo run {model.name} --prompt TEXT")
        return [p for p in prompts for _ in range(args.num or 1)]
    if args.files or args.prompt:
        raise ZooError(f"{model.name} ({model.task.name}) takes no input; use --num N (and --seed S)")
    return [None] * (args.num or 1)


def _save_results(results: Sequence[Any], out: Path) -> None:
    """Save every result into ``out`` under a unique stem; say what was written."""
    used: set[str] = set()
    written = 0
    for i, r in enumerate(results):
        stem = r.stem if r.stem not in used else f"{r.stem}-{i}"
        used.add(stem)
        written += len(r.save(out, stem=stem))
    print(f"zoo: wrote {written} file(s) to {out}", file=sys.stderr)


def cmd_plugins(args: argparse.Namespace) -> int:
    import zoo

    z = zoo.get_zoo()
    infos = sorted(z.plugins.values(), key=lambda p: p.name)
    if args.json:
        print(json.dumps([vars(p) for p in infos], indent=2))
        return 0
    rows = [
        [
            p.name,
            p.version,
            ",".join(h.replace("register_", "") for h in p.hooks),
            ",".join(p.tasks),
            ",".join(p.models),
            p.error or ("ok" + "".join(f"; dropped {d}" for d in getattr(p, "dropped", ()))),
        ]
        for p in infos
    ]
    print(_table(rows, ["plugin", "version", "hooks", "tasks", "models", "status"]))
    return 0


def cmd_new_plugin(args: argparse.Namespace) -> int:
    from .scaffold import new_plugin, plugin_names

    names = plugin_names(args.name, args.task)
    root = new_plugin(args.name, task=args.task, directory=args.dir)
    print(f"created {root}: plugin {names.plugin!r} with task {names.task!r} and model {names.model!r}")
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        print(f"  {path.relative_to(root)}")
    print(f"next:\n  pip install -e {root}\n  zoo plugins\n  pytest {root / 'tests'}")
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    from .serve import serve

    models = [m.strip() for m in args.models.split(",") if m.strip()] if args.models else None
    if args.host not in ("127.0.0.1", "localhost", "::1"):
        print(f"zoo: warning: serving on {args.host}: anyone who can reach it can run models", file=sys.stderr)
    serve(
        args.host,
        args.port,
        models=models,
        device=args.device,
        preload=args.preload,
        max_wait_ms=args.max_wait_ms,
        max_batch=args.max_batch,
        max_upload_bytes=int(args.max_upload_mb * 2**20),
    )
    return 0


def cmd_run_ray(args: argparse.Namespace) -> int:
    """``zoo run MODEL DIR_OR_GLOB --ray [--out results.jsonl|.parquet]``: Ray Data over the inputs."""
    from . import ray as zray

    params = dict(_parse_param(p) for p in args.param or [])
    out = getattr(args, "out", None)  # --out: a .jsonl or .parquet file (or a folder for results.jsonl)
    if out and Path(out).suffix not in (".jsonl", ".parquet"):
        out = str(Path(out) / "results.jsonl")
    rows = zray.run(
        _task_alias(args.name) or args.name,
        list(args.files),
        out=out,
        batch_size=args.batch_size or 64,
        concurrency=args.ray_actors,
        device=args.device,
        dtype=args.dtype,
        params=params,
        address=args.ray_address,
    )
    failed = sum(r.get("type") == "ErrorResult" for r in rows)
    if args.json:
        for r in rows:
            print(json.dumps(r))
    else:
        print(_table([[r["path"], r["summary"]] for r in rows], ["input", "result"]))
    if out:
        print(f"zoo: wrote {len(rows)} rows to {out}", file=sys.stderr)
    print(f"zoo: {len(rows)} inputs, {failed} failed", file=sys.stderr)
    return 1 if rows and failed == len(rows) else 0


def cmd_train(args: argparse.Namespace, rest: Sequence[str]) -> int:
    import zoo

    recipes = zoo.get_zoo().recipes
    if args.name not in recipes:
        raise ZooError(f"no recipe for {args.name!r}; models with recipes: {', '.join(sorted(recipes)) or 'none'}")
    recipes[args.name].obj(list(rest))
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    import zoo

    z = zoo.get_zoo()
    if args.model:
        names = [_task_alias(args.model) or args.model]
    else:  # the default model of every task whose plugin ships demo inputs
        names = [t.name for t in sorted(z.tasks.values(), key=lambda t: t.name) if t.demo_inputs()]
    if not names:
        raise ZooError("no installed task ships demo inputs; run a model on your own files with `zoo run`")
    for name in names:
        model = zoo.load(name)
        demos = model.task.demo_inputs(Path(args.clips) if args.clips else None)
        if not demos:
            raise ZooError(f"task {model.task.name!r} has no demo inputs" + (f" in {args.clips}" if args.clips else ""))
        results = model([d.input for d in demos], seed=args.seed)
        rows = []
        for d, r in zip(demos, results):
            check = "" if d.expected is None else ("ok" if model.task.matches(r, d.expected) else "MISS")
            rows.append([Path(r.source).name, d.expected or "", r.summary(), check])
        print(f"{model.name} ({model.task.name}) on {len(demos)} example inputs:\n")
        print(_table(rows, ["input", "expected", "result", ""]) + "\n")
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    from .bench import BenchConfig, load_suite, run_bench
    from .bench.report import write_report

    data = {}
    for item in args.data or []:
        name, sep, path = item.partition("=")
        if not sep:
            raise ZooError(f"--data takes NAME=DIR, got {item!r}")
        data[name] = path
    suite = load_suite(args.suite)
    cfg = BenchConfig(
        task=_task_alias(args.task),
        models=args.models,
        data=data,
        limit=args.limit,
        speed=not args.no_speed,
        quality=not args.no_quality,
        log=lambda m: print(m, file=sys.stderr),
    )
    if args.out:
        cfg.out = Path(args.out)
    report = run_bench(suite, cfg)
    for path in write_report(report, cfg.out):
        print(f"wrote {path}")
    quality = report.get("quality", [])
    if cfg.quality and quality and all("error" in row for row in quality):
        print(f"zoo: every quality job failed or was skipped ({len(quality)}); see the report", file=sys.stderr)
        return 1
    return 0


def _task_alias(task: str | None) -> str | None:
    """A task alias (``kws``, from the task's ``aliases``) as its task name; anything else unchanged."""
    import zoo

    return (zoo.task_name(task) or task) if task else None


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="zoo",
        description="Audio Zoo: load audio models by name and run them.",
        epilog="exit status: 0 ok; 1 `zoo run` inputs failed (all of them, or any with --fail-on-error) or every "
        "`zoo bench` quality job failed; 2 usage or zoo error",
    )
    sub = p.add_subparsers(dest="command", required=True)
    s = sub.add_parser("list", help="list models")
    s.add_argument("pattern", nargs="?", help="shell-style name pattern, e.g. 'kws-*'")
    s.add_argument("--task", help="only models of this task")
    s.set_defaults(fn=cmd_list)
    s = sub.add_parser("info", help="show a model's registry card")
    s.add_argument("name")
    s.set_defaults(fn=cmd_info)
    s = sub.add_parser("run", help="run a model on audio files")
    s.add_argument("name", help="model or task name")
    s.add_argument("files", nargs="*", help="audio files (or, for prompt tasks, prompts such as MIDI files)")
    s.add_argument("--batch-size", type=_positive_int, default=None, help="inputs per batch (at least 1)")
    s.add_argument("--device", default=None, help="cpu, cuda, cuda:1 ... (default: cuda if available)")
    s.add_argument("--dtype", default=None, help="float32 (default), float16 or bfloat16 (GPU only)")
    s.add_argument("--json", action="store_true", help="one JSON object per input, in order")
    s.add_argument("--out", metavar="DIR", help="save every result's outputs (wav, txt, json...) into DIR")
    s.add_argument("--prompt", action="append", help="a text prompt, for tasks that take prompts (repeatable)")
    s.add_argument("--num", type=int, help="how many outputs to generate (per prompt), for generation tasks")
    s.add_argument("--seed", type=int, help="sampling seed: input i gets SEED + i, whatever the batching")
    s.add_argument("--seconds", type=float, help="how much to generate, for generation tasks (= --param seconds=S)")
    s.add_argument(
        "--fail-on-error",
        action="store_true",
        help="exit 1 if any input fails (default: exit 1 only when every input fails; failed inputs are listed)",
    )
    s.add_argument(
        "--param", action="append", metavar="KEY=VALUE", help="override a card param, e.g. decoder=greedy (repeatable)"
    )
    s.set_defaults(fn=cmd_run)
    s.add_argument("--ray", action="store_true", help="run with Ray Data (files may be a folder or a glob)")
    s.add_argument("--ray-actors", type=int, default=1, help="with --ray: actors, each holding the model (default 1)")
    s.add_argument("--ray-address", help="with --ray: an existing cluster, e.g. auto or ray://HOST:10001")
    s = sub.add_parser("serve", help="serve models over HTTP, with a page to try them (needs audio-zoo[serve])")
    s.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: this machine only)")
    s.add_argument("--port", type=int, default=8000)
    s.add_argument("--models", help="comma-separated model or task names (default: every model, loaded on use)")
    s.add_argument("--device", default=None, help="cpu, cuda, ... (default: cuda if available)")
    s.add_argument("--preload", action="store_true", help="load the models at start instead of on first request")
    s.add_argument("--max-wait-ms", type=float, default=5.0, help="how long a request waits to share a batch")
    s.add_argument("--max-batch", type=int, default=32, help="inputs gathered into one runner call")
    s.add_argument("--max-upload-mb", type=float, default=25.0, help="request body limit (413 above it)")
    s.set_defaults(fn=cmd_serve)
    s = sub.add_parser("plugins", help="list installed plugins")
    s.add_argument("--json", action="store_true")
    s.add_argument("--strict", action="store_true", help="fail if any plugin fails to load")
    s.set_defaults(fn=cmd_plugins)
    s = sub.add_parser("new-plugin", help="write a new plugin package (task + example model + tests) from a template")
    s.add_argument("name", help="plugin name, e.g. 'bird' (distribution zoo-bird, module zoo_bird)")
    s.add_argument("--task", help="name of the new task it registers (default: NAME-detection)")
    s.add_argument("--dir", help="folder to write (default: ./zoo-NAME); must be new or empty")
    s.set_defaults(fn=cmd_new_plugin)
    s = sub.add_parser("train", help="train a model with its recipe (extra args go to the recipe)")
    s.add_argument("name")
    s.set_defaults(fn=cmd_train)
    s = sub.add_parser("bench", help="benchmark quality and speed (suites in benchmarks/)")
    s.add_argument("--suite", default="quick", help="quick, full, or a path to a suite YAML")
    s.add_argument("--quick", dest="suite", action="store_const", const="quick", help="same as --suite quick")
    s.add_argument("--task", help="only this task (kws, asr, ... or the full task name)")
    s.add_argument("--models", help="only models matching this pattern")
    s.add_argument("--data", action="append", metavar="NAME=DIR", help="where dataset NAME lives (repeatable)")
    s.add_argument("--out", help="output folder (default benchmarks/results)")
    s.add_argument("--limit", type=int, help="at most this many examples per quality job")
    s.add_argument("--no-speed", action="store_true")
    s.add_argument("--no-quality", action="store_true")
    s.set_defaults(fn=cmd_bench)
    s = sub.add_parser("demo", help="run task defaults on the example inputs their plugins ship, and print a table")
    s.add_argument("--model", help="model or task name (default: every task that ships demo inputs)")
    s.add_argument("--clips", help="a folder of inputs instead of the bundled ones (keyword spotting: <label>_*.wav)")
    s.add_argument("--seed", type=int, default=0, help="sampling seed for generation tasks (default 0)")
    s.set_defaults(fn=cmd_demo)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    args, rest = parser.parse_known_args(argv)
    if rest and args.command != "train":
        parser.error(f"unrecognized arguments: {' '.join(rest)}")
    if getattr(args, "strict", False):
        import os

        os.environ["ZOO_STRICT_PLUGINS"] = "1"
    try:
        if args.command == "train":
            return cmd_train(args, rest)
        if getattr(args, "ray", False):
            return cmd_run_ray(args)
        return args.fn(args)
    except ZooError as exc:
        print(f"zoo: error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # `zoo list | head`
        sys.stderr.close()
        return 0


if __name__ == "__main__":
    sys.exit(main())
