"""Low-rank adapters (LoRA) for inference: merged into the base weights at load time.

An adapter file is safetensors with, for each adapted ``nn.Linear`` named
``P``, the tensors ``P.lora_A`` ``(rank, in)`` and ``P.lora_B`` ``(out, rank)``,
and the metadata ``{"rank": r, "alpha": a}``. Merging adds ``B @ A * a / r`` to
``P.weight``, so the adapted model runs exactly as fast as the base model.
Training lives in :mod:`.training.whisper_l2`.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from zoo.errors import WeightsError

__all__ = ["merge_adapter"]


def merge_adapter(model: nn.Module, path: str | Path) -> int:
    """Add the adapter at ``path`` into ``model``'s Linear weights in place; return how many layers changed.

    Raises:
        WeightsError: the file is unreadable, or names a layer the model does not have.
    """
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt") as fh:
            meta = fh.metadata() or {}
            tensors = {k: fh.get_tensor(k) for k in fh.keys()}
    except Exception as exc:  # safetensors raises its own error types for damaged files
        raise WeightsError(str(path), f"cannot read the adapter {path}: {exc}") from exc
    scale = float(meta.get("alpha", 1.0)) / float(meta.get("rank", 1.0))
    modules = dict(model.named_modules())
    names = sorted({k.rsplit(".", 1)[0] for k in tensors})
    for name in names:
        layer = modules.get(name)
        a, b = tensors.get(f"{name}.lora_A"), tensors.get(f"{name}.lora_B")
        if not isinstance(layer, nn.Linear) or a is None or b is None:
            raise WeightsError(str(path), f"adapter {path} names {name!r}, which is not a Linear layer of the model")
        if b.shape[0] != layer.out_features or a.shape[1] != layer.in_features:
            raise WeightsError(str(path), f"adapter {path}: {name} has shape {tuple(b.shape)}x{tuple(a.shape)}")
        with torch.no_grad():
            layer.weight += (b.float() @ a.float()).to(layer.weight.dtype) * scale
    return len(names)
