"""The frame language model: exact scoring and seeded, batched sampling.

:class:`FrameLM` wraps a ``transformers`` causal LM over the tokens of
:mod:`.tokenizer`. Every next-token distribution is masked with
:func:`~.tokenizer.allowed_mask`, in training, scoring and sampling alike,
so a frame's probability is exact. Sampling draws each item's randomness from
its own ``torch.Generator``, so item ``i`` with seed ``s`` gives the same
frames whatever batch it runs in.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from . import tokenizer as tok

__all__ = ["FrameLM", "SampleConfig", "llama_config", "token_nll"]


def llama_config(hidden: int = 192, layers: int = 6, heads: int = 4, ff: int = 512, context: int = 1024, dropout=0.1):
    """A small Llama configuration over the frame vocabulary."""
    from transformers import LlamaConfig

    return LlamaConfig(
        vocab_size=tok.VOCAB_SIZE,
        hidden_size=hidden,
        intermediate_size=ff,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        num_key_value_heads=heads,
        max_position_embeddings=context,
        attention_dropout=dropout,
        pad_token_id=tok.PAD,
        bos_token_id=tok.BOS,
        eos_token_id=tok.EOF,
        tie_word_embeddings=True,
        rope_theta=10000.0,
    )


def token_nll(logits: torch.Tensor, tokens: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
    """Masked next-token NLL per position ``(B, T-1)``; positions past ``lengths`` are 0.

    ``logits`` ``(B, T, V)`` come from the model on ``tokens`` ``(B, T)``.
    """
    logp = tok.masked_log_softmax(logits[:, :-1], tokens[:, :-1])
    nll = -logp.gather(-1, tokens[:, 1:].unsqueeze(-1)).squeeze(-1)
    if lengths is not None:
        keep = torch.arange(tokens.shape[1] - 1, device=tokens.device) < (lengths.unsqueeze(1) - 1)
        nll = nll.masked_fill(~keep, 0.0)
    return nll


@dataclass(frozen=True)
class SampleConfig:
    """How frames are sampled: temperature, nucleus ``top_p``, at most ``max_notes`` per frame."""

    temperature: float = 1.0
    top_p: float = 1.0
    max_notes: int = 6


class FrameLM(torch.nn.Module):
    """A causal LM over frame tokens, with exact scoring and per-seed sampling.

    >>> lm = FrameLM.random(hidden=32, layers=1, heads=2, ff=64)
    >>> frames = lm.sample([[[60, 64, 67]]], frames=4, seeds=[0])[0]
    >>> len(frames)
    5
    """

    def __init__(self, net: torch.nn.Module) -> None:
        super().__init__()
        self.net = net

    @classmethod
    def random(cls, seed: int = 0, **config) -> FrameLM:
        """A randomly initialised model (tests, pilots)."""
        from transformers import LlamaForCausalLM

        torch.manual_seed(seed)
        return cls(LlamaForCausalLM(llama_config(**config)).eval())

    @classmethod
    def from_pretrained(cls, path, device="cpu", dtype=torch.float32) -> FrameLM:
        from transformers import AutoModelForCausalLM

        net = AutoModelForCausalLM.from_pretrained(str(path), dtype=dtype)
        return cls(net.to(device).eval())

    @property
    def context(self) -> int:
        return int(self.net.config.max_position_embeddings)

    @property
    def device(self) -> torch.device:
        return next(self.net.parameters()).device

    def logits(self, tokens: torch.Tensor, attention_mask: torch.Tensor | None = None) -> torch.Tensor:
        return self.net(input_ids=tokens, attention_mask=attention_mask).logits

    # ------------------------------------------------------------ scoring
    @torch.inference_mode()
    def frame_nll(self, frames: Sequence[Sequence[int]]) -> torch.Tensor:
        """Negative log-likelihood (nats) of each frame given the earlier frames: ``(len(frames),)``.

        Pieces longer than the context are scored in overlapping windows, each
        token seen with at least half a context of history.
        """
        tokens = torch.tensor(tok.encode(frames), device=self.device)
        n = tokens.shape[0]
        nll = torch.zeros(n - 1, dtype=torch.float32)
        window = self.context
        start, done = 0, 0  # done: how many targets (tokens[1:]) are already scored
        while done < n - 1:
            piece = tokens[start : start + window]
            out = token_nll(self.logits(piece[None]), piece[None])[0].float().cpu()
            skip = done - start  # targets in this window already scored
            nll[done : start + out.shape[0]] = out[skip:]
            done = start + out.shape[0]
            start = max(done - window // 2, 0)
        # sum per frame: a frame's tokens are its pitches and its EOF
        targets = tokens[1:].cpu()
        ends = targets == tok.EOF
        frame_id = torch.cumsum(ends.long(), 0) - ends.long()
        out = torch.zeros(int(ends.sum()))
        return out.index_add(0, frame_id, nll)

    def score(self, frames: Sequence[Sequence[int]]) -> float:
        """Mean NLL in nats per time step (frame) of a chorale."""
        return float(self.frame_nll(frames).mean())

    # ------------------------------------------------------------ sampling
    @torch.inference_mode()
    def sample(
        self,
        prompts: Sequence[Sequence[Sequence[int]]],
        frames: int | Sequence[int],
        seeds: Sequence[int],
        config: SampleConfig = SampleConfig(),
    ) -> list[list[list[int]]]:
        """Continue each prompt (a list of frames, possibly empty) by ``frames`` new frames.

        Returns prompt + continuation per item. Item ``i``'s random draws come
        only from ``torch.Generator().manual_seed(seeds[i])``.
        """
        b = len(prompts)
        want = [frames] * b if isinstance(frames, int) else list(frames)
        gens = [torch.Generator().manual_seed(int(s)) for s in seeds]
        # keep the last frames of each prompt so generation fits the context
        budget = self.context // 2
        seqs: list[list[int]] = []
        for p in prompts:
            p = [list(f) for f in p]
            while p and len(tok.encode(p)) > budget:
                p = p[1:]
            seqs.append(tok.encode(p))
        done_frames = [0] * b
        floor = torch.full((b,), -1)  # highest pitch so far in the current frame
        notes = torch.zeros(b, dtype=torch.long)
        cache, mask, positions, last = self._prefill(seqs)
        pitches = torch.arange(tok.NUM_PITCHES)
        while min(d - w for d, w in zip(done_frames, want)) < 0:
            logits = last.float().cpu()
            allowed = torch.zeros(b, tok.VOCAB_SIZE, dtype=torch.bool)
            allowed[:, tok.EOF] = True
            allowed[:, tok.PITCH0 :] = (pitches[None] > floor[:, None]) & (notes < config.max_notes)[:, None]
            logits = logits.masked_fill(~allowed, float("-inf")) / max(config.temperature, 1e-5)
            probs = torch.softmax(logits.double(), -1)
            if config.top_p < 1.0:
                probs = _nucleus(probs, config.top_p)
            nxt = torch.stack([torch.multinomial(probs[i], 1, generator=gens[i])[0] for i in range(b)])
            for i in range(b):
                t = int(nxt[i])
                if done_frames[i] < want[i]:
                    seqs[i].append(t)
                if t == tok.EOF:
                    done_frames[i] += 1
                    floor[i], notes[i] = -1, 0
                else:
                    floor[i], notes[i] = tok.token_pitch(t), notes[i] + 1
            if int(positions.max()) + 1 >= self.context:
                # out of context: start again from the last half-context of each sequence
                tail = [tok.encode(tok.decode(s)[-max(1, len(tok.decode(s)) // 2) :], bos=True) for s in seqs]
                tail = [t + _open_frame(s) for t, s in zip(tail, seqs)]
                cache, mask, positions, last = self._prefill(tail)
                continue
            step = nxt.to(self.device)[:, None]
            mask = torch.cat([mask, torch.ones_like(step)], 1)
            positions = positions + 1
            out = self.net(
                input_ids=step,
                attention_mask=mask,
                position_ids=positions[:, None],
                use_cache=True,
                **{_cache_name(): cache},
            )
            cache, last = getattr(out, _cache_name()), out.logits[:, -1]
        return [tok.decode(s) for s in seqs]

    def _prefill(self, seqs: list[list[int]]):
        """Left-padded forward over the prompts; returns cache, mask, last positions, last logits."""
        length = max(len(s) for s in seqs)
        ids = torch.full((len(seqs), length), tok.PAD, dtype=torch.long)
        mask = torch.zeros((len(seqs), length), dtype=torch.long)
        for i, s in enumerate(seqs):
            ids[i, length - len(s) :] = torch.tensor(s)
            mask[i, length - len(s) :] = 1
        position_ids = (mask.cumsum(1) - 1).clamp(min=0)
        ids, mask, position_ids = ids.to(self.device), mask.to(self.device), position_ids.to(self.device)
        out = self.net(input_ids=ids, attention_mask=mask, position_ids=position_ids, use_cache=True)
        return getattr(out, _cache_name()), mask, position_ids[:, -1], out.logits[:, -1]


@functools.lru_cache(maxsize=1)
def _cache_name() -> str:
    """``cache`` in newer transformers, ``past_key_values`` before (the same KV cache)."""
    import inspect

    from transformers import LlamaForCausalLM

    return "cache" if "cache" in inspect.signature(LlamaForCausalLM.forward).parameters else "past_key_values"


def _open_frame(tokens: list[int]) -> list[int]:
    """The pitches of an unfinished last frame (tokens after the last EOF)."""
    tail: list[int] = []
    for t in reversed(tokens):
        if not tok.is_pitch(t):
            break
        tail.append(t)
    return tail[::-1]


def _nucleus(probs: torch.Tensor, top_p: float) -> torch.Tensor:
    sorted_p, order = probs.sort(-1, descending=True)
    keep = sorted_p.cumsum(-1) - sorted_p < top_p
    sorted_p = sorted_p * keep
    out = torch.zeros_like(probs).scatter(-1, order, sorted_p)
    return out / out.sum(-1, keepdim=True)
