"""What a ``transformers`` user would run instead of the zoo's tagger, timed beside it by ``zoo bench``."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import torch

__all__ = ["hf_pipeline_baselines", "whisper_classifier"]

#: the baseline's name in a suite's ``baselines:``
NAME = "hf-audio-classification"


def whisper_classifier(model: Any) -> Any:
    """``WhisperForAudioClassification`` with the tagger's own encoder weights and labels (classifier untrained)."""
    from transformers import WhisperForAudioClassification

    whisper = model.net.encoder.net.model
    labels = dict(enumerate(model.net.labels))
    config = whisper.config.__class__(
        **{**whisper.config.to_dict(), "id2label": labels, "label2id": {v: k for k, v in labels.items()}}
    )
    classifier = WhisperForAudioClassification(config).eval()
    classifier.encoder.load_state_dict(whisper.model.encoder.state_dict())
    return classifier


def hf_pipeline_baselines(model: Any, inputs: Sequence[Any], names: Sequence[str]) -> list[Any]:
    """``hf-audio-classification-bN``: ``pipeline("audio-classification")`` on the tagger's own Whisper encoder.

    The model is ``transformers``' ``WhisperForAudioClassification`` holding the
    very encoder weights the zoo's tagger uses (its small classifier is left at
    its random init: this is a speed comparison), given the same files decoded
    with soundfile, at batch sizes 1 and 8. Like every Whisper model in
    ``transformers`` it pads each input to 30 s.
    """
    from zoo.bench.timing import Contestant

    backbone = getattr(getattr(model.net, "encoder", None), "net", None)
    if NAME not in names or not hasattr(backbone, "processor"):
        return []
    box: list[Any] = []

    def setup() -> None:
        if box:
            return
        from transformers import pipeline

        classifier = whisper_classifier(model)
        box.append(
            pipeline(
                "audio-classification",
                model=classifier,
                feature_extractor=backbone.processor.feature_extractor,
                device=-1,
            )
        )

    def contestant(batch_size: int) -> Contestant:
        def run() -> list[float]:
            import soundfile as sf

            t0 = time.perf_counter()
            # decoded with soundfile (the pipeline's own file reading needs an ffmpeg binary); the pipeline
            # resamples to 16 kHz itself
            arrays = []
            for path in inputs:
                wav, rate = sf.read(path, dtype="float32", always_2d=True)
                arrays.append({"raw": wav.mean(1), "sampling_rate": rate})
            with torch.inference_mode():
                box[0](arrays, batch_size=batch_size, top_k=1)
            return [time.perf_counter() - t0]

        return Contestant(f"{NAME}-b{batch_size}", run, setup)

    return [contestant(1), contestant(8)]
