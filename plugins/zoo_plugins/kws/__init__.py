"""Keyword spotting: the 12-class Speech Commands task, its architectures and recipe."""

from __future__ import annotations

from pathlib import Path

import zoo

from .. import register_catalogue
from .arch import load_hf_audio_classifier
from .task import LABELS, KeywordSpotting

__all__ = ["LABELS", "KeywordSpotting"]

HERE = Path(__file__).parent


@zoo.hookimpl
def register_tasks(register):
    register(KeywordSpotting())


@zoo.hookimpl
def register_architectures(register):
    # Any transformers audio classifier; the front end follows its preprocessor config.
    register("hf-audio-classifier", load_hf_audio_classifier, task=KeywordSpotting.name)
    # a trained head on Google's speech embedding (ONNX front end from the openwakeword wheel)
    register("speech-embedding-head", _load_speech_embedding, task=KeywordSpotting.name)
    # a trained head on the frozen Whisper encoder of another zoo model (params.backbone)
    register("whisper-kws-head", _load_whisper_kws, task=KeywordSpotting.name)


@zoo.hookimpl
def register_models(register):
    # kws-wav2vec2, kws-speech-embedding: their cards are in the catalogue (registry.yaml)
    register_catalogue(register, [KeywordSpotting.name])


@zoo.hookimpl
def register_datasets(register):
    from .data import speech_commands, speech_commands_heldout

    # any directory in the Speech Commands layout: `zoo bench --data speech-commands=DIR`
    register("speech-commands", speech_commands, task=KeywordSpotting.name)
    # the speaker-disjoint half of speech-commands-dev that kws-wav2vec2 never trained on
    register("speech-commands-dev-heldout", speech_commands_heldout, task=KeywordSpotting.name)


@zoo.hookimpl
def register_metrics(register):
    from .metrics import classification_metrics

    register("classification", classification_metrics, task=KeywordSpotting.name)


def _load_speech_embedding(*args):
    from .speech_embedding import load_speech_embedding_classifier

    return load_speech_embedding_classifier(*args)


def _load_whisper_kws(*args):
    from .whisper_head import load_whisper_kws

    return load_whisper_kws(*args)


@zoo.hookimpl
def register_recipes(register):
    from zoo.train.recipe import lazy

    # training code lives in .training and is imported only when `zoo train` runs a recipe
    register("kws-wav2vec2", lazy("zoo_plugins.kws.training.recipe"))
    register("kws-speech-embedding", lazy("zoo_plugins.kws.training.embedding_recipe"))
    register("kws-whisper-tiny", lazy("zoo_plugins.kws.training.whisper_recipe"))
    # not a model: the speech-embedding-distilled encoder that `kws-wav2vec2 --encoder-from` can start from
    register("kws-encoder-distill", lazy("zoo_plugins.kws.training.encoder_distill"))
