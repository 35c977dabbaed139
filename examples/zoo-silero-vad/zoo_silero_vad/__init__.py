"""Audio Zoo plugin: the ``voice-activity-detection`` task and the ``vad-silero`` model.

>>> import zoo
>>> r = zoo.load("vad-silero")("speech.wav")              # doctest: +SKIP
>>> [(s.start_s, s.end_s) for s in r.segments]             # doctest: +SKIP
[(0.21, 2.86)]
"""

from __future__ import annotations

from pathlib import Path

import zoo

from .net import SileroVAD, load_silero_vad
from .task import Segment, SpeechSegments, VoiceActivityDetection, probs_to_segments

__all__ = ["Segment", "SileroVAD", "SpeechSegments", "VoiceActivityDetection", "probs_to_segments"]

HERE = Path(__file__).parent

ENTRY = {
    "task": VoiceActivityDetection.name,
    "architecture": "silero-vad-onnx",
    "default": True,
    "description": "Silero VAD v6 (ONNX, 16 kHz sequence export) run with onnxruntime on the CPU",
    "weights": {"package": "silero_vad", "subfolder": "data"},
    "sample_rate": 16000,
    "license": "MIT (Silero VAD code and weights)",
    "provenance": {
        "source": "silero_vad/data/silero_vad_16k_sequence.onnx from the silero-vad wheel on PyPI",
        "upstream": "https://github.com/snakers4/silero-vad",
        "trained_on": "Silero's own multi-domain speech and noise corpora (not published)",
    },
    "params": {
        "onnx": "silero_vad_16k_sequence.onnx",
        "threshold": 0.5,
        "neg_threshold": 0.35,
        "min_speech_s": 0.25,
        "min_silence_s": 0.1,
        "pad_s": 0.03,
        "threads": 1,
    },
    "tags": ["cpu", "onnx", "multilingual"],
}


@zoo.hookimpl
def register_tasks(register):
    register(VoiceActivityDetection())


@zoo.hookimpl
def register_architectures(register):
    register("silero-vad-onnx", load_silero_vad, task=VoiceActivityDetection.name)


@zoo.hookimpl
def register_models(register):
    register("vad-silero", ENTRY, base_dir=HERE)
