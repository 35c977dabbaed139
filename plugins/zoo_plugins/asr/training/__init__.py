"""Training for speech recognition, imported only by ``zoo train`` (never when the zoo loads).

:mod:`.recipe` trains ``asr-wav2vec2-bert`` and ``asr-wav2vec2-bert-phones``.
"""
