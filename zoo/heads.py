"""Pooling heads over encoder frames: the small trained part of models built on a frozen backbone.

Task-agnostic pieces that any plugin can put on top of another zoo model's
``encode`` output (frames at a fixed rate, ``(frames, dim)`` per input): the
tagging task's tagger and the Whisper keyword spotter both use them. A head is
stored as ``config.json`` (``dim``, ``hidden``, ``labels``, ``stride``,
``groups``, ...) + ``model.safetensors``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from torch import nn

__all__ = ["PoolHead", "load_backbone", "load_head", "pad_features", "stride_average"]


def pad_features(feats: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """Stack ``(frames_i, dim)`` tensors into ``(B, F, dim)`` zero-padded, with a ``(B, F)`` validity mask.

    >>> x, mask = pad_features([torch.ones(2, 3), torch.ones(1, 3)])
    >>> x.shape, mask.tolist()
    (torch.Size([2, 2, 3]), [[True, True], [True, False]])
    """
    n = max(int(f.shape[0]) for f in feats)
    x = feats[0].new_zeros(len(feats), n, feats[0].shape[-1])
    mask = torch.zeros(len(feats), n, dtype=torch.bool)
    for i, f in enumerate(feats):
        x[i, : f.shape[0]] = f
        mask[i, : f.shape[0]] = True
    return x, mask


def stride_average(x: torch.Tensor, mask: torch.Tensor, stride: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Average each run of ``stride`` valid frames of ``(B, F, dim)`` (50 Hz -> 12.5 Hz for 4), and the new mask.

    >>> y, m = stride_average(torch.arange(5.0).reshape(1, 5, 1), torch.ones(1, 5, dtype=torch.bool), 2)
    >>> y.flatten().tolist(), m.tolist()
    ([0.5, 2.5, 4.0], [[True, True, True]])
    """
    if stride <= 1:
        return x, mask
    pad = -x.shape[1] % stride
    m = torch.nn.functional.pad(mask, (0, pad)).reshape(mask.shape[0], -1, stride).to(x.dtype)
    x = torch.nn.functional.pad(x * mask.unsqueeze(-1).to(x.dtype), (0, 0, 0, pad))
    x = x.reshape(x.shape[0], -1, stride, x.shape[-1]).sum(2) / m.sum(-1, keepdim=True).clamp(min=1)
    return x, m.sum(-1) > 0


class PoolHead(nn.Module):
    """Frame features -> label logits: average ``stride`` frames, project, then mean + max + attention pooling.

    ``groups``: the features are that many equal blocks (e.g. several encoder
    layers side by side), each layer-normalised on its own before the projection.
    """

    def __init__(
        self, dim: int, num_labels: int, hidden: int = 256, dropout: float = 0.3, stride: int = 1, groups: int = 1
    ) -> None:
        super().__init__()
        if dim % groups:
            raise ValueError(f"dim {dim} is not a multiple of groups {groups}")
        self.stride = stride
        self.groups = groups
        self.norm = nn.LayerNorm(dim // groups)
        self.proj = nn.Sequential(nn.Linear(dim, hidden), nn.GELU())
        self.att = nn.Linear(hidden, 1)
        self.drop = nn.Dropout(dropout)
        self.out = nn.Linear(3 * hidden, num_labels)

    def pooled(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        x, mask = stride_average(x, mask, self.stride)
        x = self.norm(x.unflatten(-1, (self.groups, -1))).flatten(-2)
        h = self.proj(x)
        m = mask.unsqueeze(-1)
        mean = (h * m).sum(1) / m.sum(1).clamp(min=1)
        peak = h.masked_fill(~m, float("-inf")).amax(1)
        w = self.att(h).squeeze(-1).masked_fill(~mask, float("-inf")).softmax(-1)
        att = (w.unsqueeze(-1) * h).sum(1)
        return torch.cat([mean, peak, att], dim=-1)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return self.out(self.drop(self.pooled(x, mask)))


def load_head(weights_dir: Path) -> tuple[PoolHead, dict[str, Any]]:
    """The head and its config from ``config.json`` + ``model.safetensors``."""
    from safetensors.torch import load_file

    config = json.loads((Path(weights_dir) / "config.json").read_text())
    head = PoolHead(
        config["dim"],
        len(config["labels"]),
        config["hidden"],
        config.get("dropout", 0.3),
        config.get("stride", 1),
        config.get("groups", 1),
    )
    head.load_state_dict({k: v.float() for k, v in load_file(Path(weights_dir) / "model.safetensors").items()})
    return head.eval(), config


def load_backbone(card: Any, weights_dir: Path, config: dict[str, Any], device: Any) -> Any:
    """The frozen backbone a head sits on: the zoo model named by ``card.params["backbone"]`` or the head's config.

    Raises:
        WeightsError: neither names one.
    """
    import zoo

    from .errors import WeightsError

    backbone = card.params.get("backbone") or config.get("backbone")
    if not backbone:
        raise WeightsError(str(weights_dir), f"{card.name}: no backbone named in params.backbone or config.json")
    return zoo.load(backbone, device=device)
