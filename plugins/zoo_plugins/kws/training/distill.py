"""Feature distillation pieces: segments of real speech, the speech-embedding teacher's targets and the
projector/loss that make a Wav2Vec2-BERT encoder predict them (used by ``kws-encoder-distill`` and by
``kws-wav2vec2 --feature-weight``)."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from zoo.splits import speaker_split

from ..data import speech_commands
from .config import ASR_ENCODER, PLUGIN_DIR, SR, RecipeConfig
from .pools import Augmenter, _fit, _load_many, build_pools

__all__ = ["DistillConfig", "SpanProjector", "distill_set", "feature_loss", "frame_count"]


#: the speech embedding's window and hop, in seconds
WINDOW_S, STEP_S = 0.775, 0.08
#: the student sees 1.5 s: a 1 s clip padded by 0.25 s each side, which the embedding turns into 9 windows
SEGMENT = int(1.5 * SR)


PAD = (SEGMENT - SR) // 2


READ_SPEECH = ("speechocean762-train", "cathy", "librispeech-speakers")


@dataclass
class DistillConfig:
    """Every knob of the encoder-distillation recipe."""

    out_dir: str = str(PLUGIN_DIR / "checkpoints" / "kws-encoder-distill")
    encoder_from: str = ASR_ENCODER
    seed: int = 0
    steps: int = 2500
    batch_size: int = 48
    lr: float = 5e-4
    warmup: int = 200
    weight_decay: float = 0.01
    #: random 1.5 s stretches taken from each read-speech utterance
    crops_per_utterance: int = 2
    #: at most this many clips from each pool of the keyword recipe (real, mined and synthetic words)
    max_per_pool: int = 6000
    device: str = "cpu"
    threads: int = 0
    #: the smoke-test data: a couple of files per source
    smoke: bool = False
    #: the keyword recipe's data settings (data root, split, augmentation chances)
    kws: RecipeConfig = field(
        default_factory=lambda: RecipeConfig(mined_fraction=1.0, mined_filter=None, mine_with=ASR_ENCODER)
    )
    command: str = "zoo train kws-encoder-distill"

    @classmethod
    def tiny(cls) -> DistillConfig:
        """A smoke-test configuration: a few clips of each kind and three steps."""
        return cls(
            steps=3, batch_size=4, warmup=1, max_per_pool=16, crops_per_utterance=1, smoke=True, kws=RecipeConfig.tiny()
        )


# ---------------------------------------------------------------- data
def segments(cfg: DistillConfig) -> tuple[torch.Tensor, Augmenter, dict[str, int]]:
    """Clean 1.5 s training segments ``(N, SEGMENT)``, the augmenter, and how many came from each source."""
    rng = random.Random(cfg.seed)
    kws = cfg.kws
    dev_root = Path(kws.data_root) / "speech-commands-dev"
    dev = speech_commands(dev_root) if dev_root.is_dir() else []
    train_dev = speaker_split(dev, 1 - kws.train_share, balance="clips")[0]  # the held-out speakers never enter
    if cfg.smoke:
        train_dev = train_dev[:8]
    pools = build_pools(kws, train_dev, rng)
    out: list[torch.Tensor] = []
    counts: dict[str, int] = {}
    for source, by_label in (("real", pools.real), ("mined", pools.mined), ("tts", pools.tts)):
        clips = [c for label_clips in by_label.values() for c in label_clips]
        rng.shuffle(clips)
        clips = clips[: cfg.max_per_pool]
        out += [nn.functional.pad(_fit(c, SR, rng), (PAD, PAD)) for c in clips]
        counts[source] = len(clips)
    for corpus in READ_SPEECH:
        root = Path(kws.data_root) / corpus
        files = sorted(p for p in root.rglob("*") if p.suffix.lower() in {".ogg", ".opus", ".flac", ".wav"})
        if cfg.smoke:
            files = files[:2]
        n = 0
        for wav in _load_many([str(f) for f in files], corpus):
            for _ in range(cfg.crops_per_utterance):
                out.append(_fit(wav, SEGMENT, rng))
                n += 1
        counts[corpus] = n
    if not out:
        raise SystemExit(f"no training audio under {kws.data_root}: pass --data with the folders named in the README")
    return torch.stack(out), Augmenter(pools, kws, cfg.seed), counts


def teacher_targets(clips: torch.Tensor, batch: int = 64) -> torch.Tensor:
    """The speech embedding of every segment: ``(N, 9, 96)``."""
    from tqdm.auto import tqdm

    from ..speech_embedding import SpeechEmbedding

    emb = SpeechEmbedding(threads=max(1, torch.get_num_threads()))
    out = [
        torch.from_numpy(emb(clips[i : i + batch].numpy()))
        for i in tqdm(range(0, len(clips), batch), desc="teacher embeddings", unit="batch")
    ]
    return torch.cat(out)


def distill_set(cfg: DistillConfig) -> tuple[torch.Tensor, torch.Tensor, Augmenter, dict[str, int]]:
    """Segments, their teacher embeddings normalised per dimension ``(N, 9, 96)``, the augmenter, source counts."""
    clips, aug, counts = segments(cfg)
    targets = teacher_targets(clips)
    mean, std = targets.mean((0, 1)), targets.std((0, 1)) + 1e-6
    return clips, (targets - mean) / std, aug, counts


def frame_count(encoder, frontend, device: torch.device) -> int:
    """How many encoder frames a :data:`SEGMENT` becomes."""
    with torch.no_grad():
        x = torch.zeros(1, SEGMENT, device=device)
        feats, mask = frontend(x, torch.full((1,), SEGMENT, device=device))
        return encoder(input_features=feats, attention_mask=mask.long()).last_hidden_state.shape[1]


def feature_loss(encoder, head, frontend, aug: Augmenter, clips, targets, idx: torch.Tensor, device) -> torch.Tensor:
    """Mean squared error of the projected encoder frames against the teacher embeddings of segments ``idx``.

    The teacher saw the clean segments; the encoder sees them through ``aug.degrade`` (gain, reverb, noise).
    """
    x = torch.stack([aug.degrade(clips[i].clone()) for i in idx.tolist()]).clamp(-1, 1).to(device)
    with torch.no_grad():
        feats, mask = frontend(x, torch.full((len(idx),), SEGMENT, device=device))
    hidden = encoder(input_features=feats, attention_mask=mask.long()).last_hidden_state
    return nn.functional.mse_loss(head(hidden), targets[idx].to(device))


# ---------------------------------------------------------------- model
class SpanProjector(nn.Module):
    """Average the encoder frames under each embedding window, then project to the embedding size."""

    def __init__(self, hidden: int, frames: int, windows: int, out_dim: int) -> None:
        super().__init__()
        span = torch.zeros(windows, frames)
        seconds = SEGMENT / SR
        for w in range(windows):
            a = math.floor(w * STEP_S / seconds * frames)
            b = max(a + 1, math.ceil((w * STEP_S + WINDOW_S) / seconds * frames))
            span[w, a : min(b, frames)] = 1.0
        self.register_buffer("span", span / span.sum(1, keepdim=True), persistent=False)
        self.proj = nn.Linear(hidden, out_dim)

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        return self.proj(torch.einsum("wf,bfh->bwh", self.span, hidden))
