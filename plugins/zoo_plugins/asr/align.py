"""Forced alignment: where each word of a known transcript lies in a recording.

A CTC model's frame log-probabilities and the transcript's token sequence go
through Viterbi alignment (``torchaudio.functional.forced_align``). Even a model
that transcribes poorly places known words well, because it only has to choose
*when* each token happens, not *which* token. Other tasks use this to cut real
words out of read speech (the keyword-spotting recipe mines keywords and
``_unknown_`` words this way).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import torch

from zoo.results import Word

from .data import Utterance
from .decoders import CTCVocab

__all__ = ["align_corpus", "align_words", "transcript_tokens"]


def transcript_tokens(text: str, vocab: CTCVocab) -> list[list[int]]:
    """Token ids of each word of a normalised transcript (words the vocabulary cannot spell are ``[]``).

    Character models spell words letter by letter; phone models use each
    word's first CMU-dictionary pronunciation.
    """
    if vocab.units == "phones":
        from .cmudict import phonemize

        phone_index = {tok: i for i, tok in enumerate(vocab.tokens)}
        prons = phonemize(text, unknown="")
        return [[phone_index[p] for p in pron] if all(p in phone_index for p in pron) else [] for pron in prons]
    index = {tok.lower(): i for i, tok in enumerate(vocab.tokens) if len(tok) == 1 and i != vocab.delimiter}
    out = []
    for word in text.split():
        ids = [index.get(ch) for ch in word]
        out.append([] if None in ids else ids)  # type: ignore[misc]
    return out


def align_words(log_probs: torch.Tensor, text: str, vocab: CTCVocab, frame_s: float) -> list[Word]:
    """One :class:`Word` per word of ``text``: start/end seconds and mean token probability.

    ``log_probs`` is ``(frames, vocab)`` for one recording. Returns ``[]`` when
    the transcript cannot be aligned (a character outside the vocabulary, or
    more tokens than the recording has frames).
    """
    from torchaudio.functional import forced_align, merge_tokens

    words = text.split()
    per_word = transcript_tokens(text, vocab)
    if not words or any(not ids for ids in per_word):
        return []
    targets: list[int] = []
    for k, ids in enumerate(per_word):
        if k and vocab.delimiter is not None:
            targets.append(vocab.delimiter)
        targets.extend(ids)
    repeats = sum(a == b for a, b in zip(targets, targets[1:]))
    if len(targets) + repeats > log_probs.shape[0]:
        return []
    path, scores = forced_align(
        log_probs[None].float().contiguous(), torch.tensor([targets], dtype=torch.int32), blank=vocab.blank
    )
    spans = merge_tokens(path[0], scores[0].exp())
    if len(spans) != len(targets):
        return []
    out, pos = [], 0
    for k, (word, ids) in enumerate(zip(words, per_word)):
        if k and vocab.delimiter is not None:
            pos += 1  # the delimiter's span
        mine = spans[pos : pos + len(ids)]
        pos += len(ids)
        out.append(
            Word(
                word,
                round(mine[0].start * frame_s, 3),
                round(mine[-1].end * frame_s, 3),
                round(sum(s.score for s in mine) / len(mine), 4),
            )
        )
    return out


def align_corpus(
    net, utterances: Sequence[Utterance], batch_seconds: float = 120.0
) -> Iterator[tuple[Utterance, list[Word]]]:
    """Align every utterance with a loaded CTC net (``zoo.load(...).net``); yields ``(utterance, words)``."""
    from zoo import audio as zaudio

    rate = net.sample_rate
    batch: list[tuple[Utterance, torch.Tensor]] = []

    def flush() -> Iterator[tuple[Utterance, list[Word]]]:
        waves = [w for _, w in batch]
        lengths = torch.tensor([w.numel() for w in waves])
        padded = torch.nn.utils.rnn.pad_sequence(waves, batch_first=True)
        with torch.inference_mode():
            rows = net.log_probs(padded, lengths)
        for (utt, _), lp in zip(batch, rows):
            yield utt, align_words(lp, utt.text, net.vocab, net.frame_s)
        batch.clear()

    total = 0
    for utt in utterances:
        try:
            wav = zaudio.load(utt.path, rate).mono()
        except Exception:  # noqa: BLE001 - an unreadable file is skipped, not fatal
            yield utt, []
            continue
        if total + wav.numel() > batch_seconds * rate and batch:
            yield from flush()
            total = 0
        batch.append((utt, wav))
        total += wav.numel()
    if batch:
        yield from flush()
