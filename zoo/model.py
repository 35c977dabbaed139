"""A loaded zoo model: card + task + network, callable on one input or many."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import torch

from .errors import InvalidArgumentError
from .registry import ModelCard
from .results import Result
from .runner import RunnerConfig, run
from .task import Seeded

if TYPE_CHECKING:
    from .plugins import Zoo
    from .task import Task

__all__ = ["Model", "build_model", "resolve_device", "resolve_dtype"]


class Model:
    """A ready-to-run model returned by :func:`zoo.load`.

    Call it on one input to get one result, or on a list to get a list:

    >>> m = zoo.load("kws-wav2vec2")          # doctest: +SKIP
    >>> m("clip.wav").label                    # doctest: +SKIP
    'yes'
    >>> [r.label for r in m(["a.wav", "b.flac"], batch_size=16)]  # doctest: +SKIP
    """

    def __init__(self, card: ModelCard, task: Task, net: Any, device: torch.device, dtype: torch.dtype) -> None:
        self.card = card
        self.task = task
        self.net = net
        self.device = device
        self.dtype = dtype
        self.config = RunnerConfig(**task.runner_defaults)

    @property
    def name(self) -> str:
        return self.card.name

    @property
    def labels(self) -> tuple[str, ...]:
        return self.card.labels

    def __getattr__(self, name: str) -> Any:
        # task-specific model methods (e.g. music-generation's ``generate``/``score``): the task lists
        # them in ``model_methods`` and implements them as ``method(model, ...)``
        task = self.__dict__.get("task")
        if task is not None and name in getattr(task, "model_methods", ()):
            return functools.partial(getattr(task, name), self)
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def __repr__(self) -> str:
        return f"<zoo.Model {self.card.name!r} task={self.task.name!r} device={self.device} dtype={self.dtype}>"

    def __call__(
        self,
        inputs: Any,
        *,
        batch_size: int | None = None,
        max_batch_samples: int | None = None,
        progress: bool | None = None,
        threads: int | None = None,
        seed: int | None = None,
    ) -> Any:
        """Run on one input (returns a :class:`zoo.Result`) or a list (returns a list).

        A failed input gives an :class:`zoo.ErrorResult` in its place (a single
        input too), carrying the input's source and the reason.

        ``seed`` seeds sampling tasks: input ``i`` gets ``seed + i`` unless it is
        already a :class:`zoo.Seeded` input; the seed stays with the item, so the
        batch it lands in never changes its output.
        """
        single = not isinstance(inputs, (list, Sequence)) or isinstance(inputs, (str, bytes, tuple))
        items = [inputs] if single else list(inputs)
        if seed is not None:
            items = [x if isinstance(x, Seeded) else Seeded(x, seed + i) for i, x in enumerate(items)]
        config = self.config
        overrides: dict[str, Any] = {}
        if batch_size is not None:
            overrides["batch_size"] = batch_size
        if max_batch_samples is not None:
            overrides["max_batch_samples"] = max_batch_samples
        if progress is not None:
            overrides["progress"] = progress
        if threads is not None:
            overrides["threads"] = threads
        if overrides:
            config = replace(config, **overrides)
        results = run(self, items, config)
        if single:
            return results[0]
        return results

    def run(self, inputs: Sequence[Any], **kwargs: Any) -> list[Result]:
        """Always-a-list form of ``__call__``."""
        return self(list(inputs), **kwargs)


def resolve_device(device: str | torch.device | None) -> torch.device:
    """``None`` picks CUDA when available, else the CPU."""
    if device is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def resolve_dtype(dtype: str | torch.dtype | None, device: torch.device) -> torch.dtype:
    """``None`` means float32; half precision is refused on the CPU (slow, no native units)."""
    if dtype is None:
        return torch.float32
    if isinstance(dtype, str):
        table = {
            "float32": torch.float32,
            "fp32": torch.float32,
            "float16": torch.float16,
            "fp16": torch.float16,
            "bfloat16": torch.bfloat16,
            "bf16": torch.bfloat16,
        }
        if dtype not in table:
            raise InvalidArgumentError("dtype", dtype, f"unknown dtype; use one of {', '.join(table)}")
        dtype = table[dtype]
    if dtype in (torch.float16, torch.bfloat16) and device.type == "cpu":
        raise InvalidArgumentError(
            "dtype",
            str(dtype).replace("torch.", ""),
            "half precision on the CPU is slower than float32 here; use it on a GPU (--device cuda), or keep float32",
        )
    return dtype


def build_model(
    z: Zoo,
    card: ModelCard,
    device: str | torch.device | None = None,
    dtype: str | torch.dtype | None = None,
    *,
    quantize: str | None = None,
) -> Model:
    """The one place a :class:`Model` is built: ``z``'s task and architecture for ``card``, weights resolved.

    :func:`zoo.load`, :func:`zoo.from_card` and the conformance kit all come here.

    Raises:
        WeightsError: the weights are missing, refused, or the architecture could not build from them.
    """
    from .errors import WeightsError, ZooError
    from .weights import resolve

    task = z.task(card.task)
    arch = z.architecture(card.architecture)
    dev = resolve_device(device)
    dt = resolve_dtype(dtype, dev)
    weights_dir = resolve(card)
    try:
        net = arch.loader(card, weights_dir, dev, dt)
    except ZooError:
        raise
    except Exception as exc:  # a corrupt file, a config the architecture cannot read: say which model and where
        raise WeightsError(
            str(weights_dir),
            f"{card.name}: architecture {card.architecture!r} could not build the model from {weights_dir} "
            f"({type(exc).__name__}: {exc}); check that the weights match the architecture, or re-download them",
        ) from exc
    if quantize is not None:
        net = _quantize(net, quantize, dev)
    return Model(card, task, net, dev, dt)


def _quantize(net: Any, mode: str, device: torch.device) -> Any:
    if mode != "int8":
        raise ValueError(f"unknown quantize mode {mode!r}; the only mode is 'int8'")
    if device.type != "cpu":
        raise ValueError("int8 dynamic quantization runs on the CPU only; pass device='cpu'")
    from torch.ao.quantization import quantize_dynamic

    # in place: the net was just loaded for this call, and some nets hold unpicklable sessions (ONNX)
    return quantize_dynamic(net, {torch.nn.Linear}, dtype=torch.qint8, inplace=True)
