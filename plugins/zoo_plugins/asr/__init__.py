"""Speech recognition: the ``speech-recognition`` task (its models arrive with their own plugins)."""

from __future__ import annotations

import zoo

from .task import SpeechRecognition

__all__ = ["SpeechRecognition"]


@zoo.hookimpl
def register_tasks(register):
    register(SpeechRecognition())
