"""Audio Zoo plugin: the ``asr-pocketsphinx`` model for the ``speech-recognition`` task.

The task itself comes from the zoo's built-in ``asr`` plugin; this plugin adds
an architecture (a PocketSphinx decoder) and a registry entry whose weights are
the CMU US-English models inside the ``pocketsphinx`` wheel.

>>> import zoo
>>> t = zoo.load("asr-pocketsphinx")("hello.wav")     # doctest: +SKIP
>>> t.text, t.words[0]                                 # doctest: +SKIP
('hello world', Word(text='hello', start_s=0.31, end_s=0.72, score=0.93))
"""

from __future__ import annotations

from pathlib import Path

import zoo

from .net import PocketSphinxNet, load_pocketsphinx, words_from_segments

__all__ = ["PocketSphinxNet", "load_pocketsphinx", "words_from_segments"]

HERE = Path(__file__).parent
TASK = "speech-recognition"

ENTRY = {
    "task": TASK,
    "architecture": "pocketsphinx",
    "description": "CMU PocketSphinx 5: generic US-English PTM acoustic model, 3-gram LM, CMUdict; CPU only",
    "weights": {"package": "pocketsphinx", "subfolder": "model/en-us"},
    "sample_rate": 16000,
    "license": "BSD-2-Clause (PocketSphinx code and the CMU US-English models shipped in its wheel)",
    "provenance": {
        "source": "pocketsphinx/model/en-us from the pocketsphinx wheel on PyPI",
        "upstream": "https://github.com/cmusphinx/pocketsphinx",
        "trained_on": "CMU Sphinx generic US-English acoustic model (sphinxtrain); CMU pronouncing dictionary",
    },
    "params": {"hmm": "en-us", "lm": "en-us.lm.bin", "dict": "cmudict-en-us.dict"},
    "tags": ["cpu", "english", "word-timings"],
}


@zoo.hookimpl
def register_architectures(register):
    register("pocketsphinx", load_pocketsphinx, task=TASK)


@zoo.hookimpl
def register_models(register):
    register("asr-pocketsphinx", ENTRY, base_dir=HERE)
