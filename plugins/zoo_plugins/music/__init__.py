"""Music generation: a frame language model over Bach chorales, with MIDI and audio out.

Registers the ``music-generation`` task, the ``frame-lm`` architecture (a
``transformers`` causal LM over :mod:`.tokenizer` tokens), the JSB Chorales
datasets and metrics, and the ``music-llama-bach`` recipe (imported only by
``zoo train``).
"""

from __future__ import annotations

import zoo

from .. import register_catalogue
from .task import Generated, MusicGeneration

__all__ = ["Generated", "MusicGeneration"]


@zoo.hookimpl
def register_tasks(register):
    register(MusicGeneration())


@zoo.hookimpl
def register_architectures(register):
    register("frame-lm", _load_frame_lm, task=MusicGeneration.name)


@zoo.hookimpl
def register_models(register):
    # music-llama-bach: its card is in the catalogue (registry.yaml)
    register_catalogue(register, [MusicGeneration.name])


@zoo.hookimpl
def register_datasets(register):
    from .data import jsb_test, jsb_valid

    # any folder holding jsb-chorales-quarter.json: `zoo bench --data jsb-chorales-test=DIR`
    register("jsb-chorales-test", jsb_test, task=MusicGeneration.name)
    register("jsb-chorales-valid", jsb_valid, task=MusicGeneration.name)


@zoo.hookimpl
def register_metrics(register):
    from .metrics import chorale_nll, style_statistics

    register("chorale-nll", chorale_nll, task=MusicGeneration.name)
    register("chorale-style", style_statistics, task=MusicGeneration.name)


@zoo.hookimpl
def register_recipes(register):
    register("music-llama-bach", _train)


def _load_frame_lm(card, weights_dir, device, dtype):
    from .lm import FrameLM

    return FrameLM.from_pretrained(weights_dir, device=device, dtype=dtype)


def _train(argv):
    from .training.recipe import main

    return main(argv)
