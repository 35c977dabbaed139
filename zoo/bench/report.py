"""Write a bench report as JSON, Markdown and PNG plots."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

__all__ = ["markdown", "write_report"]


def write_report(report: dict[str, Any], out: Path) -> list[Path]:
    """Write ``<suite>.json``, ``<suite>.md`` and plots into ``out``; return the paths."""
    out.mkdir(parents=True, exist_ok=True)
    stem = report["suite"]
    paths = [out / f"{stem}.json", out / f"{stem}.md"]
    paths[0].write_text(json.dumps(report, indent=2) + "\n")
    paths[1].write_text(markdown(report))
    try:
        paths += _plots(report, out)
    except ImportError:  # matplotlib is optional
        pass
    return paths


def markdown(report: dict[str, Any]) -> str:
    m = report.get("machine", {})
    lines = [
        f"# Benchmark: {report['suite']}",
        "",
        f"torch {report.get('torch')}, {m.get('cpu')} × {m.get('cores')} cores"
        + (f", {m['gpu']}" if m.get("gpu") else ""),
        "",
    ]
    if report.get("quality"):
        lines += [
            "## Quality",
            "",
            "| model | dataset | metric | measured | card claims | flag |",
            "|---|---|---|---|---|---|",
        ]
        for row in report["quality"]:
            if "error" in row:
                lines.append(f"| {row.get('model', '-')} | {row.get('dataset')} | error | {row['error']} | | |")
                continue
            for key, value in row["metrics"].items():
                if isinstance(value, (dict, list)) or key.endswith("_stderr"):
                    continue
                claim = row["claims"].get(key, {})
                flag = "**differs**" if claim.get("flag") else ("ok" if claim else "")
                label = row["model"] + "".join(f" ({k}={v})" for k, v in row.get("params", {}).items())
                lines.append(f"| {label} | {row['dataset']} | {key} | {value} | {claim.get('claimed', '')} | {flag} |")
        lines.append("")
        for row in report["quality"]:
            if row.get("int8"):
                change = ", ".join(f"{k} {v:+.4f}" for k, v in row["int8"]["change"].items() if k != "examples")
                lines += [f"int8 dynamic quantization, {row['model']}: {change}", ""]
        for row in report["quality"]:
            per_class = row.get("metrics", {}).get("per_class_accuracy")
            if per_class:
                lines += [
                    f"Per-class accuracy, {row['model']} on {row['dataset']}: "
                    + ", ".join(f"{k} {v:.2f}" for k, v in per_class.items()),
                    "",
                ]
    if report.get("speed"):
        lines += [
            "## Speed",
            "",
            "Ratios are per-round time ratios (median [min–max]) of contestants run "
            "interleaved in one process; > 1 means the zoo runner is faster.",
            "",
        ]
        for job in report["speed"]:
            if "error" in job:
                lines += [f"### {job['job']}: error", "", job["error"], ""]
                continue
            lines += [
                f"### {job['job']} — {job['model']}, {job['files']} files, {job['audio_s']} s audio, "
                f"{job['threads']} threads, {job['device']}",
                "",
                "| contestant | clips/s | RTF | batch p50 ms | batch p95 ms | peak RSS MB |",
                "|---|---|---|---|---|---|",
            ]
            for name, c in job["contestants"].items():
                if "error" in c:
                    lines.append(f"| {name} | error: {c['error'][:80]} | | | | |")
                else:
                    lines.append(
                        f"| {name} | {c['clips_per_s']} | {c.get('rtf', '-')} | {c['batch_p50_ms']} | "
                        f"{c['batch_p95_ms']} | {c['peak_rss_mb']} |"
                    )
            lines.append("")
            dec, raw = job["contestants"].get("decode-only", {}), job["contestants"].get(job.get("best_raw") or "", {})
            if "clips_per_s" in dec and "clips_per_s" in raw:
                share = (1 / dec["clips_per_s"]) / (1 / dec["clips_per_s"] + 1 / raw["clips_per_s"])
                lines.append(
                    f"- decoding + chunking alone takes {share:.0%} of (decode-only + best raw) time: "
                    "the ceiling left out by the raw contestants, which start from decoded tensors"
                )
            for name, r in job["ratios"].items():
                if r:
                    lines.append(f"- {name}: **{r['median']}×** [{r['min']}–{r['max']}]")
            lines.append("")
    return "\n".join(lines) + "\n"


def _plots(report: dict[str, Any], out: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    paths = []
    for job in report.get("speed", []):
        if "error" in job:
            continue
        ok = {k: v for k, v in job["contestants"].items() if "error" not in v}
        if not any(k.startswith(("pipeline-", "raw-")) for k in ok):  # no batch-size series: one bar each
            fig, ax = plt.subplots(figsize=(6, 0.5 + 0.4 * len(ok)))
            names = sorted(ok, key=lambda k: ok[k]["clips_per_s"])
            ax.barh(names, [ok[k]["clips_per_s"] for k in names], color=["k" if k == "zoo" else "C0" for k in names])
            ax.set_xlabel("clips / s (higher is faster)")
            ax.set_title(f"{job['job']}: {job['model']}")
            fig.tight_layout()
            path = out / f"{report['suite']}-throughput-{job['job']}.png"
            fig.savefig(path, dpi=100)
            plt.close(fig)
            paths.append(path)
            continue
        fig, ax = plt.subplots(figsize=(6, 3.5))
        for family in ("pipeline", "raw"):
            pts = sorted(
                (int(k.split("-b")[1]), v["clips_per_s"])
                for k, v in job["contestants"].items()
                if k.startswith(family) and "error" not in v
            )
            if pts:
                ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", label=family)
        if "zoo" in job["contestants"] and "error" not in job["contestants"]["zoo"]:
            ax.axhline(job["contestants"]["zoo"]["clips_per_s"], color="k", linestyle="--", label="zoo runner")
        ax.set_xscale("log", base=2)
        ax.set_xlabel("batch size")
        ax.set_ylabel("clips / s")
        ax.set_title(f"{job['job']}: {job['model']}")
        ax.legend()
        fig.tight_layout()
        path = out / f"{report['suite']}-throughput-{job['job']}.png"
        fig.savefig(path, dpi=100)
        plt.close(fig)
        paths.append(path)
    for row in report.get("quality", []):
        per_class = row.get("metrics", {}).get("per_class_accuracy")
        if not per_class:
            continue
        fig, ax = plt.subplots(figsize=(7, 3.5))
        ax.bar(list(per_class), list(per_class.values()))
        ax.set_ylim(0, 1)
        ax.set_ylabel("accuracy")
        ax.set_title(f"{row['model']} on {row['dataset']}")
        plt.setp(ax.get_xticklabels(), rotation=45, ha="right")
        fig.tight_layout()
        path = out / f"{report['suite']}-per-class-{row['model']}.png"
        fig.savefig(path, dpi=100)
        plt.close(fig)
        paths.append(path)
    return paths
