"""Source separation: split a mixture into its voices, with separators from asteroid trained here.

Registers the ``source-separation`` task (:class:`Separated`: ``sources``
``(n_sources, samples)`` at ``sample_rate``; long recordings in overlapping
windows whose sources are kept in a consistent order), the ``asteroid``
architecture (an allow-listed asteroid model stored as ``config.json`` +
``model.safetensors``), the mixture datasets, the SI-SDR metrics and the
training recipe (imported only by ``zoo train``).
"""

from __future__ import annotations

import zoo

from .. import register_catalogue
from .results import Separated
from .task import SourceSeparation

__all__ = ["Separated", "SourceSeparation"]


@zoo.hookimpl
def register_tasks(register):
    register(SourceSeparation())


@zoo.hookimpl
def register_architectures(register):
    # ConvTasNet, DPRNNTasNet, SuDORMRF(Improved)Net ... from config.json's asteroid_class
    register("asteroid", _load_separator, task=SourceSeparation.name)
    register("onnx-enhancer", _load_enhancer, task=SourceSeparation.name)


@zoo.hookimpl
def register_models(register):
    # sep-sudormrf-8k: its card is in the catalogue (registry.yaml)
    register_catalogue(register, [SourceSeparation.name])


@zoo.hookimpl
def register_datasets(register):
    from .data import heldout_mixtures, mixtures
    from .enhance_data import noisy_speech_heldout

    # any folder of mixtures (NNN/mix.wav + s1.wav, s2.wav ...): `zoo bench --data mixtures=DIR`
    register("mixtures", mixtures, task=SourceSeparation.name)
    # 100 mixtures of two speakers the shipped separators never trained on, written once into the zoo cache
    register("separation-heldout", heldout_mixtures, task=SourceSeparation.name)
    register("noisy-speech-heldout", noisy_speech_heldout, task=SourceSeparation.name)


@zoo.hookimpl
def register_metrics(register):
    from .metrics import separation_metrics

    register("separation", separation_metrics, task=SourceSeparation.name)


@zoo.hookimpl
def register_recipes(register):
    from zoo.train.recipe import lazy

    register("sep-sudormrf-8k", lazy("zoo_plugins.separation.training.recipe"))


def _load_separator(*args):
    from .arch import load_separator

    return load_separator(*args)


def _load_enhancer(*args):
    from .enhance import load_enhancer

    return load_enhancer(*args)
