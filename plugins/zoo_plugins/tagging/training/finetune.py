"""Fine-tuning the encoder's top layers together with the head (the comparison to a frozen encoder).

:class:`TunedTop` trains on the same cached features as the frozen-encoder
head, when they hold every hidden state side by side (``--encoder-layers
0,1,...,L``, Whisper's ``encode(layers=...)``): the hidden state below the
tuned layers is their input, and their outputs replace the cached blocks of
those layers before the head. Only the top layers and the head train, so the
lower layers' features need no re-encoding. Inputs must not be padded (the
encoder layers attend over every frame): train with whole clips
(``min_crop=1.0``) of one length.

``benchmarks/tagging_finetune.py`` runs the comparison; it is not part of the
shipped model.
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from ..arch import PoolHead

__all__ = ["TunedTop"]


class TunedTop(nn.Module):
    """The top ``tune`` layers of a Whisper encoder (copied, trainable) under a :class:`PoolHead`.

    ``encoder``: a ``transformers`` ``WhisperEncoder``; features are ``(B, F, states * d_model)``
    with ``states = encoder_layers + 1`` (the embeddings and every layer's output). The
    pretrained layers learn at ``encoder_lr_scale`` times the head's rate.
    """

    def __init__(self, encoder: nn.Module, head: PoolHead, tune: int, encoder_lr_scale: float = 0.1) -> None:
        super().__init__()
        n = len(encoder.layers)
        if not 1 <= tune <= n:
            raise ValueError(f"tune must be 1..{n} layers, got {tune}")
        self.tune = tune
        self.dim = int(encoder.config.d_model)
        self.layers = nn.ModuleList(copy.deepcopy(layer) for layer in encoder.layers[n - tune :])
        self.final_norm = copy.deepcopy(encoder.layer_norm)
        self.head = head
        self.encoder_lr_scale = encoder_lr_scale
        for p in self.parameters():
            p.requires_grad_(True)

    def param_groups(self, lr: float) -> list[dict]:
        """The head at ``lr``, the pretrained layers at ``lr * encoder_lr_scale`` (for the optimiser)."""
        tuned = [*self.layers.parameters(), *self.final_norm.parameters()]
        return [
            {"params": list(self.head.parameters()), "lr": lr},
            {"params": tuned, "lr": lr * self.encoder_lr_scale},
        ]

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        states = x.shape[-1] // self.dim
        keep = states - self.tune  # blocks 0..keep-1 stay as cached
        h = x[..., (keep - 1) * self.dim : keep * self.dim]
        outs = []
        for i, layer in enumerate(self.layers):
            h = layer(h, None)
            outs.append(self.final_norm(h) if i == self.tune - 1 else h)
        return self.head(torch.cat([x[..., : keep * self.dim], *outs], dim=-1), mask)
