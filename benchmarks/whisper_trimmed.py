"""Whisper tiny.en on trimmed encoder input: each clip at its own length (+1 s) against the 30 s window (issue #17).

One of the speed levers the issue lists: "not padding short clips' encoder work
to 30 s where accuracy allows". Both variants run the same greedy decoding on
the same held-out speechocean762 utterances (an evenly spaced subset of the 12
held-out speakers), one clip at a time, interleaved per clip so that both see
the same machine load.

    python benchmarks/whisper_trimmed.py [--model asr-whisper-tiny-en] [--n 60]

Writes ``benchmarks/results/whisper-trimmed.md`` (about 2 minutes on one core).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch
from transformers.modeling_outputs import BaseModelOutput
from zoo_plugins.asr.data import HELDOUT_SPEAKERS, read_corpus
from zoo_plugins.asr.metrics import score
from zoo_plugins.asr.whisper import encoder_states

import zoo
from zoo import audio as zaudio
from zoo.splits import speaker_split
from zoo.testing import shared_data

OUT = Path(__file__).parent / "results" / "whisper-trimmed.md"
RATE = 16000
MARGIN_FRAMES = 50  # 1 s of encoder frames kept after the clip's end


def transcribe(net, audio, trimmed: bool) -> tuple[str, float]:
    """Greedy transcript of one clip and the seconds it took."""
    started = time.perf_counter()
    feats = net.processor.feature_extractor([audio], sampling_rate=RATE, return_tensors="pt").input_features
    if trimmed:
        frames = min(net.model.config.max_source_positions, len(audio) * net.frame_rate // RATE + MARGIN_FRAMES)
        feats = feats[:, :, : 2 * frames]
    with torch.inference_mode():
        encoded = encoder_states(net.model.model.encoder, feats)
        budget = int(len(audio) / RATE * 6) + 16
        ids = net.model.generate(encoder_outputs=BaseModelOutput(last_hidden_state=encoded), max_length=budget)
    text = net.processor.tokenizer.decode(
        net.clean_tokens(ids[0].tolist(), len(audio) / RATE), skip_special_tokens=True
    )
    return text, time.perf_counter() - started


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", default="asr-whisper-tiny-en")
    p.add_argument("--n", type=int, default=60, help="held-out utterances")
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    _, held = speaker_split(read_corpus(shared_data("speechocean762-train")), HELDOUT_SPEAKERS)
    held = held[:: max(1, len(held) // args.n)][: args.n]
    net = zoo.load(args.model).net
    texts: dict[bool, list[str]] = {False: [], True: []}
    seconds = {False: 0.0, True: 0.0}
    audio_s = 0.0
    for u in held:
        audio = zaudio.load(u.path, RATE).mono().numpy()
        audio_s += len(audio) / RATE
        for trimmed in (False, True):
            text, s = transcribe(net, audio, trimmed)
            texts[trimmed].append(text)
            seconds[trimmed] += s
    refs = [u.text for u in held]
    rows = []
    for trimmed, label in ((False, "padded to 30 s (as trained)"), (True, "trimmed to the clip + 1 s")):
        sc = score(refs, texts[trimmed])
        rows.append(
            f"| {label} | {100 * sc['wer']:.1f} % ± {100 * sc['wer_stderr']:.1f} "
            f"| {seconds[trimmed]:.1f} s | {seconds[trimmed] / audio_s:.3f} |"
        )
    OUT.write_text(
        f"# Whisper on trimmed encoder input\n\n`python benchmarks/whisper_trimmed.py --model {args.model} "
        f"--n {args.n} --threads {args.threads}`: {len(held)} held-out speechocean762 utterances "
        f"({audio_s:.0f} s of audio), greedy, one clip at a time, the two variants interleaved.\n\n"
        "| encoder input | WER | time | RTF |\n|---|---|---|---|\n" + "\n".join(rows) + "\n\n"
        f"Speed-up from trimming: {seconds[False] / seconds[True]:.2f}×.\n"
    )
    print(OUT.read_text())


if __name__ == "__main__":
    main()
