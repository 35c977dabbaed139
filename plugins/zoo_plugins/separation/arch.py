"""Separation networks from asteroid, stored as a small HF-style directory.

A checkpoint is ``config.json`` (the asteroid class under ``asteroid_class``,
its keyword arguments under ``args``, the sample rate and the number of
sources) and ``model.safetensors`` (the ``state_dict``). Only the classes in
:data:`ASTEROID_CLASSES` are built, so a config cannot name arbitrary code;
asteroid's own ``from_pretrained`` (a pickled ``.pth`` or ``.bin``) is never
used: the zoo refuses pickles.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from torch import nn

from zoo.errors import WeightsError

__all__ = ["ASTEROID_CLASSES", "Separator", "build_asteroid", "load_separator", "save_separator"]

#: the asteroid models a config may name (waveform in, ``(batch, n_src, time)`` out)
ASTEROID_CLASSES = ("ConvTasNet", "DPRNNTasNet", "SuDORMRFNet", "SuDORMRFImprovedNet", "DPTNet", "LSTMTasNet")


def build_asteroid(asteroid_class: str, args: dict[str, Any]) -> nn.Module:
    """A fresh (untrained) asteroid model of an allowed class."""
    if asteroid_class not in ASTEROID_CLASSES:
        raise ValueError(f"asteroid class {asteroid_class!r} is not one of {', '.join(ASTEROID_CLASSES)}")
    import asteroid.models

    return getattr(asteroid.models, asteroid_class)(**args)


class Separator(nn.Module):
    """``waveforms (B, T) -> sources (B, n_src, T)`` at ``sample_rate``; wraps an asteroid model.

    Each input row is scaled to unit RMS on the way in, so the network sees the
    levels it was trained on whatever the recording's gain. A network trained
    with a scale-invariant loss gives sources of arbitrary gain; on the way out
    each source gets the gain that makes the sources add up to the mixture best
    (least squares, from the input alone), which leaves SI-SDR unchanged and
    makes the levels, and plain SDR, meaningful.
    """

    def __init__(self, model: nn.Module, config: dict[str, Any]) -> None:
        super().__init__()
        self.model = model
        self.config = config
        self.sample_rate = int(config["sample_rate"])
        self.n_src = int(config["n_src"])

    def forward(self, waveforms: torch.Tensor) -> torch.Tensor:
        scale = waveforms.pow(2).mean(-1, keepdim=True).sqrt().clamp(min=1e-5)
        x = waveforms / scale
        est = self.model(x)
        if est.dim() == 2:  # one source and a squeezed axis
            est = est.unsqueeze(1)
        est = est[..., : waveforms.shape[-1]]
        return fit_to_mixture(est, x) * scale.unsqueeze(1)


def fit_to_mixture(est: torch.Tensor, mix: torch.Tensor, ridge: float = 1e-8) -> torch.Tensor:
    """``est (B, n, T)`` with each source scaled so that their sum best matches ``mix (B, T)`` (least squares).

    >>> s = torch.randn(1, 2, 1000)
    >>> bool(torch.allclose(fit_to_mixture(s * torch.tensor([[[3.0], [-0.5]]]), s.sum(1)), s, atol=1e-3))
    True
    """
    e = est.double()
    gram = e @ e.transpose(1, 2)  # (B, n, n)
    gram = gram + ridge * gram.diagonal(dim1=1, dim2=2).mean(-1)[:, None, None] * torch.eye(e.shape[1], dtype=e.dtype)
    rhs = e @ mix.double().unsqueeze(-1)  # (B, n, 1)
    gains = torch.linalg.solve(gram, rhs)
    return (e * gains).to(est.dtype)


def save_separator(model: nn.Module, config: dict[str, Any], out_dir: str | Path) -> Path:
    """Write ``config.json`` + ``model.safetensors`` into ``out_dir`` (returned)."""
    from safetensors.torch import save_model

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    save_model(model, str(out / "model.safetensors"))  # asteroid models share some tensors: stored once
    (out / "config.json").write_text(json.dumps(config, indent=1) + "\n")
    return out


def read_config(weights_dir: str | Path) -> dict[str, Any]:
    path = Path(weights_dir) / "config.json"
    try:
        config = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise WeightsError(str(path), f"cannot read the separator's config ({exc})") from exc
    for key in ("asteroid_class", "args", "sample_rate", "n_src"):
        if key not in config:
            raise WeightsError(str(path), f"the separator's config has no {key!r}")
    return config


def load_separator(card: Any, weights_dir: Path, device: torch.device, dtype: torch.dtype) -> Separator:
    """The zoo architecture loader for ``asteroid`` cards."""
    from safetensors.torch import load_model

    config = read_config(weights_dir)
    if int(config["sample_rate"]) != int(card.sample_rate):
        raise WeightsError(
            str(weights_dir), f"{card.name}: the card says {card.sample_rate} Hz, the model {config['sample_rate']} Hz"
        )
    model = build_asteroid(config["asteroid_class"], dict(config["args"]))
    load_model(model, str(Path(weights_dir) / "model.safetensors"))
    return Separator(model, config).to(device=device, dtype=dtype).eval()
