"""``kws-speech-embedding``: a small head on Google's pretrained speech embedding.

The front end is the speech-embedding model (Google's ``speech_embedding``,
Apache-2.0) as the two ONNX files that ship in the ``openwakeword==0.4.0``
wheel: a 32-bin log-mel spectrogram and a conv net that turns every 76 mel
frames (0.775 s, stepped by 8 frames = 80 ms) into a 96-dim embedding. Only
the head is trained here; it is stored as safetensors. ONNX files are not
pickles, and they are read from the installed package, never downloaded.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from zoo.errors import WeightsError
from zoo.weights import package_dir

__all__ = ["EmbeddingHead", "SpeechEmbedding", "SpeechEmbeddingClassifier", "load_speech_embedding_classifier"]

WINDOW, STEP, MEL_BINS, EMB_DIM = 76, 8, 32, 96


class SpeechEmbedding:
    """The ONNX speech-embedding front end: ``(B, T)`` waveforms at 16 kHz -> ``(B, W, 96)``."""

    def __init__(self, models_dir: Path | None = None, threads: int = 1) -> None:
        import onnxruntime as ort

        models_dir = models_dir or package_dir("kws-speech-embedding", "openwakeword", "resources/models")
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        providers = ["CPUExecutionProvider"]
        try:
            self.mel = ort.InferenceSession(str(models_dir / "melspectrogram.onnx"), opts, providers=providers)
            self.emb = ort.InferenceSession(str(models_dir / "embedding_model.onnx"), opts, providers=providers)
        except Exception as exc:  # noqa: BLE001 - onnxruntime raises its own types
            raise WeightsError(str(models_dir), f"could not open the speech-embedding ONNX models: {exc}") from exc

    def __call__(self, waveforms: np.ndarray) -> np.ndarray:
        x = np.ascontiguousarray(waveforms, dtype=np.float32) * 32767.0
        # one row at a time: the mel model's dB floor is relative to the loudest value in its whole input,
        # so a batched call would let one clip's level change another's features
        spec = np.concatenate([self.mel.run(None, {"input": x[i : i + 1]})[0] for i in range(len(x))])  # (B, 1, F, 32)
        spec = spec[:, 0] / 10.0 + 2.0  # the scaling the embedding model was trained with
        b, f, _ = spec.shape
        starts = range(0, f - WINDOW + 1, STEP)
        windows = np.stack([spec[:, s : s + WINDOW] for s in starts], axis=1)  # (B, W, 76, 32)
        out = self.emb.run(None, {"input_1": windows.reshape(-1, WINDOW, MEL_BINS, 1)})[0]
        return out.reshape(b, len(starts), EMB_DIM)


class EmbeddingHead(nn.Module):
    """An MLP over the stacked embeddings of one clip."""

    def __init__(self, num_windows: int, num_labels: int, hidden: int = 256, dropout: float = 0.3) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.LayerNorm(num_windows * EMB_DIM),
            nn.Linear(num_windows * EMB_DIM, hidden),
            nn.GELU(),
            nn.Dropout(dropout),
            nn.Linear(hidden, hidden),
            nn.GELU(),
            nn.Dropout(dropout),
            nn.Linear(hidden, num_labels),
        )

    def forward(self, emb: torch.Tensor) -> torch.Tensor:
        return self.net(emb.flatten(1))


class SpeechEmbeddingClassifier(nn.Module):
    """``(waveforms (B, T), lengths) -> logits``: pad each 1 s clip by ``pad_s`` both sides, embed, classify."""

    def __init__(self, head: EmbeddingHead, labels: tuple[str, ...], clip_samples: int, pad_samples: int) -> None:
        super().__init__()
        self.head = head
        self.labels = labels
        self.clip_samples = clip_samples
        self.pad_samples = pad_samples
        self.embedding = SpeechEmbedding()

    def embed(self, waveforms: torch.Tensor) -> torch.Tensor:
        x = waveforms.detach().float().cpu()
        x = torch.nn.functional.pad(x[:, : self.clip_samples], (0, max(0, self.clip_samples - x.shape[1])))
        x = torch.nn.functional.pad(x, (self.pad_samples, self.pad_samples))
        return torch.from_numpy(self.embedding(x.numpy()))

    def forward(self, waveforms: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        emb = self.embed(waveforms).to(next(self.head.parameters()).device)
        return self.head(emb)


def load_speech_embedding_classifier(card: Any, weights_dir: Path, device: torch.device, dtype: torch.dtype):
    """Build the classifier from a head directory (``config.json`` + ``model.safetensors``)."""
    from safetensors.torch import load_file

    config = json.loads((Path(weights_dir) / "config.json").read_text())
    head = EmbeddingHead(config["num_windows"], len(config["labels"]), config["hidden"])
    head.load_state_dict({k: v.float() for k, v in load_file(Path(weights_dir) / "model.safetensors").items()})
    net = SpeechEmbeddingClassifier(head, tuple(config["labels"]), config["clip_samples"], config["pad_samples"])
    if card.labels and set(card.labels) != set(net.labels):
        raise WeightsError(str(weights_dir), f"{card.name}: head labels differ from the card's")
    return net.to(device=device, dtype=dtype).eval()
