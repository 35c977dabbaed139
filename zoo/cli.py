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
    for dataset, values in card.metrics.items():
        for key in ("accuracy", "wer", "si_sdri"):
            if key in values:
                return f"{key}={values[key]} ({dataset})"
    return ""


def cmd_list(args: argparse.Namespace) -> int:
    import zoo

    cards = zoo.get_zoo().registry.list(args.pattern, args.task)
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

    params = dict(_parse_param(p) for p in args.param or [])
    model = zoo.load(_task_alias(args.name) or args.name, device=args.device, dtype=args.dtype, **params)
    results = model(list(args.files), batch_size=args.batch_size, progress=None if not args.json else False)
    failed = 0
    if args.json:
        for r in results:
            print(json.dumps(r.to_dict()))
            failed += not r.ok
        return 1 if failed == len(results) else 0
    rows = []
    for r in results:
        if not r.ok:
            failed += 1
            rows.append([r.source, "ERROR", r.reason])
        else:
            rows.append([r.source, *_summary(r)])
    print(_table(rows, ["input", "result", "detail"]))
    return 1 if failed == len(results) else 0


def _parse_param(text: str) -> tuple[str, Any]:
    """``KEY=VALUE`` with VALUE read as YAML (numbers, booleans, strings)."""
    import yaml

    from .errors import ZooError

    key, sep, value = text.partition("=")
    if not sep or not key:
        raise ZooError(f"--param takes KEY=VALUE, got {text!r} (e.g. --param decoder=greedy)")
    return key.strip(), yaml.safe_load(value)


def _summary(r: Any) -> list[str]:
    if hasattr(r, "label"):
        return [r.label, f"score {r.score:.3f}"]
    if hasattr(r, "text"):
        words = getattr(r, "words", ())
        return [r.text, f"{len(words)} words, {words[0].start_s:.2f}-{words[-1].end_s:.2f} s" if words else ""]
    if hasattr(r, "segments"):  # timed spans, e.g. voice-activity-detection's SpeechSegments
        spans = [f"{s.start_s:.2f}-{s.end_s:.2f} s" for s in r.segments]
        more = f", ... (+{len(spans) - 4})" if len(spans) > 4 else ""
        return [f"{len(spans)} segment{'s' * (len(spans) != 1)}", ", ".join(spans[:4]) + more]
    return [type(r).__name__, ""]


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
            p.error or "ok",
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

    model = zoo.load(args.model)
    clips = sorted(Path(args.clips).glob("*.wav")) if args.clips else _example_clips()
    if not clips:
        raise ZooError("no example clips found; pass --clips DIR")
    results = model([str(c) for c in clips])
    rows = []
    for clip, r in zip(clips, results):
        expected = clip.stem.split("_")[0]
        rows.append(
            [
                clip.name,
                expected,
                r.label if r.ok else "ERROR",
                f"{r.score:.3f}" if r.ok else r.reason,
                "ok" if r.ok and r.label == expected else "MISS",
            ]
        )
    print(f"{model.name} on {len(clips)} bundled example clips (synthesised here, not real speech):\n")
    print(_table(rows, ["clip", "expected", "predicted", "score", ""]))
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
    return 0


_TASK_ALIASES = {
    "kws": "keyword-spotting",
    "asr": "speech-recognition",
    "separation": "source-separation",
    "captioning": "audio-captioning",
    "music": "music-generation",
}


def _task_alias(task: str | None) -> str | None:
    return _TASK_ALIASES.get(task, task) if task else None


def _example_clips() -> list[Path]:
    import zoo_plugins.kws as kws

    return sorted((Path(kws.__file__).parent / "examples").glob("*.wav"))


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="zoo", description="Audio Zoo: load audio models by name and run them.")
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
    s.add_argument("files", nargs="+")
    s.add_argument("--batch-size", type=int, default=None)
    s.add_argument("--device", default=None, help="cpu, cuda, cuda:1 ... (default: cuda if available)")
    s.add_argument("--dtype", default=None, help="float32 (default), float16 or bfloat16 (GPU only)")
    s.add_argument("--json", action="store_true", help="one JSON object per input, in order")
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
    s = sub.add_parser("demo", help="classify the bundled example clips and print a table")
    s.add_argument("--model", default="keyword-spotting", help="model or task name (default: the KWS task's default)")
    s.add_argument("--clips", help="a folder of <label>_*.wav clips instead of the bundled ones")
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
