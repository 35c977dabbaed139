"""Silero VAD run with onnxruntime from the ONNX file in the ``silero-vad`` wheel.

The "sequence" export scores a whole block of 32 ms frames in one call,
carrying the LSTM state between blocks; each frame is fed with the 64 samples
before it as context. Only the ONNX file is read: never the TorchScript
``.jit`` (a pickle archive) that ships beside it.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import numpy as np
import torch

from zoo.errors import TaskError, UnsafeWeightsError, WeightsError

__all__ = ["SileroVAD", "frames_with_context", "load_silero_vad"]

FRAME = 512  # samples per frame at 16 kHz
CONTEXT = 64  # samples of the previous frame the model sees
STATE = (1, 1, 128)


def frames_with_context(x: np.ndarray, frame: int = FRAME, context: int = CONTEXT) -> np.ndarray:
    """Cut ``x`` into ``(frames, context + frame)`` rows, each led by the samples before it.

    The first frame's context is zeros; the last frame is zero-padded.

    >>> frames_with_context(np.arange(1, 7, dtype=np.float32), frame=3, context=1)
    array([[0., 1., 2., 3.],
           [3., 4., 5., 6.]], dtype=float32)
    """
    n = max(1, -(-len(x) // frame))
    padded = np.zeros(context + n * frame, dtype=np.float32)
    padded[context : context + len(x)] = x
    index = np.arange(n)[:, None] * frame + np.arange(context + frame)[None, :]
    return padded[index]


class SileroVAD:
    """``speech_probs(waveforms, lengths, sample_rate)``: one speech probability per 32 ms frame."""

    def __init__(self, session: Any, sample_rate: int = 16000, block_frames: int = 512) -> None:
        self.session = session
        self.sample_rate = sample_rate
        self.block_frames = block_frames
        self.frame_s = FRAME / sample_rate
        self._lock = threading.Lock()  # an onnxruntime session is safe, but keep runs ordered

    def speech_probs(self, waveforms: torch.Tensor, lengths: torch.Tensor, sample_rate: int) -> list[np.ndarray]:
        if sample_rate != self.sample_rate:
            raise TaskError("voice-activity-detection", f"silero-vad runs at {self.sample_rate} Hz, got {sample_rate}")
        rows = waveforms.detach().float().cpu().numpy()
        return [self._one(row[: int(n)]) for row, n in zip(rows, lengths.tolist())]

    def _one(self, x: np.ndarray) -> np.ndarray:
        frames = frames_with_context(x)
        h = np.zeros(STATE, dtype=np.float32)
        c = np.zeros(STATE, dtype=np.float32)
        out = []
        with self._lock:
            for first in range(0, len(frames), self.block_frames):
                block = np.ascontiguousarray(frames[first : first + self.block_frames])
                probs, h, c = self.session.run(None, {"input": block, "h": h, "c": c})
                out.append(np.asarray(probs, dtype=np.float32).reshape(-1))
        return np.concatenate(out)


def load_silero_vad(card: Any, weights_dir: Path, device: torch.device, dtype: torch.dtype) -> SileroVAD:
    """Open the card's ONNX file (``params.onnx``) from the silero-vad package folder.

    The model runs on the CPU whatever ``device`` says (it is small: ~2 ms per second of audio on one thread).
    """
    import onnxruntime

    name = str(card.params.get("onnx", "silero_vad_16k_sequence.onnx"))
    path = Path(weights_dir) / name
    if path.suffix != ".onnx":
        raise UnsafeWeightsError(str(path), f"{card.name}: only ONNX files are loaded, not {path.name}")
    if not path.is_file():
        raise WeightsError(
            str(path),
            f"{card.name}: {name} is not in {weights_dir}; install a silero-vad wheel that ships it "
            "(pip install 'silero-vad>=6.2,<7')",
        )
    opts = onnxruntime.SessionOptions()
    opts.intra_op_num_threads = int(card.params.get("threads", 1))
    opts.inter_op_num_threads = 1
    try:
        session = onnxruntime.InferenceSession(str(path), sess_options=opts, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own exception types
        raise WeightsError(str(path), f"{card.name}: onnxruntime could not open {path.name}: {exc}") from exc
    inputs = {i.name for i in session.get_inputs()}
    if inputs != {"input", "h", "c"}:
        raise WeightsError(
            str(path), f"{card.name}: {path.name} is not the sequence export (inputs {sorted(inputs)}, want input/h/c)"
        )
    return SileroVAD(session, sample_rate=card.sample_rate)
