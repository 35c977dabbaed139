"""What the keyword-spotting recipes are configured by: :class:`RecipeConfig`, the unknown-word list, and where
checkpoints come from (zoo models by name, resolved through the registry, or folders)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from ..data import TRAIN_SHARE

#: the kws plugin's folder (its bundled checkpoints live in ``checkpoints/``)
PLUGIN_DIR = Path(__file__).resolve().parents[1]
REPO = PLUGIN_DIR.parents[2]
#: the zoo model whose encoder kws-wav2vec2 starts from (and whose CTC head aligns the mined words)
ASR_ENCODER = "asr-wav2vec2-bert-phones"


def checkpoint_dir(name_or_path: str | os.PathLike) -> Path:
    """A checkpoint folder: a registered zoo model's resolved weights, or the given folder."""
    import zoo
    from zoo.weights import resolve

    text = os.fspath(name_or_path)
    if text in zoo.list_models():
        return resolve(zoo.info(text))
    return Path(text)


__all__ = ["ASR_ENCODER", "PLUGIN_DIR", "RecipeConfig", "SR", "UNKNOWN_WORDS", "checkpoint_dir"]


SR = 16000


UNKNOWN_WORDS = (
    "bed",
    "bird",
    "cat",
    "dog",
    "eight",
    "five",
    "four",
    "happy",
    "house",
    "marvin",
    "nine",
    "one",
    "seven",
    "sheila",
    "six",
    "three",
    "tree",
    "two",
    "wow",
    "zero",
    "backward",
    "forward",
    "follow",
    "learn",
    "visual",
    "yellow",
    "know",
    "upon",
    "town",
    "lift",
    "light",
    "write",
    "often",
    "stock",
    "goal",
    "yet",
    "noise",
    "dawn",
    "open",
    "start",
    "top",
    "gone",
    "left hand",
    "cup",
    "dot",
    "ride",
    "song",
    "moon",
    "nose",
    "yeah",
)


@dataclass
class RecipeConfig:
    """Every knob of the recipe; the defaults rebuild the committed checkpoint."""

    name: str = "kws-wav2vec2"
    data_root: str = os.environ.get("ZOO_DATA", str(REPO.parent / "shared" / "data"))
    out_dir: str = str(PLUGIN_DIR / "checkpoints" / "kws-wav2vec2")
    cache_dir: str = str(Path(os.environ.get("ZOO_CACHE", Path.home() / ".cache" / "zoo")) / "kws")
    seed: int = 0
    steps: int = 1500
    batch_size: int = 64
    lr: float = 1e-3
    warmup: int = 200
    weight_decay: float = 0.05
    hidden_size: int = 144
    layers: int = 4
    heads: int = 4
    ffn: int = 576
    #: share of the speech-commands-dev clips, split by speaker, to train on; the other speakers are held out
    train_share: float = TRAIN_SHARE
    voices_per_keyword: int = 300
    voices_per_unknown: int = 40
    real_fraction: float = 0.5
    #: share of draws from words force-aligned out of read speech (see .mining), where a class has any
    mined_fraction: float = 0.0
    #: the CTC checkpoint that aligns the mined words (None: the one in encoder_from)
    mine_with: str | None = None
    #: transcribed corpora (folders under data_root) to mine words from, and how many `_unknown_` words to keep
    mine_corpora: tuple[str, ...] = ("speechocean762-train", "cathy")
    mined_unknown: int = 3000
    #: keep only mined clips this zoo model labels as their class (None: keep all)
    mined_filter: str | None = "kws-speech-embedding"
    #: chance that a real or mined clip is sped up or slowed down (new pseudo-speakers), and by how much at most
    speed_prob: float = 0.0
    speed_change: float = 0.15
    #: add the wake-word recordings (data_root/wake-words: alexa, computer, jarvis...) as real `_unknown_` words
    wake_words: bool = False
    noise_prob: float = 0.8
    reverb_prob: float = 0.25
    #: chance that a training clip is cut to the telephone band (through 8 kHz and back): 0.2 scored
    #: 77.0 % on 8 kHz held-out clips against 70.6 % without, and no worse at 16 kHz (paired, 1500 steps)
    band_limit_prob: float = 0.2
    device: str = "cpu"
    threads: int = 0  # 0: torch's default
    #: distillation: a zoo model whose soft labels the student also learns (None: labels only)
    teacher: str | None = None
    distill_alpha: float = 0.7
    distill_temperature: float = 2.0
    #: keep the encoder close to Google's speech embedding while it learns the labels (see .encoder_distill):
    #: the weight of that feature loss (0: off) and how many 1.5 s segments it sees per step
    feature_weight: float = 0.0
    feature_batch: int = 16
    #: warm start from this HF checkpoint directory instead of random init
    init_from: str | None = None
    #: take the encoder (not the head) from this Wav2Vec2-BERT checkpoint, e.g. the zoo's own ASR model
    encoder_from: str | None = ASR_ENCODER
    #: print held-out accuracy every N steps (monitoring only; the last step is what is saved)
    eval_every: int = 0
    update_registry: bool = True
    #: the command line that ran this recipe (recorded in the card)
    command: str = "zoo train kws-wav2vec2"

    @classmethod
    def tiny(cls) -> RecipeConfig:
        """A smoke-test configuration that runs in well under a minute."""
        return cls(
            steps=6,
            batch_size=8,
            hidden_size=32,
            layers=1,
            heads=2,
            ffn=64,
            voices_per_keyword=2,
            voices_per_unknown=1,
            warmup=2,
            encoder_from=None,
            mine_corpora=(),
            update_registry=False,
        )
