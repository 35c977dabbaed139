"""The Task contract every task plugin implements.

A task turns inputs into typed results in three steps, and the runner owns
everything in between (decoding on workers, batching, devices, errors)::

    read(x)            -> item      decode one input (audio by default)
    preprocess(item)   -> [Chunk]   one chunk for a clip, several for long audio
    collate(chunks)    -> batch     pad to a batch, with lengths / masks
    forward(net, batch)-> [out]     one output per chunk, on the CPU
    postprocess(item, [out]) -> Result

A task never touches devices, ``inference_mode`` or batching. The same
contract serves clip classification, transcripts with timestamps (chunks carry
their offsets), separated sources (overlap-add in postprocess), captions and
generated audio (``read`` accepts a text prompt instead of audio).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

import torch

from . import audio as zaudio
from .results import Result

if TYPE_CHECKING:
    from .model import Model

__all__ = ["Chunk", "Task", "pad_batch"]


@dataclass
class Chunk:
    """One unit of model input: a 1-D tensor plus where it came from.

    ``length`` is what the runner buckets by (samples for audio chunks);
    ``meta`` carries task data such as a window's start offset. A lazy chunk
    has ``data=None`` and a ``loader``; it is decoded only when its batch runs.
    """

    data: torch.Tensor | None
    length: int
    meta: dict[str, Any] = field(default_factory=dict)
    #: decodes ``data`` on demand (long files are read chunk by chunk, at collate time)
    loader: Callable[[], torch.Tensor] | None = field(default=None, repr=False)

    def load(self) -> torch.Tensor:
        """The chunk's tensor, decoding it now when the chunk is lazy."""
        if self.data is not None:
            return self.data
        if self.loader is None:
            raise ValueError("a Chunk needs data or a loader")
        return self.loader()


class Task:
    """Base class for tasks. Subclasses set ``name`` and ``result_type``.

    Override :meth:`preprocess`, :meth:`forward` and :meth:`postprocess`;
    :meth:`read` and :meth:`collate` have defaults for mono audio.
    """

    name: ClassVar[str] = ""
    result_type: ClassVar[type[Result]] = Result
    description: ClassVar[str] = ""
    #: keys a registry card of this task must carry beyond the common ones
    required_card_keys: ClassVar[tuple[str, ...]] = ()
    #: the ``transformers.pipeline`` task that does the same job (the benchmark baseline)
    hf_pipeline_task: ClassVar[str | None] = None
    #: :class:`zoo.runner.RunnerConfig` defaults that suit this task (e.g. a bigger sample budget)
    runner_defaults: ClassVar[dict[str, Any]] = {}

    def check_card(self, card: Any) -> None:
        """Raise :class:`zoo.RegistryError` if ``card`` cannot serve this task."""
        from .errors import RegistryError

        for key in self.required_card_keys:
            if not getattr(card, key, None):
                raise RegistryError(card.name, key, f"is required for task {self.name!r}")

    def read(self, model: Model, x: Any) -> Any:
        """Decode one input. Runs on a background worker."""
        return zaudio.load(x, model.card.sample_rate)

    def preprocess(self, model: Model, item: Any) -> list[Chunk]:
        """Split an item into chunks. Default: the whole mono clip is one chunk."""
        wav = item.mono()
        return [Chunk(wav, int(wav.shape[-1]))]

    def collate(self, model: Model, chunks: Sequence[Chunk]) -> dict[str, torch.Tensor]:
        """Zero-pad 1-D chunk tensors into ``{"inputs": (B, T), "lengths": (B,)}``."""
        return pad_batch([c.load() for c in chunks])

    def forward(self, model: Model, batch: dict[str, torch.Tensor]) -> list[Any]:
        """Run the network on a collated batch; return one CPU output per chunk."""
        raise NotImplementedError

    def postprocess(self, model: Model, item: Any, chunks: Sequence[Chunk], outputs: Sequence[Any]) -> Result:
        """Turn the outputs of an item's chunks into its typed result."""
        raise NotImplementedError


def pad_batch(tensors: Sequence[torch.Tensor], pad_value: float = 0.0) -> dict[str, torch.Tensor]:
    """Right-pad 1-D tensors to a ``(B, T)`` batch with their ``lengths``."""
    lengths = torch.tensor([int(t.shape[-1]) for t in tensors], dtype=torch.long)
    out = tensors[0].new_full((len(tensors), int(lengths.max())), pad_value)
    for i, t in enumerate(tensors):
        out[i, : t.shape[-1]] = t
    return {"inputs": out, "lengths": lengths}
