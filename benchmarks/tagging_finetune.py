"""Frozen encoder + head against fine-tuning Whisper's top encoder layers with the head (issue #20).

Every arm trains on the same cached features of ``zoo train
tag-whisper-tiny-esc50`` (every hidden state, clips at their own length, the
recipe's waveform copies), with the same folds by source recording, steps,
seed and augmentation, except that clips are never cropped (the tuned layers
attend over whole clips, so no padding): ``min_crop = 1.0`` for every arm.

    python benchmarks/tagging_finetune.py [--folds 0,1] [--tune 1,2] [--steps 400]

Writes ``benchmarks/results/tagging-finetune-folds<F>-tune<K>.md``. Costly: a tuned layer runs
at 50 Hz on every training example (minutes per fold on one core).
"""

from __future__ import annotations

import argparse
import dataclasses
import time
from pathlib import Path

import torch
from zoo_plugins.tagging.data import FOLDS, fold_of
from zoo_plugins.tagging.training.finetune import TunedTop
from zoo_plugins.tagging.training.recipe import BACKBONE, TagConfig, load_features, new_head, scores, train_head

import zoo

RESULTS = Path(__file__).parent / "results"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--folds", default="0,1", help="folds by src_file to hold out in turn")
    p.add_argument("--tune", default="1", help="arms: numbers of top encoder layers to fine-tune")
    p.add_argument("--steps", type=int, default=400)
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    cfg = dataclasses.replace(TagConfig(), min_crop=1.0, steps=args.steps)
    fs = load_features(cfg)
    labels = sorted({c.label for c in fs.clips})
    fold = [fold_of(fs.clips[c].src_file, FOLDS) for c in fs.clip]
    usable = [i for i in range(len(fs.feats)) if fs.variant[i] < cfg.variants]
    encoder = zoo.load(BACKBONE).net.model.model.encoder
    tuned = [int(k) for k in args.tune.split(",") if k.strip()]
    arms = {"frozen encoder, head only": 0} | {f"top {k} layer(s) fine-tuned + head": k for k in tuned}
    rows = []
    for name, tune in arms.items():
        correct = total = 0
        seconds = 0.0
        for f in (int(x) for x in args.folds.split(",")):
            tr = [i for i in usable if fold[i] != f]
            te = [i for i in usable if fold[i] == f and fs.variant[i] == 0]
            head = new_head(fs, labels, cfg)
            model = TunedTop(encoder, head, tune).train() if tune else None
            t0 = time.perf_counter()
            trained, _ = train_head(fs, tr, labels, cfg, log=lambda s: None, model=model)
            seconds += time.perf_counter() - t0
            s = scores(trained, fs, te, labels)
            correct += sum(s["correct"])
            total += len(te)
            print(f"{name}: fold {f} top-1 {sum(s['correct']) / len(te):.3f} ({len(te)} clips)", flush=True)
        acc = correct / total
        rows.append((name, acc, (acc * (1 - acc) / total) ** 0.5, total, seconds))
    lines = [
        "# Tagging: frozen encoder against fine-tuning its top layers",
        "",
        f'`python benchmarks/tagging_finetune.py --folds {args.folds} --tune "{args.tune}" --steps {args.steps}`,'
        f" {args.threads} thread(s); features {cfg.encoder_layers} (every hidden state), {cfg.variants} copies a clip;"
        " held-out folds by source recording; whole clips (no crop augmentation) in every arm.",
        "",
        "| arm | top-1 | ± | clips | train s |",
        "|---|---|---|---|---|",
        *[f"| {n} | {a:.3f} | {e:.3f} | {t} | {s:.0f} |" for n, a, e, t, s in rows],
        "",
    ]
    out = RESULTS / f"tagging-finetune-folds{args.folds.replace(',', '')}-tune{args.tune.replace(',', '')}.md"
    out.write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
