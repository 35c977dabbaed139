"""The captioner: a small ``transformers`` GPT-2 text decoder cross-attending to frozen encoder features.

Audio is encoded in windows (5 s) by the backbone named in the card's
``params.backbone`` (loaded through :func:`zoo.load`); each window's frames are
averaged ``pool`` at a time (50 Hz -> 12.5 Hz), projected to the decoder
width, and the windows of a stretch are joined in time order: the decoder's
memory. Words come from a closed word-level vocabulary (``config.json``);
decoding is beam search with a length penalty, optionally after a prefix.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import torch
from torch import nn

from zoo.errors import WeightsError

from .arch import pad_features

__all__ = ["CaptionNet", "load_captioner", "tokenize"]

PAD, BOS, EOS = "<pad>", "<bos>", "<eos>"


def tokenize(text: str) -> list[str]:
    """Lower-case words and commas, the captioner's units.

    >>> tokenize("A dog barks, then rain falls")
    ['a', 'dog', 'barks', ',', 'then', 'rain', 'falls']
    """
    return re.findall(r"[a-z']+|,", text.lower())


def detokenize(words: list[str]) -> str:
    return " ".join(words).replace(" ,", ",")


class CaptionNet(nn.Module):
    """Frame features of the windows of a stretch -> a caption (the decoder is a ``GPT2LMHeadModel``)."""

    def __init__(self, vocab: list[str], dim: int, width: int = 192, layers: int = 2, heads: int = 4, pool: int = 8):
        super().__init__()
        from transformers import GPT2Config, GPT2LMHeadModel

        self.vocab = list(vocab)
        self.index = {w: i for i, w in enumerate(self.vocab)}
        self.pool = pool
        self.dims = {"dim": dim, "width": width, "layers": layers, "heads": heads, "pool": pool}
        self.proj = nn.Sequential(nn.LayerNorm(dim), nn.Linear(dim, width))
        config = GPT2Config(
            vocab_size=len(vocab),
            n_positions=64,
            n_embd=width,
            n_layer=layers,
            n_head=heads,
            add_cross_attention=True,
            bos_token_id=self.index[BOS],
            eos_token_id=self.index[EOS],
            pad_token_id=self.index[PAD],
            resid_pdrop=0.1,
            embd_pdrop=0.1,
            attn_pdrop=0.1,
        )
        self.decoder = GPT2LMHeadModel(config)
        self.encoder: Any = None  # the backbone zoo Model (set by the loader; not trained, not saved)

    def pooled(self, feats: torch.Tensor) -> torch.Tensor:
        """``(frames, dim)`` -> ``(ceil(frames / pool), dim)`` frame averages."""
        n = feats.shape[0]
        pad = -n % self.pool
        x = torch.nn.functional.pad(feats.float().T[None], (0, pad), mode="replicate")[0].T
        return x.reshape(-1, self.pool, x.shape[-1]).mean(1)

    def memory(self, stretches: list[list[torch.Tensor]], pooled: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
        """The decoder memory of each stretch (its windows' pooled frames, joined) and its mask.

        ``pooled``: the windows are already :meth:`pooled` (training pools its cached features once).
        """
        param = next(self.proj.parameters())
        joined = [
            torch.cat([w if pooled else self.pooled(w) for w in windows]).to(param.device, param.dtype)
            for windows in stretches
        ]
        x, mask = pad_features(joined)
        return self.proj(x), mask.to(param.device)

    def ids(self, text: str) -> list[int]:
        unk = [w for w in tokenize(text) if w not in self.index]
        if unk:
            raise ValueError(f"words outside the captioner's vocabulary: {unk}")
        return [self.index[w] for w in tokenize(text)]

    def loss(self, stretches: list[list[torch.Tensor]], captions: list[str], pooled: bool = False) -> torch.Tensor:
        """Teacher-forced cross-entropy of ``captions`` given the stretches."""
        mem, mask = self.memory(stretches, pooled)
        seqs = [[self.index[BOS], *self.ids(c), self.index[EOS]] for c in captions]
        n = max(len(s) for s in seqs)
        inp = torch.full((len(seqs), n), self.index[PAD], dtype=torch.long, device=mem.device)
        labels = torch.full_like(inp, -100)
        for i, s in enumerate(seqs):
            inp[i, : len(s)] = torch.tensor(s)
            labels[i, : len(s)] = torch.tensor(s)
        out = self.decoder(
            input_ids=inp,
            attention_mask=(labels != -100).long(),
            encoder_hidden_states=mem,
            encoder_attention_mask=mask.long(),
            labels=labels,
        )
        return out.loss

    @torch.no_grad()
    def caption(
        self,
        windows: list[torch.Tensor],
        beams: int = 4,
        max_words: int = 30,
        length_penalty: float = 1.0,
        prefix: str = "",
    ) -> str:
        """Beam search over one stretch; scores are log-probabilities / length ** ``length_penalty``."""
        mem, mask = self.memory([windows])
        start = [self.index[BOS], *(self.ids(prefix) if prefix else [])]
        eos = self.index[EOS]
        live: list[tuple[float, list[int]]] = [(0.0, start)]
        done: list[tuple[float, list[int]]] = []
        for _ in range(max_words):
            ids = torch.tensor([s for _, s in live], device=mem.device)
            logits = self.decoder(
                input_ids=ids,
                encoder_hidden_states=mem.expand(len(live), -1, -1).contiguous(),
                encoder_attention_mask=mask.long().expand(len(live), -1),
            ).logits[:, -1]
            logp = logits.float().log_softmax(-1)
            logp[:, self.index[PAD]] = float("-inf")
            logp[:, self.index[BOS]] = float("-inf")
            cand = []
            for (score, seq), row in zip(live, logp):
                top = torch.topk(row, beams)
                cand += [(score + float(v), [*seq, int(i)]) for v, i in zip(top.values, top.indices)]
            cand.sort(key=lambda c: -c[0])
            live = []
            for score, seq in cand:
                if seq[-1] == eos:
                    done.append((score / (len(seq) - 1) ** length_penalty, seq))
                elif len(live) < beams:
                    live.append((score, seq))
            if not live or (
                len(done) >= beams and max(d[0] for d in done) > live[0][0] / len(live[0][1]) ** length_penalty
            ):
                break
        done += [(s / (len(q) - 1) ** length_penalty, q) for s, q in live]
        best = max(done, key=lambda d: d[0])[1]
        words = [self.vocab[i] for i in best[1:] if i != eos]
        return detokenize(words)

    def save(self, out: Path, extra: dict[str, Any]) -> None:
        from safetensors.torch import save_model

        out.mkdir(parents=True, exist_ok=True)
        save_model(self, str(out / "model.safetensors"))
        (out / "config.json").write_text(json.dumps({**self.dims, "vocab": self.vocab, **extra}, indent=2) + "\n")


def load_captioner(card: Any, weights_dir: Path, device: torch.device, dtype: torch.dtype) -> CaptionNet:
    """Build the captioner: the decoder from ``weights_dir`` and the backbone named by ``params.backbone``."""
    from safetensors.torch import load_model

    import zoo

    config = json.loads((Path(weights_dir) / "config.json").read_text())
    net = CaptionNet(config["vocab"], config["dim"], config["width"], config["layers"], config["heads"], config["pool"])
    load_model(net, str(Path(weights_dir) / "model.safetensors"))
    backbone = card.params.get("backbone") or config.get("backbone")
    if not backbone:
        raise WeightsError(str(weights_dir), f"{card.name}: no backbone named in params.backbone or config.json")
    net.encoder = zoo.load(backbone, device=device)
    return net.to(device=device, dtype=dtype).eval()
