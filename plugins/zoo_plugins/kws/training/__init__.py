"""Training for keyword spotting, imported only by ``zoo train`` (never when the zoo loads).

- :mod:`.config`: :class:`RecipeConfig` and where checkpoints come from (zoo models by name).
- :mod:`.pools`: the clip pools (synthetic, real, mined, noise) and the batch augmenter.
- :mod:`.mining`: words cut out of read speech, aligned through the speech-recognition task.
- :mod:`.distill`: speech-embedding feature distillation pieces.
- :mod:`.recipe` (``kws-wav2vec2``), :mod:`.embedding_recipe` (``kws-speech-embedding``),
  :mod:`.encoder_distill` (``kws-encoder-distill``): the recipes.
- :mod:`.make_examples`: the demo clips shipped in ``examples/``.
"""
