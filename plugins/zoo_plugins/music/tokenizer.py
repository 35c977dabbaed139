"""Frame tokenization with an exact likelihood for each time step.

A chorale is a list of frames (one per quarter note), each the set of MIDI
pitches sounding then. A frame becomes its distinct pitches in ascending order
followed by an end-of-frame token ``EOF``; a piece starts with ``BOS``::

    [[60, 64, 67], [], [62]]  ->  BOS p60 p64 p67 EOF EOF p62 EOF

Because a set has exactly one ascending spelling, the probability a model gives
that token run *is* the probability of the set, provided the model puts no mass
on runs that spell nothing (a pitch not above the previous one in the frame).
:func:`allowed_mask` says which tokens may follow each prefix; applying it to
the logits before the softmax (training, scoring and sampling alike) makes the
token model a proper distribution over frames, so the negative log-likelihood
of a frame is the sum of its tokens' negative log-probabilities: exact, not a
bound.

>>> tokens = encode([[67, 60, 64], [], [62]])
>>> tokens
[1, 63, 67, 70, 2, 2, 65, 2]
>>> decode(tokens)
[[60, 64, 67], [], [62]]
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import torch

__all__ = [
    "BOS",
    "EOF",
    "NUM_PITCHES",
    "PAD",
    "PITCH0",
    "VOCAB_SIZE",
    "allowed_mask",
    "decode",
    "encode",
    "frame_ends",
    "frame_log_probs",
    "is_pitch",
    "masked_log_softmax",
    "pitch_token",
    "token_pitch",
    "transpose",
]

PAD, BOS, EOF = 0, 1, 2
PITCH0 = 3  #: token of MIDI pitch 0
NUM_PITCHES = 128
VOCAB_SIZE = PITCH0 + NUM_PITCHES

Frame = Sequence[int]


def pitch_token(pitch: int) -> int:
    """The token of MIDI ``pitch`` (0-127)."""
    if not 0 <= int(pitch) < NUM_PITCHES:
        raise ValueError(f"MIDI pitch {pitch} is outside 0-127")
    return PITCH0 + int(pitch)


def token_pitch(token: int) -> int:
    """The MIDI pitch of a pitch token."""
    return int(token) - PITCH0


def is_pitch(token: int) -> bool:
    return PITCH0 <= int(token) < VOCAB_SIZE


def encode(frames: Iterable[Frame], bos: bool = True) -> list[int]:
    """Tokens of ``frames``: each frame's distinct pitches ascending, then ``EOF``."""
    out = [BOS] if bos else []
    for frame in frames:
        out.extend(pitch_token(p) for p in sorted({int(p) for p in frame}))
        out.append(EOF)
    return out


def decode(tokens: Iterable[int]) -> list[list[int]]:
    """Frames of a token run; a trailing unfinished frame is dropped, PAD and BOS are skipped."""
    frames: list[list[int]] = []
    current: list[int] = []
    for t in tokens:
        t = int(t)
        if t == EOF:
            frames.append(current)
            current = []
        elif is_pitch(t):
            current.append(token_pitch(t))
    return frames


def transpose(frames: Iterable[Frame], semitones: int) -> list[list[int]]:
    """Every pitch moved by ``semitones``; raises if one leaves 0-127."""
    out = [[int(p) + semitones for p in f] for f in frames]
    for f in out:
        for p in f:
            if not 0 <= p < NUM_PITCHES:
                raise ValueError(f"transposing by {semitones} puts pitch {p} outside 0-127")
    return out


def allowed_mask(tokens: torch.Tensor) -> torch.Tensor:
    """Which tokens may follow each prefix: ``(..., T) -> (..., T, VOCAB_SIZE)`` booleans.

    Row ``i`` is for the token after ``tokens[..., i]``: after a pitch, only
    higher pitches or ``EOF``; after ``BOS``/``EOF``, any pitch or ``EOF``.
    ``PAD`` and ``BOS`` are never predicted.

    >>> m = allowed_mask(torch.tensor([BOS, pitch_token(60)]))
    >>> bool(m[0, pitch_token(0)]), bool(m[1, pitch_token(60)]), bool(m[1, pitch_token(61)]), bool(m[1, EOF])
    (True, False, True, True)
    """
    tokens = torch.as_tensor(tokens)
    floor = torch.where(tokens >= PITCH0, tokens - PITCH0, torch.full_like(tokens, -1))
    pitches = torch.arange(NUM_PITCHES, device=tokens.device)
    pitch_ok = pitches > floor.unsqueeze(-1)
    special = torch.zeros((*tokens.shape, PITCH0), dtype=torch.bool, device=tokens.device)
    special[..., EOF] = True
    return torch.cat([special, pitch_ok], dim=-1)


def masked_log_softmax(logits: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
    """Log-probabilities over the next token with disallowed tokens at ``-inf``.

    ``logits`` is ``(..., T, V)`` for next-token prediction after ``tokens`` ``(..., T)``.
    """
    mask = allowed_mask(tokens)
    logits = logits.float().masked_fill(~mask, float("-inf"))
    return torch.log_softmax(logits, dim=-1)


def frame_ends(tokens: Sequence[int]) -> list[int]:
    """Indices of the ``EOF`` tokens (one per frame)."""
    return [i for i, t in enumerate(tokens) if int(t) == EOF]


def frame_log_probs(logp: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
    """Log-probability of each frame: sums of token log-probs per frame.

    ``logp`` is ``(T, V)`` from :func:`masked_log_softmax` on ``tokens[:-1]``
    (row ``i`` predicts ``tokens[i + 1]``); ``tokens`` ``(T + 1,)`` starts with
    ``BOS`` or a frame boundary. Returns ``(num_frames,)`` for the complete
    frames in ``tokens[1:]``.
    """
    tokens = torch.as_tensor(tokens)
    target = tokens[1:]
    token_lp = logp.gather(-1, target.unsqueeze(-1)).squeeze(-1)
    frame_id = torch.cumsum((target == EOF).long(), 0) - (target == EOF).long()
    n = int((target == EOF).sum())
    keep = frame_id < n
    out = torch.zeros(n, dtype=token_lp.dtype)
    return out.index_add(0, frame_id[keep], token_lp[keep])
