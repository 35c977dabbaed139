"""PocketSphinx behind the ``transcribe`` contract of the speech-recognition task.

One :class:`pocketsphinx.Decoder` decodes the rows of a batch one after the
other (it is a CPU decoder; there is nothing to gain from padding them
together). Its feature extraction is reset before every utterance and digital
silence is not decoded at all, so a result never depends on what was decoded
before it.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from zoo.errors import TaskError, WeightsError
from zoo.results import Word

__all__ = ["PocketSphinxNet", "load_pocketsphinx", "to_pcm16", "words_from_segments"]

_VARIANT = re.compile(r"\(\d+\)$")  # "read(2)": the second pronunciation of "read"


def to_pcm16(x: np.ndarray) -> bytes:
    """Float samples in [-1, 1] as little-endian 16-bit PCM bytes (clipped).

    >>> to_pcm16(np.array([0.0, 1.0, -2.0], dtype=np.float32))
    b'\\x00\\x00\\xff\\x7f\\x01\\x80'
    """
    return (np.clip(x, -1.0, 1.0) * 32767.0).astype("<i2").tobytes()


def words_from_segments(segments: Iterable[Any], frame_rate: int) -> list[Word]:
    """Words from a decoder's segmentation, without fillers (``<s>``, ``<sil>``, ``[NOISE]``).

    Times are seconds (``end_frame`` is inclusive); the score is the word's
    posterior probability, clipped to [0, 1].
    """
    words = []
    for seg in segments:
        text = str(seg.word)
        if not text or text[0] in "<[+":
            continue
        score = getattr(seg, "prob", None)
        words.append(
            Word(
                text=_VARIANT.sub("", text),
                start_s=round(seg.start_frame / frame_rate, 3),
                end_s=round((seg.end_frame + 1) / frame_rate, 3),
                score=None if score is None else round(min(1.0, max(0.0, float(score))), 4),
            )
        )
    return words


class PocketSphinxNet:
    """``transcribe(waveforms, lengths, sample_rate) -> [(text, [Word])]`` with one decoder."""

    def __init__(self, decoder: Any, sample_rate: int, frame_rate: int) -> None:
        self.decoder = decoder
        self.sample_rate = sample_rate
        self.frame_rate = frame_rate
        self._lock = threading.Lock()  # a decoder holds one utterance at a time

    def transcribe(
        self, waveforms: torch.Tensor, lengths: torch.Tensor, sample_rate: int
    ) -> list[tuple[str, list[Word]]]:
        if sample_rate != self.sample_rate:
            raise TaskError(
                "speech-recognition", f"pocketsphinx expects {self.sample_rate} Hz audio, got {sample_rate}"
            )
        rows = waveforms.detach().float().cpu().numpy()
        return [self._one(row[: int(n)]) for row, n in zip(rows, lengths.tolist())]

    def _one(self, x: np.ndarray) -> tuple[str, list[Word]]:
        if not np.any(np.abs(x) >= 0.5 / 32767):
            # Digital silence: all-zero PCM. PocketSphinx hallucinates a word on it and
            # is left in a state that depends on it, so there is nothing to decode.
            return "", []
        with self._lock:
            self.decoder.reinit_feat()  # cepstral mean etc. would otherwise carry over from the last input
            self.decoder.start_utt()
            self.decoder.process_raw(to_pcm16(x), full_utt=True)
            self.decoder.end_utt()
            words = words_from_segments(self.decoder.seg(), self.frame_rate) if self.decoder.hyp() else []
        return " ".join(w.text for w in words), words


def load_pocketsphinx(card: Any, weights_dir: Path, device: torch.device, dtype: torch.dtype) -> PocketSphinxNet:
    """Build a decoder from the acoustic model, language model and dictionary named in ``card.params``.

    Paths are relative to the resolved weights folder (pocketsphinx's ``model/en-us``).
    Decoding runs on the CPU whatever ``device`` says.
    """
    from pocketsphinx import Decoder

    params = card.params
    files = {key: Path(weights_dir) / str(params[key]) for key in ("hmm", "lm", "dict")}
    missing = [f"{key}={path}" for key, path in files.items() if not path.exists()]
    if missing:
        raise WeightsError(
            str(weights_dir),
            f"{card.name}: missing PocketSphinx model files ({', '.join(missing)}); "
            "reinstall the pocketsphinx wheel (pip install --force-reinstall 'pocketsphinx>=5,<6')",
        )
    options = dict(params.get("decoder", {}) or {})
    try:
        decoder = Decoder(
            hmm=str(files["hmm"]),
            lm=str(files["lm"]),
            dict=str(files["dict"]),
            samprate=card.sample_rate,
            loglevel="FATAL",
            **options,
        )
    except (RuntimeError, ValueError, KeyError) as exc:
        raise WeightsError(str(weights_dir), f"{card.name}: pocketsphinx could not load its model: {exc}") from exc
    return PocketSphinxNet(decoder, card.sample_rate, int(decoder.config["frate"]))
