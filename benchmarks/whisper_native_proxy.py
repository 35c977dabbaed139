"""Native-speech drift of the Whisper tiny.en variants, on LibriSpeech speakers without transcripts (issue #17).

The held-out native set we have with transcripts is one speaker (cathy). The
hidden native set is LibriSpeech, LJSpeech and LibriVox audiobook speech.
``../shared/data/librispeech-speakers`` holds such speech from 261 speakers but
no transcripts, so this script scores each candidate against **pseudo
references**: Whisper base (74 M parameters, beam 5), a stronger model than
any candidate. The numbers are disagreement with Whisper base, not WER
against the truth; they rank the candidates and show whether an adapter moves
native transcripts away from what a better model hears.

The clips are the held-out half of :func:`zoo_plugins.asr.data.librispeech_speakers_split`
(the 100 test-other clips of 10 speakers, plus every fifth train-clean speaker).

    python benchmarks/whisper_native_proxy.py [--only NAME] [--limit N] [--threads 2]

Writes ``benchmarks/results/whisper-native-proxy.{md,json}`` (about 30 minutes on 2 cores,
half of it the reference pass). The reference transcripts are kept in the JSON
and reused while the clips are the same; ``--only NAME`` re-scores one
candidate (after retraining an adapter, say) and keeps the others' rows.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch
from zoo_plugins.asr.data import librispeech_speakers_split
from zoo_plugins.asr.metrics import score

import zoo
from zoo.testing import shared_data

OUT = Path(__file__).parent / "results" / "whisper-native-proxy"
REFERENCE = ("asr-whisper-base", 5)
CANDIDATES = [("asr-whisper-tiny-en", 1), ("asr-whisper-tiny-en", 5), ("asr-whisper-tiny-en-l2", 5)]


def transcribe(name: str, beams: int, paths: list[str]) -> tuple[list[str], float]:
    """Transcripts of ``paths`` by ``name`` at beam width ``beams``, and the seconds they took."""
    model = zoo.load(name)
    model.net.num_beams = beams
    started = time.perf_counter()
    results = model(paths, progress=False)
    return [getattr(r, "text", "") for r in results], time.perf_counter() - started


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--limit", type=int, help="clips (smoke runs)")
    p.add_argument("--only", help="re-score this candidate only, keeping the other rows")
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    _, held = librispeech_speakers_split(shared_data("librispeech-speakers"))
    paths = [str(h) for h in held[: args.limit]]
    stems = [Path(x).stem for x in paths]
    path = OUT.with_suffix(".json")
    record = json.loads(path.read_text()) if path.is_file() else {}
    if list(record.get("clips", {})) != stems or record["reference"]["model"] != REFERENCE[0]:
        refs, ref_s = transcribe(*REFERENCE, paths)
        record = {"reference": {"model": REFERENCE[0], "num_beams": REFERENCE[1], "seconds": round(ref_s, 1)}}
        record["clips"] = dict(zip(stems, refs, strict=True))
    refs = list(record["clips"].values())
    other = [i for i, x in enumerate(paths) if "train-clean" not in x]
    for name, beams in CANDIDATES:
        if args.only and name != args.only:
            continue
        texts, seconds = transcribe(name, beams, paths)
        sc = score(refs, texts)
        sc_other = score([refs[i] for i in other], [texts[i] for i in other])
        record[f"{name}@beam{beams}"] = {
            "wer": sc["wer"],
            "wer_stderr": sc["wer_stderr"],
            "wer_other": sc_other["wer"],
            "seconds": round(seconds, 1),
        }
    path.write_text(json.dumps(record, indent=1) + "\n")
    rows = []
    for name, beams in CANDIDATES:
        r = record.get(f"{name}@beam{beams}")
        if r:
            rows.append(
                f"| {name} | {beams} | {100 * r['wer']:.1f} % ± {100 * r['wer_stderr']:.1f} "
                f"| {100 * r['wer_other']:.1f} % | {r['seconds']:.0f} s |"
            )
    words = sum(len(r.split()) for r in refs)
    OUT.with_suffix(".md").write_text(
        "# Whisper tiny.en variants on native audiobook speech (pseudo references)\n\n"
        f"`python benchmarks/whisper_native_proxy.py`: {len(paths)} LibriSpeech clips "
        f"({len(other)} test-other, the rest train-clean), {words} reference words, "
        f"{torch.get_num_threads()} threads. References are **{REFERENCE[0]} transcripts at beam "
        f"{REFERENCE[1]}**, not human ones: the figures are word disagreement with a stronger model "
        "(± one standard error).\n\n"
        "| model | beam | disagreement (all) | test-other only | time |\n|---|---|---|---|---|\n"
        + "\n".join(rows)
        + f"\n\nReference pass: {record['reference']['seconds']:.0f} s. "
        "Its transcripts are in `whisper-native-proxy.json`.\n"
    )
    print(OUT.with_suffix(".md").read_text())


if __name__ == "__main__":
    main()
