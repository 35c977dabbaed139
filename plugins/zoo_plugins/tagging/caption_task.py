"""The audio-captioning task: a sentence saying what is heard."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from zoo import Chunk, Result, Task

from .results import Caption
from .task import window_spans

__all__ = ["AudioCaptioning"]


class AudioCaptioning(Task):
    """Caption a recording ("a dog barks while rain falls").

    The audio is encoded in ``window_s`` windows (5 s, as the captioners were
    trained); every ``stretch_windows`` (3) windows in a row are captioned
    together, so a recording of up to 15 s gets one sentence and a longer one
    a sentence per stretch, joined with ". ". Beam search takes ``beams`` (4)
    and ``length_penalty`` (1.0); ``prefix`` starts every caption with those
    words (they must be in the model's vocabulary). Digital silence (no sample
    above ``silence_db``, -80 dBFS) gets an empty caption.
    """

    name = "audio-captioning"
    result_type = Caption
    description = "Describe the sounds in a recording in a sentence"
    known_params = ("backbone", "window_s", "stretch_windows", "beams", "length_penalty", "prefix", "silence_db")
    aliases = ("captioning", "caption")
    headline_metrics = ("sound_named", "bleu_4", "cider_d")

    def preprocess(self, model: Any, item: Any) -> list[Chunk]:
        params = model.card.params
        rate = item.sample_rate
        window = int(float(params.get("window_s", 5.0)) * rate)
        wav = item.mono()
        silent = wav.numel() == 0 or float(wav.abs().max()) <= 10 ** (float(params.get("silence_db", -80.0)) / 20)
        # non-overlapping windows: the captioner was trained on events joined end to end
        spans = [(0, int(wav.numel()))] if silent else window_spans(int(wav.numel()), window, window)
        return [Chunk(wav[a:b], b - a, {"start_s": a / rate, "silent": silent}) for a, b in spans]

    def forward(self, model: Any, batch: dict[str, torch.Tensor]) -> list[torch.Tensor]:
        feats = model.net.encoder.net.encode(batch["inputs"], batch["lengths"], model.card.sample_rate)
        return [f.float().cpu() for f in feats]

    def postprocess(self, model: Any, item: Any, chunks: Sequence[Chunk], outputs: Sequence[torch.Tensor]) -> Result:
        if chunks[0].meta.get("silent"):
            return Caption(source=item.source, text="")
        params = model.card.params
        per = max(1, int(params.get("stretch_windows", 3)))
        texts = []
        with torch.inference_mode():
            for k in range(0, len(outputs), per):
                texts.append(
                    model.net.caption(
                        list(outputs[k : k + per]),
                        beams=int(params.get("beams", 4)),
                        length_penalty=float(params.get("length_penalty", 1.0)),
                        prefix=str(params.get("prefix", "")),
                    )
                )
        return Caption(source=item.source, text=". ".join(texts))
