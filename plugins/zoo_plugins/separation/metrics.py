"""Separation quality: SI-SDR and SDR improvements with permutation-invariant matching.

The pairwise losses come from asteroid (``pairwise_neg_sisdr`` and
``pairwise_neg_snr``); the best permutation is asteroid's
``PITLossWrapper.find_best_perm``. "SDR" here is the plain signal-to-distortion
ratio (no scale invariance, no BSS-eval filter).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

__all__ = ["pit_scores", "separation_metrics"]


def pit_scores(estimates: torch.Tensor, references: torch.Tensor, mixture: torch.Tensor) -> dict[str, float]:
    """SI-SDR, SI-SDRi, SDR and SDRi (dB, mean over sources) of one mixture, best source order.

    Args:
        estimates: ``(n_src, T)`` separated sources.
        references: ``(n_src, T)`` the true sources (same length).
        mixture: ``(T,)`` the input.

    >>> s = torch.randn(2, 8000)
    >>> round(pit_scores(s.clone(), s, s.sum(0))["si_sdr"]) > 50
    True
    """
    from asteroid.losses import PITLossWrapper, pairwise_neg_sisdr, pairwise_neg_snr

    n = min(estimates.shape[-1], references.shape[-1], mixture.shape[-1])
    est, ref = estimates[None, :, :n].double(), references[None, :, :n].double()
    mix = mixture[:n].double().expand_as(ref[0])[None]
    si = -pairwise_neg_sisdr(est, ref)  # (1, est, ref)
    _, perm = PITLossWrapper.find_best_perm(-si, n_src=si.shape[1])
    idx = perm[0].tolist()
    si_sdr = torch.stack([si[0, idx[j], j] for j in range(len(idx))])
    snr = -pairwise_neg_snr(est, ref)
    sdr = torch.stack([snr[0, idx[j], j] for j in range(len(idx))])
    si_mix = torch.diagonal(-pairwise_neg_sisdr(mix, ref)[0])
    sdr_mix = torch.diagonal(-pairwise_neg_snr(mix, ref)[0])
    return {
        "si_sdr": float(si_sdr.mean()),
        "si_sdri": float((si_sdr - si_mix).mean()),
        "sdr": float(sdr.mean()),
        "sdri": float((sdr - sdr_mix).mean()),
    }


def separation_metrics(results: Sequence[Any], examples: Sequence[Any]) -> dict[str, Any]:
    """Mean scores over mixtures whose examples carry ``references`` (paths of the true sources)."""
    from zoo import audio as zaudio

    rows, failed = [], 0
    for e, r in zip(examples, results):
        if not r.ok:
            failed += 1
            continue
        rate = int(r.sample_rate)
        refs = torch.stack([zaudio.load(p, rate).mono() for p in e.references])
        mix = zaudio.load(e.path, rate).mono()
        rows.append(pit_scores(torch.as_tensor(r.sources).float(), refs, mix))
    out: dict[str, Any] = {"mixtures": len(rows), "failed": failed}
    for key in ("si_sdri", "sdri", "si_sdr", "sdr"):
        values = torch.tensor([row[key] for row in rows]) if rows else torch.zeros(0)
        out[key] = round(float(values.mean()), 2) if rows else None
        if key == "si_sdri" and len(rows) > 1:
            out["si_sdri_ci95"] = round(1.96 * float(values.std()) / len(rows) ** 0.5, 2)
    return out
