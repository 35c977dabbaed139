"""The music tokenizer: round trips, the allowed-token mask, and exact frame likelihoods."""

from __future__ import annotations

import itertools
import math

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from zoo_plugins.music import tokenizer as tok

frames_st = st.lists(st.lists(st.integers(0, 127), max_size=6), max_size=30)


@given(frames_st)
def test_round_trip(frames):
    """decode(encode(frames)) gives each frame's distinct pitches, ascending."""
    assert tok.decode(tok.encode(frames)) == [sorted(set(f)) for f in frames]


@given(frames_st)
def test_encoding_is_always_allowed(frames):
    """Every token of an encoded piece is allowed by the mask after its prefix."""
    tokens = torch.tensor(tok.encode(frames))
    mask = tok.allowed_mask(tokens[:-1])
    assert bool(mask[torch.arange(len(tokens) - 1), tokens[1:]].all())


@given(frames_st, st.integers(-12, 12))
def test_transpose(frames, k):
    """Transposition moves every pitch, or refuses to leave 0-127."""
    if any(not 0 <= p + k < 128 for f in frames for p in f):
        with pytest.raises(ValueError):
            tok.transpose(frames, k)
    else:
        assert tok.transpose(frames, k) == [[p + k for p in f] for f in frames]


def test_mask_rules():
    """After a pitch only higher pitches or EOF; PAD and BOS never; a fresh frame may be empty."""
    m = tok.allowed_mask(torch.tensor([tok.BOS, tok.pitch_token(60), tok.EOF]))
    assert m[0, tok.EOF] and m[0, tok.pitch_token(0)] and not m[0, tok.PAD] and not m[0, tok.BOS]
    assert not m[1, tok.pitch_token(60)] and not m[1, tok.pitch_token(59)] and m[1, tok.pitch_token(61)]
    assert m[2].sum() == tok.NUM_PITCHES + 1


def test_bad_pitch():
    """A pitch outside 0-127 is refused with the pitch named."""
    with pytest.raises(ValueError, match="128"):
        tok.encode([[60, 128]])


def _toy_logits(tokens: torch.Tensor) -> torch.Tensor:
    """A deterministic 'model': logits depend on the last token only, over a vocabulary of 5 pitches + specials."""
    g = torch.Generator().manual_seed(0)
    table = torch.randn(tok.VOCAB_SIZE, tok.VOCAB_SIZE, generator=g)
    return table[tokens]


def test_frame_probabilities_sum_to_one():
    """With the mask, the probabilities of all frames over a small pitch set sum to 1: the likelihood is exact."""
    pitches = [60, 62, 64, 65, 67]
    # restrict the toy model to these pitches by masking the others away too
    others = torch.ones(tok.VOCAB_SIZE, dtype=torch.bool)
    for p in pitches:
        others[tok.pitch_token(p)] = False
    others[tok.EOF] = False
    total = 0.0
    for r in range(len(pitches) + 1):
        for chord in itertools.combinations(pitches, r):
            tokens = torch.tensor(tok.encode([list(chord)]))
            logits = _toy_logits(tokens[:-1]).masked_fill(others, float("-inf"))
            logp = tok.masked_log_softmax(logits, tokens[:-1])
            total += math.exp(float(tok.frame_log_probs(logp, tokens).sum()))
    assert total == pytest.approx(1.0, abs=1e-6)


def test_frame_log_probs_sum_tokens():
    """A piece's frame log-probs add up to the sum of its token log-probs, one value per frame."""
    frames = [[60, 64, 67], [], [62, 65], [59]]
    tokens = torch.tensor(tok.encode(frames))
    logp = tok.masked_log_softmax(_toy_logits(tokens[:-1]), tokens[:-1])
    per_frame = tok.frame_log_probs(logp, tokens)
    token_lp = logp.gather(-1, tokens[1:, None]).squeeze(-1)
    assert per_frame.shape == (4,)
    assert float(per_frame.sum()) == pytest.approx(float(token_lp.sum()), rel=1e-6)
    # the empty frame is just its EOF
    assert float(per_frame[1]) == pytest.approx(float(token_lp[4]), rel=1e-6)


def test_harmony_dedupe_finds_transposed_copies():
    """A held-out chorale in another key is removed from the extra data; a different chorale is kept."""
    from zoo_plugins.music.training.corpus import dedupe

    held = [
        [[48, 55, 64, 72], [50, 57, 65, 74], [52, 55, 64, 72], [43, 55, 62, 71], [45, 57, 64, 72], [41, 57, 65, 72]]
    ]
    copy = [[p + 3 for p in f] for f in held[0]]
    other = [[48, 52, 55, 60], [47, 55, 62, 67], [45, 57, 60, 64], [41, 53, 60, 69], [43, 55, 59, 62], [36, 52, 55, 60]]
    keep, removed = dedupe([copy, other], held)
    assert keep == [1] and [r[0] for r in removed] == [0]


def test_jsb_splits():
    """The JSB folder has the standard 229/76/77 split on a quarter-note grid (skips without the shared data)."""
    from zoo_plugins.music.data import jsb_test, load_jsb

    from tests.conftest import data_dir

    root = data_dir("jsb-chorales")
    assert [len(load_jsb(root, s)) for s in ("train", "valid", "test")] == [229, 76, 77]
    first = next(iter(jsb_test(root)))
    assert first.name == "jsb-test-000" and first.path == [list(f) for f in first.frames]
