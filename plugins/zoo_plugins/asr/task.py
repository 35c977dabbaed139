"""The speech-recognition task: audio in, :class:`zoo.results.Transcript` out.

Two kinds of network serve it (``net.kind``):

- ``"ctc"``: ``net.log_probs(waveforms, lengths) -> [Tensor (frames, vocab)]``
  and ``net.decode(log_probs) -> (text, [Word])``, with ``net.frame_samples``.
  Long audio is cut by :func:`.chunking.plan_chunks` into overlapping windows;
  the kept frames of every window are concatenated and decoded once.
- ``"seq2seq"`` (also any net without ``kind``, e.g. third-party plugins):
  ``net.transcribe(waveforms, lengths, sample_rate) -> [(text, [Word])]`` on
  windows of at most ``net.window_s`` seconds (the whole input when the net
  has no ``window_s``). With ``net.context_s`` > 0 the windows overlap by that
  much on each inner edge and each word is kept from the window whose kept
  span holds its midpoint; without it they are laid end to end.

Files longer than ``stream_s`` (a card param, default 120 s) are never decoded
whole: each window is read from disk (seeking) when its batch runs, so a
1-hour file runs in bounded memory.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from zoo import Task
from zoo import audio as zaudio
from zoo.results import Transcript, Word
from zoo.task import Chunk

from .chunking import Span, plan_chunks

__all__ = ["LongAudio", "SpeechRecognition"]

#: inputs shorter than this are zero-padded (the feature extractors need a few frames)
MIN_SAMPLES_S = 0.25


@dataclass(frozen=True)
class LongAudio:
    """A file too long to decode at once: it is read window by window."""

    path: str
    sample_rate: int
    num_samples: int
    source: str

    def segment(self, start: int, end: int) -> torch.Tensor:
        seg = zaudio.load_segment(self.path, start / self.sample_rate, end / self.sample_rate, self.sample_rate)
        x = seg.mono()
        n = end - start
        return x[:n] if x.numel() >= n else torch.nn.functional.pad(x, (0, n - x.numel()))


class SpeechRecognition(Task):
    """Transcribe speech to text with word timings (seconds from the start of the input)."""

    name = "speech-recognition"
    result_type = Transcript
    description = "Transcribe speech to text with word timings"
    hf_pipeline_task = "automatic-speech-recognition"
    aliases = ("asr",)
    headline_metrics = ("wer", "cer")
    runner_defaults = {"max_batch_samples": 160 * 16000}

    def speed_baselines(self, model: Any, inputs: Sequence[Any], names: Sequence[str]) -> list[Any]:
        return _faster_whisper_baselines(model, inputs, names)

    def read(self, model: Any, x: Any) -> Any:
        if isinstance(x, (str, os.PathLike)) and Path(x).is_file():
            stream_s = float(model.card.params.get("stream_s", 120.0))
            meta = zaudio.info(x)
            if meta.duration_s > stream_s:
                n = int(meta.num_frames * model.card.sample_rate / meta.sample_rate)
                return LongAudio(os.fspath(x), model.card.sample_rate, n, os.fspath(x))
        return zaudio.load(x, model.card.sample_rate)

    def align(self, model: Any, utterances: Sequence[Any]) -> Any:
        """Force-align transcripts with a CTC model: yields ``(utterance, [Word])`` per utterance.

        ``utterances`` carry ``path`` and ``text`` (as the ``transcribed-speech``
        dataset yields them). Other plugins use this through ``zoo.load``:
        ``m = zoo.load("asr-wav2vec2-bert"); m.task.align(m, utts)``.
        """
        from .align import align_corpus

        if _kind(model.net) != "ctc":
            raise TypeError(f"{model.name} is not a CTC model; forced alignment needs CTC log-probabilities")
        return align_corpus(model.net, utterances)

    def preprocess(self, model: Any, item: Any) -> list[Chunk]:
        net, rate = model.net, model.card.sample_rate
        total = item.num_samples
        if _kind(net) == "ctc":
            chunk = int(float(model.card.params.get("chunk_s", 20.0)) * rate)
            context = int(float(model.card.params.get("context_s", 2.0)) * rate)
            spans = plan_chunks(total, chunk, context, align=net.frame_samples)
        else:
            window_s = getattr(net, "window_s", None)
            context = int(float(getattr(net, "context_s", 0.0)) * rate)
            spans = plan_chunks(total, int(window_s * rate) if window_s else max(total, 1), context)
        wav = None if isinstance(item, LongAudio) else item.mono()
        minimum = int(MIN_SAMPLES_S * rate)
        chunks = []
        for span in spans:
            length = max(span.end - span.start, minimum)
            if wav is not None:
                data = _pad_to(wav[span.start : span.end], length)
                chunks.append(Chunk(data, length, {"span": span}))
            else:
                loader = lambda s=span, n=length: _pad_to(item.segment(s.start, s.end), n)
                chunks.append(Chunk(None, length, {"span": span}, loader=loader))
        return chunks

    def forward(self, model: Any, batch: dict[str, torch.Tensor]) -> list[Any]:
        net = model.net
        if _kind(net) == "ctc":
            return net.log_probs(batch["inputs"], batch["lengths"])
        return list(net.transcribe(batch["inputs"], batch["lengths"], model.card.sample_rate))

    def postprocess(self, model: Any, item: Any, chunks: Sequence[Chunk], outputs: Sequence[Any]) -> Transcript:
        net, rate = model.net, model.card.sample_rate
        if _kind(net) == "ctc":
            kept = [_kept_frames(lp, c.meta["span"], net.frame_samples) for c, lp in zip(chunks, outputs)]
            text, words = net.decode(torch.cat(kept) if kept else torch.zeros(0, 1))
        else:
            texts, words = [], []
            for chunk, (chunk_text, chunk_words) in zip(chunks, outputs):
                span = chunk.meta["span"]
                offset = span.start / rate
                shifted = [Word(w.text, w.start_s + offset, w.end_s + offset, w.score) for w in chunk_words]
                if span.keep_start > span.start or span.keep_end < span.end:
                    # overlapping windows: a word belongs to the window whose kept span holds its midpoint
                    lo, hi = span.keep_start / rate, span.keep_end / rate
                    shifted = [w for w in shifted if lo <= (w.start_s + w.end_s) / 2 < hi]
                    chunk_text = " ".join(w.text for w in shifted)
                if chunk_text:
                    texts.append(chunk_text)
                words += shifted
            text = " ".join(texts)
        return Transcript(source=item.source, text=text.strip(), words=tuple(words), language="en")


def _faster_whisper_baselines(model: Any, inputs: Sequence[Any], names: Sequence[str]) -> list[Any]:
    """faster-whisper (CTranslate2, int8) on the same files: per file, and its batched pipeline.

    Both decode in English without timestamps or VAD at the card's beam width
    (``num_beams``, greedy by default), as the zoo does; the CTranslate2 model is
    the one the card's package ships (``ct2-whisper`` cards only).
    """
    from zoo.bench.timing import Contestant
    from zoo.weights import resolve

    wanted = [n for n in names if n.startswith("faster-whisper")]
    if not wanted or model.card.architecture != "ct2-whisper":
        return []
    box: list[Any] = []
    threads = torch.get_num_threads()
    beams = int(getattr(model.net, "num_beams", 1))
    options = {"beam_size": beams, "language": "en", "without_timestamps": True, "vad_filter": False}

    def setup() -> None:
        if not box:
            from faster_whisper import BatchedInferencePipeline, WhisperModel

            fw = WhisperModel(str(resolve(model.card)), device="cpu", compute_type="int8", cpu_threads=threads)
            box.extend([fw, BatchedInferencePipeline(fw)])

    def per_file() -> list[float]:
        lat = []
        for path in inputs:
            t0 = time.perf_counter()
            segments, _ = box[0].transcribe(path, temperature=0.0, **options)
            " ".join(s.text for s in segments)  # segments are generated lazily
            lat.append(time.perf_counter() - t0)
        return lat

    def batched() -> list[float]:
        lat = []
        for path in inputs:  # the batched pipeline batches the VAD segments of one file
            t0 = time.perf_counter()
            segments, _ = box[1].transcribe(path, batch_size=8, **options)
            " ".join(s.text for s in segments)
            lat.append(time.perf_counter() - t0)
        return lat

    runs = {"faster-whisper": per_file, "faster-whisper-batched": batched}
    return [Contestant(name, runs[name], setup) for name in wanted if name in runs]


def _kind(net: Any) -> str:
    return getattr(net, "kind", "seq2seq")


def _pad_to(x: torch.Tensor, n: int) -> torch.Tensor:
    return x if x.numel() >= n else torch.nn.functional.pad(x, (0, n - x.numel()))


def _kept_frames(log_probs: torch.Tensor, span: Span, frame_samples: int) -> torch.Tensor:
    """The frames of one window that fall in its kept span (frames tile the input exactly)."""
    first = (span.keep_start - span.start) // frame_samples
    last = -(-(span.keep_end - span.start) // frame_samples)  # ceil
    return log_probs[first:last]
