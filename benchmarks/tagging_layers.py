"""Which Whisper tiny.en encoder layers, and padded or unpadded input, for ESC-50 tagging (issue #20).

A plain baseline, so the comparison is about the features and not the head:
logistic regression (scikit-learn, standardised, C = 0.1) on the mean and max
over time of each clean ``esc50-dev`` clip's hidden states, 5-fold
cross-validated by source recording. Each clip is encoded twice: padded to
Whisper's 30 s window (as it was trained) and at its own length.

    python benchmarks/tagging_layers.py [--data ../shared/data]

Writes ``benchmarks/results/tagging-layers.md`` (about 4 minutes on one core).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch
from zoo_plugins.tagging.data import FOLDS, esc50, fold_of

import zoo
from zoo import audio as zaudio

OUT = Path(__file__).parent / "results" / "tagging-layers.md"
RATE = 16000


def hidden_states(model, clips, full_window: bool) -> list[torch.Tensor]:
    """``(states, frames, d_model)`` per clip: every hidden state of the encoder."""
    n_states = len(model.net.model.model.encoder.layers) + 1
    out = []
    for c in clips:
        w = zaudio.load(c.path, RATE).mono()
        with torch.inference_mode():
            f = model.net.encode(
                w[None], torch.tensor([w.numel()]), RATE, layers=range(n_states), full_window=full_window
            )
        out.append(f[0].reshape(f[0].shape[0], n_states, -1).transpose(0, 1))
    return out


def cv_accuracy(x: np.ndarray, labels: np.ndarray, folds: np.ndarray) -> float:
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    correct = 0
    for f in range(FOLDS):
        tr, te = folds != f, folds == f
        clf = make_pipeline(StandardScaler(), LogisticRegression(C=0.1, max_iter=2000))
        clf.fit(x[tr], labels[tr])
        correct += int((clf.predict(x[te]) == labels[te]).sum())
    return correct / len(labels)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default="../shared/data")
    args = p.parse_args()
    torch.set_num_threads(1)
    clips = esc50(Path(args.data) / "esc50-dev")
    labels = np.array([c.label for c in clips])
    folds = np.array([fold_of(c.src_file) for c in clips])
    model = zoo.load("asr-whisper-tiny-en")
    n_states = len(model.net.model.model.encoder.layers) + 1
    choices = {f"hidden state {i}" + (" (output)" if i == n_states - 1 else ""): [i] for i in range(n_states)}
    choices["every hidden state side by side"] = list(range(n_states))
    table = {name: {} for name in choices}
    seconds = {}
    for window, full in (("padded to 30 s", True), ("own length", False)):
        t0 = time.perf_counter()
        states = hidden_states(model, clips, full)
        seconds[window] = time.perf_counter() - t0
        for name, sel in choices.items():
            x = np.stack([torch.cat([s[sel].mean(1).flatten(), s[sel].amax(1).flatten()]).numpy() for s in states])
            table[name][window] = cv_accuracy(x, labels, folds)
            print(f"{window}, {name}: {table[name][window]:.3f}", flush=True)
    windows = list(seconds)
    lines = [
        "# Tagging: which encoder features",
        "",
        "`python benchmarks/tagging_layers.py`: logistic regression (C = 0.1) on mean + max pooled hidden states"
        f" of the {len(clips)} clean esc50-dev clips, 5-fold CV by source recording (top-1). Hidden state 0 is the"
        " input embedding, i the output of layer i.",
        "",
        "| features | " + " | ".join(windows) + " |",
        "|---|" + "---|" * len(windows),
        *[f"| {name} | " + " | ".join(f"{row[w]:.3f}" for w in windows) + " |" for name, row in table.items()],
        "| encoding time, all clips, one thread (s) | " + " | ".join(f"{seconds[w]:.0f}" for w in windows) + " |",
        "",
    ]
    OUT.write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
