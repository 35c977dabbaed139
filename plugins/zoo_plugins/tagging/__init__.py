"""Sound tagging and audio captioning on a pretrained audio encoder.

Registers the ``audio-tagging`` task (:class:`Tags`: top tag, scores, tags
above a threshold, per-window segments of long recordings) and the
``audio-captioning`` task (:class:`Caption`), their architectures (small heads
on the frozen encoder of another zoo model, named by the card's
``params.backbone`` and loaded through :func:`zoo.load`), the ESC-50 datasets
and metrics, and the recipes (imported only by ``zoo train``).
"""

from __future__ import annotations

import zoo

from .. import register_catalogue
from .caption_task import AudioCaptioning
from .results import Caption, Tags, TagSegment
from .task import AudioTagging

__all__ = ["AudioCaptioning", "AudioTagging", "Caption", "TagSegment", "Tags"]


@zoo.hookimpl
def register_tasks(register):
    register(AudioTagging())
    register(AudioCaptioning())


@zoo.hookimpl
def register_architectures(register):
    # a pooling head (trained here) on a frozen encoder: any zoo model whose net has encode()
    register("encoder-tagger", _load_tagger, task=AudioTagging.name)
    # a small GPT-2 decoder (trained here) cross-attending to a frozen encoder's features
    register("encoder-captioner", _load_captioner, task=AudioCaptioning.name)


@zoo.hookimpl
def register_models(register):
    # tag-whisper-tiny-esc50, caption-whisper-tiny-esc50: their cards are in the catalogue (registry.yaml)
    register_catalogue(register, [AudioTagging.name, AudioCaptioning.name])


@zoo.hookimpl
def register_datasets(register):
    from .data import esc50, esc50_heldout

    # any folder in the ESC-50 layout (labels.csv + audio/): `zoo bench --data esc50=DIR`
    register("esc50", esc50, task=AudioTagging.name)
    # the source recordings of esc50-dev the shipped taggers never trained on (one fold of five)
    register("esc50-dev-heldout", esc50_heldout, task=AudioTagging.name)


@zoo.hookimpl
def register_metrics(register):
    from .metrics import caption_metrics, tagging_metrics

    register("tagging", tagging_metrics, task=AudioTagging.name)
    # scored on the tagging datasets: does the caption name the clip's sound; BLEU-4 / CIDEr-D vs grammar captions
    register("captioning", caption_metrics, task=AudioCaptioning.name)


@zoo.hookimpl
def register_recipes(register):
    from zoo.train.recipe import lazy

    register("tag-whisper-tiny-esc50", lazy("zoo_plugins.tagging.training.recipe"))
    register("caption-whisper-tiny-esc50", lazy("zoo_plugins.tagging.training.caption_recipe"))


def _load_tagger(*args):
    from .arch import load_tagger

    return load_tagger(*args)


def _load_captioner(*args):
    from .captioner import load_captioner

    return load_captioner(*args)
