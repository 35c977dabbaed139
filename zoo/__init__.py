"""Audio Zoo: load an audio model by name and run it on files, arrays or tensors.

>>> import zoo
>>> m = zoo.load("kws-wav2vec2")        # doctest: +SKIP
>>> m("clip.wav").label                  # doctest: +SKIP
'yes'
"""

from __future__ import annotations

import threading
from typing import Any

import torch

from . import audio
from .errors import (
    AudioError,
    OfflineWeightsError,
    PluginError,
    RegistryError,
    TaskError,
    UnknownModelError,
    UnsafeWeightsError,
    WeightsError,
    ZooError,
)
from .hookspecs import hookimpl
from .model import Model, build_model
from .plugins import Zoo
from .registry import ModelCard
from .results import Classification, ErrorResult, Result, Transcript, Word
from .task import Chunk, Seeded, Task

__all__ = [
    "AudioError",
    "Chunk",
    "Classification",
    "ErrorResult",
    "Model",
    "ModelCard",
    "OfflineWeightsError",
    "PluginError",
    "RegistryError",
    "Result",
    "Seeded",
    "Task",
    "TaskError",
    "Transcript",
    "UnknownModelError",
    "UnsafeWeightsError",
    "WeightsError",
    "Word",
    "ZooError",
    "audio",
    "from_card",
    "get_zoo",
    "hookimpl",
    "info",
    "list_models",
    "list_tasks",
    "load",
    "reload",
    "task_name",
]

__version__ = "0.1.0"

_lock = threading.Lock()
_zoo: Zoo | None = None


def get_zoo() -> Zoo:
    """The process-wide :class:`zoo.plugins.Zoo`, loading plugins on first use."""
    global _zoo
    with _lock:
        if _zoo is None:
            _zoo = Zoo().load()
        return _zoo


def reload(**kwargs: Any) -> Zoo:
    """Forget loaded plugins and discover them again (e.g. after ``pip install``)."""
    global _zoo
    with _lock:
        _zoo = Zoo(**kwargs).load()
        return _zoo


def list_models(pattern: str | None = None, task: str | None = None) -> list[str]:
    """Model names matching a shell-style ``pattern`` and/or ``task``, sorted.

    >>> zoo.list_models("kws-*")  # doctest: +SKIP
    ['kws-wav2vec2', 'kws-wav2vec2-base-superb']
    """
    return [c.name for c in get_zoo().registry.list(pattern, task)]


def list_tasks() -> list[str]:
    """Names of the tasks the installed plugins provide."""
    return sorted(get_zoo().tasks)


def task_name(name: str) -> str | None:
    """The task called ``name`` or aliased so (``"kws"`` -> ``"keyword-spotting"``); None if no such task.

    >>> zoo.task_name("asr")  # doctest: +SKIP
    'speech-recognition'
    """
    tasks = get_zoo().tasks
    if name in tasks:
        return name
    return next((t.name for t in tasks.values() if name in t.aliases), None)


def info(name: str) -> ModelCard:
    """The registry card of model ``name`` (or of a task's default model)."""
    return _card(name)


def _card(name: str) -> ModelCard:
    z = get_zoo()
    if name not in z.registry and task_name(name) is not None:
        name = task_name(name)  # type: ignore[assignment]
        card = z.registry.default_for(name)
        if card is None:
            raise UnknownModelError(name, z.registry.list(task=name) and [c.name for c in z.registry.list(task=name)])
        return card
    return z.registry.get(name)


def load(
    name: str,
    device: str | torch.device | None = None,
    dtype: str | torch.dtype | None = None,
    *,
    quantize: str | None = None,
    **params: Any,
) -> Model:
    """Load a model by registry name, or a task's default model by task name.

    Args:
        name: a model name (``zoo list``) or a task name such as ``"keyword-spotting"``.
        device: ``"cpu"``, ``"cuda"``, ``"cuda:1"``...; ``None`` picks CUDA when available.
        dtype: ``None`` (float32), ``"float16"`` or ``"bfloat16"`` (GPU only).
        quantize: ``"int8"`` applies dynamic int8 quantization to the Linear
            layers (CPU only): faster at small batch sizes, slightly different
            outputs; ``zoo bench`` reports the accuracy change.
        **params: override the card's ``params`` for this load, e.g.
            ``zoo.load("speech-recognition", decoder="greedy")``. Which params a
            model takes is listed in ``zoo info NAME``.

    Raises:
        UnknownModelError: no such model; the message suggests close names.
        WeightsError: the weights could not be found or were refused.
    """
    return from_card(_card(name), device, dtype, quantize=quantize, **params)


def from_card(
    card: ModelCard,
    device: str | torch.device | None = None,
    dtype: str | torch.dtype | None = None,
    *,
    quantize: str | None = None,
    **params: Any,
) -> Model:
    """Build a :class:`Model` from a card that need not be in the registry (e.g. a fresh checkpoint).

    >>> card = zoo.ModelCard(name="mine", task="speech-recognition", architecture="hf-ctc",
    ...                      weights={"path": "out/"}, sample_rate=16000, license="MIT",
    ...                      provenance={"recipe": "mine"})  # doctest: +SKIP
    >>> zoo.from_card(card)("clip.wav")  # doctest: +SKIP
    """
    import dataclasses

    if params:
        card = dataclasses.replace(card, params={**card.params, **params})
    return build_model(get_zoo(), card, device, dtype, quantize=quantize)
