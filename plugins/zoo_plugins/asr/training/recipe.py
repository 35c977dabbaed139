"""Recipe: ``zoo train asr-wav2vec2-bert``, a character CTC recogniser trained here.

A small ``Wav2Vec2BertForCTC`` (conformer encoder over 80-bin log-mel fbank
stacked to 40 ms frames) learns characters with CTC from

- real speech: ``speechocean762-train`` minus held-out speakers (non-native,
  adults and children) and ``cathy`` minus held-out ARCTIC prompts (native US);
- synthetic speech: the training sentences read by random espeak-ng, flite and
  festival voices (speaker variety the real corpora lack);
- empty-transcript examples: background noise, synthetic music and silence,
  so the model learns to say nothing when nobody speaks.

Augmentation: speed perturbation (0.9-1.1), gain, reverb, additive noise at
0-30 dB SNR, and SpecAugment-style masks inside the model. Batches are packed by
duration. Training stops at ``--steps`` or ``--max-minutes``, whichever comes
first; the learning-rate schedule follows whichever is further along, so a
time-capped run still anneals. Held-out WER/CER (greedy, and with the card's
decoder) go into the training summary and the registry card.

``--units phones`` trains the 39 ARPAbet phones of the CMU dictionary instead
of characters (targets from each word's first pronunciation; beam search then
spells the vocabulary with every pronunciation). ``--init-from DIR`` continues
from an earlier checkpoint (a new warm-up and cosine schedule; pass
``--clean-steps 0``); when DIR has other output units, its encoder is kept
and the output layer is rebuilt, keeping the rows of the shared special
tokens. The bundled checkpoints were made that way, in stages; each
warm-started run carries the earlier stages' record forward, so the card's
steps, time and recipe cover all of them.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import random
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from zoo import audio as zaudio
from zoo.splits import speaker_split
from zoo.train.augment import reverb
from zoo.train.loop import hardware_name
from zoo.train.recipe import apply_args, load_many, noise_segment, recipe_parser
from zoo.train.stages import with_earlier_stages

from .. import cmudict
from ..data import HELDOUT_SPEAKERS, Utterance, arctic_split, read_corpus
from ..decoders import CTCVocab
from ..text import CHARS

#: the asr plugin's folder (its bundled checkpoints live in ``checkpoints/``)
HERE = Path(__file__).resolve().parents[1]
REPO = HERE.parents[2]
SR = 16000
NAME = "asr-wav2vec2-bert"
#: the phone-level model: the same network, warm-started from the character model (``zoo train NAME-phones``)
PHONES_NAME = f"{NAME}-phones"
#: how ``zoo train asr-wav2vec2-bert-phones`` differs from the character recipe by default: this is
#: the phone model's first stage; the bundled checkpoint adds a second one (``--init-from`` itself,
#: ``--lr 3e-4 --warmup 100 --steps 5800 --max-minutes 72``), whose command its card records
PHONES_DEFAULTS = {
    "units": "phones",
    "init_from": str(HERE / "checkpoints" / NAME),
    "lr": 5e-4,
    "warmup": 200,
    "clean_steps": 0,
    "steps": 9000,
    "max_minutes": 80.0,
}

#: CTC vocabulary: blank/pad first, then unknown, word delimiter and the characters
VOCAB = ["<pad>", "<unk>", "|", *CHARS]
UNITS = {"chars": VOCAB, "phones": ["<pad>", "<unk>", "|", *cmudict.PHONES]}
_INDEX = {units: {t: i for i, t in enumerate(vocab)} for units, vocab in UNITS.items()}


@dataclass
class RecipeConfig:
    """Every knob of the recipe; the defaults rebuild the committed checkpoint."""

    name: str = NAME
    data_root: str = os.environ.get("ZOO_DATA", str(REPO.parent / "shared" / "data"))
    out_dir: str = str(HERE / "checkpoints" / NAME)
    cache_dir: str = str(Path(os.environ.get("ZOO_CACHE", Path.home() / ".cache" / "zoo")) / "asr")
    seed: int = 0
    steps: int = 6000
    max_minutes: float = 0.0  # 0: no time cap
    batch_seconds: float = 80.0
    max_utt_seconds: float = 16.0
    lr: float = 1e-3
    warmup: int = 300
    weight_decay: float = 0.02
    hidden_size: int = 144
    layers: int = 6
    heads: int = 4
    ffn: int = 576
    #: 10 ms fbank frames stacked per model frame (2: 20 ms as SeamlessM4T; 4: 40 ms, which
    #: leaves CTC's blank plateau several times sooner here)
    stride: int = 4
    heldout_speakers: float = HELDOUT_SPEAKERS
    tts_voices_per_text: int = 1
    tts_fraction: float = 0.25
    empty_fraction: float = 0.03
    noise_prob: float = 0.5
    reverb_prob: float = 0.3
    speed_prob: float = 0.6
    device: str = "cpu"
    threads: int = 0
    save_every: int = 500
    #: the first steps see un-augmented real speech, no SpecAugment and no empty clips: CTC leaves its
    #: all-blank plateau on clean data first (it stayed there for 1000+ steps on the full mix)
    clean_steps: int = 600
    init_from: str | None = None
    #: output units: ``chars`` (a-z and apostrophe) or ``phones`` (CMU-dictionary ARPAbet)
    units: str = "chars"
    update_registry: bool = True
    command: str = f"zoo train {NAME}"

    @classmethod
    def tiny(cls) -> RecipeConfig:
        """A smoke configuration that runs in well under a minute."""
        return cls(
            steps=4,
            batch_seconds=8.0,
            hidden_size=32,
            layers=1,
            heads=2,
            ffn=64,
            tts_voices_per_text=0,
            warmup=2,
            clean_steps=2,
            save_every=0,
            update_registry=False,
        )


# ---------------------------------------------------------------- data
class Corpus:
    """Decoded training audio held in memory (int16 to halve the footprint)."""

    def __init__(self) -> None:
        self.real: list[tuple[torch.Tensor, str]] = []
        self.tts: list[tuple[torch.Tensor, str]] = []
        self.noise: list[torch.Tensor] = []

    def counts(self) -> dict[str, float]:
        hours = lambda pool: round(sum(w.numel() for w, _ in pool) / SR / 3600, 2)
        return {
            "real_utts": len(self.real),
            "real_hours": hours(self.real),
            "tts_utts": len(self.tts),
            "tts_hours": hours(self.tts),
            "noise_files": len(self.noise),
        }


def _to16(x: torch.Tensor) -> torch.Tensor:
    return (x.clamp(-1, 1) * 32767).to(torch.int16)


def _load_all(paths: list[str], desc: str) -> list[torch.Tensor]:
    """Decoded files stored as int16 (half the memory of float32 for hours of speech)."""
    return load_many(paths, SR, desc, unit="file", leave=True, convert=_to16)


def splits(cfg: RecipeConfig) -> dict[str, tuple[list[Utterance], list[Utterance]]]:
    """(train, held-out) per real corpus found under ``cfg.data_root``."""
    root = Path(cfg.data_root)
    out = {}
    if (root / "speechocean762-train").is_dir():
        out["speechocean762"] = speaker_split(read_corpus(root / "speechocean762-train"), cfg.heldout_speakers)
    if (root / "cathy").is_dir():
        out["cathy"] = arctic_split(read_corpus(root / "cathy"))
    return out


def prepare(cfg: RecipeConfig) -> tuple[Corpus, dict[str, list[Utterance]]]:
    random.seed(cfg.seed)
    np.random.seed(cfg.seed)
    torch.manual_seed(cfg.seed)
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    parts = splits(cfg)
    if not parts:
        raise SystemExit(f"no training corpus under {cfg.data_root}: expected speechocean762-train/ or cathy/")
    train = [u for tr, _ in parts.values() for u in tr]
    held = {name: he for name, (_, he) in parts.items()}
    if cfg.steps < 10:  # the tiny smoke configuration
        train = train[:16]
        held = {k: v[:4] for k, v in held.items()}
    corpus = Corpus()
    waves = _load_all([u.path for u in train], "decoding real speech")
    corpus.real = [(w, u.text) for w, u in zip(waves, train) if 0 < w.numel() <= cfg.max_utt_seconds * SR and u.text]
    if cfg.tts_voices_per_text > 0:
        from zoo.train.tts import synthesize

        texts = sorted({u.text for u in train})
        rows = synthesize(texts, Path(cfg.cache_dir) / "tts", voices_per_text=cfg.tts_voices_per_text, seed=cfg.seed)
        waves = _load_all([r["path"] for r in rows], "decoding synthetic speech")
        corpus.tts = [(w, r["text"]) for w, r in zip(waves, rows) if 0 < w.numel() <= cfg.max_utt_seconds * SR]
    noise_dir = Path(cfg.data_root) / "speech-commands-noise"
    if noise_dir.is_dir():
        corpus.noise = [zaudio.load(p, SR).mono() for p in sorted(noise_dir.glob("*.flac"))]
    return corpus, held


# --------------------------------------------------------- augmentation
def synthetic_music(n: int, rng: random.Random) -> torch.Tensor:
    """A few seconds of random harmonic notes with envelopes (non-speech for empty targets)."""
    t = torch.arange(n) / SR
    out = torch.zeros(n)
    pos = 0
    while pos < n:
        dur = int(rng.uniform(0.15, 0.8) * SR)
        seg = t[: min(dur, n - pos)]
        env = torch.exp(-seg * rng.uniform(1, 8))
        for _ in range(rng.randint(1, 3)):
            f0 = 110 * 2 ** (rng.randint(0, 36) / 12)
            for h in range(1, rng.randint(2, 6)):
                out[pos : pos + seg.numel()] += env * torch.sin(2 * math.pi * f0 * h * seg) / h
        pos += seg.numel()
    return out / (out.abs().max() + 1e-8)


class Augmenter:
    """Draws duration-packed, augmented training batches."""

    def __init__(self, corpus: Corpus, cfg: RecipeConfig, seed: int) -> None:
        self.c, self.cfg = corpus, cfg
        self.rng = random.Random(seed)
        self.g = torch.Generator().manual_seed(seed)
        self.clean = False
        self.real_order = sorted(range(len(corpus.real)), key=lambda i: corpus.real[i][0].numel())
        self.tts_order = sorted(range(len(corpus.tts)), key=lambda i: corpus.tts[i][0].numel())

    def _noise(self, n: int) -> torch.Tensor:
        if not self.c.noise or self.rng.random() < 0.2:
            return torch.randn(n, generator=self.g)
        return noise_segment(self.c.noise, n, self.rng)

    def _empty(self, longest: int) -> torch.Tensor:
        n = int(self.rng.uniform(0.5 * SR, max(longest, SR)))
        kind = self.rng.random()
        if kind < 0.4:
            x = self._noise(n)
        elif kind < 0.7:
            x = synthetic_music(n, self.rng)
        else:
            x = torch.randn(n, generator=self.g) * 0.01
        return x / (x.abs().max() + 1e-8) * 10 ** (self.rng.uniform(-50, -1) / 20)

    def _speech(self, wav: torch.Tensor) -> torch.Tensor:
        x = wav.float() / 32767
        if self.rng.random() < self.cfg.speed_prob:
            # speed x factor (tempo and pitch), by linear interpolation: cheap, and aliasing is harmless here
            factor = self.rng.uniform(0.9, 1.1)
            n = max(1, int(x.numel() / factor))
            x = torch.nn.functional.interpolate(x[None, None], size=n, mode="linear", align_corners=False)[0, 0]
        x = x / (x.abs().max() + 1e-8) * 10 ** (self.rng.uniform(-25, -1) / 20)
        if self.rng.random() < self.cfg.reverb_prob:
            x = reverb(x, SR, self.rng, self.g)
        if self.rng.random() < self.cfg.noise_prob:
            rms = x.pow(2).mean().sqrt() + 1e-8
            x = x + self._noise(x.numel()) * rms * 10 ** (-self.rng.uniform(0, 30) / 20)
        return x

    def batch(self) -> tuple[list[torch.Tensor], list[str]]:
        """Neighbours in length order from one pool (little padding), plus a few empty-transcript clips."""
        use_tts = self.c.tts and not self.clean and self.rng.random() < self.cfg.tts_fraction
        pool, order = (self.c.tts, self.tts_order) if use_tts else (self.c.real, self.real_order)
        pos = self.rng.randrange(len(order))
        picked, total = [], 0.0
        while total < self.cfg.batch_seconds and len(picked) < len(order):
            idx = order[pos] if pos < len(order) else order[len(order) - 1 - len(picked)]
            picked.append(idx)
            total += pool[idx][0].numel() / SR
            pos += 1
        waves, texts = [], []
        for idx in picked:
            wav, text = pool[idx]
            waves.append((wav.float() / 32767) if self.clean else self._speech(wav).clamp(-1, 1))
            texts.append(text)
            if not self.clean and self.rng.random() < self.cfg.empty_fraction:
                waves.append(self._empty(max(w.numel() for w in waves)).clamp(-1, 1))
                texts.append("")
        return waves, texts


def encode(text: str, units: str = "chars") -> list[int]:
    """Token ids of a normalised transcript: characters, or each word's first CMU pronunciation.

    Words are separated by the ``|`` delimiter; a character outside the
    alphabet, or a word the dictionary lacks, becomes ``<unk>``.

    >>> encode("hi yo"), encode("hi yo", "phones")
    ([10, 11, 2, 27, 17], [18, 8, 2, 39, 27])
    """
    index = _INDEX[units]
    if units == "chars":
        return [index["|"] if c == " " else index.get(c, 1) for c in text]
    ids: list[int] = []
    for k, pron in enumerate(cmudict.phonemize(text)):
        ids += ([index["|"]] if k else []) + [index.get(p, 1) for p in pron]
    return ids


# ---------------------------------------------------------------- model
def build_model(cfg: RecipeConfig, stride: int | None = None):
    from transformers import Wav2Vec2BertConfig, Wav2Vec2BertForCTC

    config = Wav2Vec2BertConfig(
        feature_projection_input_dim=80 * (stride or cfg.stride),
        hidden_size=cfg.hidden_size,
        num_hidden_layers=cfg.layers,
        num_attention_heads=cfg.heads,
        intermediate_size=cfg.ffn,
        output_hidden_size=cfg.hidden_size,
        conv_depthwise_kernel_size=15,
        position_embeddings_type="relative_key",
        left_max_position_embeddings=64,
        right_max_position_embeddings=8,
        hidden_dropout=0.1,
        activation_dropout=0.05,
        attention_dropout=0.05,
        feat_proj_dropout=0.05,
        final_dropout=0.1,
        layerdrop=0.0,
        mask_time_prob=0.05,
        mask_time_length=5,
        mask_feature_prob=0.05,
        mask_feature_length=16,
        vocab_size=len(UNITS[cfg.units]),
        pad_token_id=0,
        ctc_loss_reduction="mean",
        ctc_zero_infinity=True,
    )
    return Wav2Vec2BertForCTC(config)


def save_tokenizer(out: Path, stride: int = 4, units: str = "chars") -> None:
    """The HF tokenizer/vocabulary files next to the weights (loadable by ``Wav2Vec2CTCTokenizer``)."""
    from transformers import SeamlessM4TFeatureExtractor, Wav2Vec2CTCTokenizer

    (out / "vocab.json").write_text(json.dumps({t: i for i, t in enumerate(UNITS[units])}, indent=1) + "\n")
    tok = Wav2Vec2CTCTokenizer(
        str(out / "vocab.json"), unk_token="<unk>", pad_token="<pad>", word_delimiter_token="|", do_lower_case=False
    )
    tok.save_pretrained(out)
    SeamlessM4TFeatureExtractor(return_attention_mask=True, stride=stride).save_pretrained(out)


def rehead(model, init_from: Path, vocab: list[str]):
    """Give ``model`` (loaded from ``init_from``) an output layer for ``vocab`` if its own is for other tokens.

    Rows of tokens both vocabularies share (blank, unknown, delimiter...) are
    copied; the rest start fresh (seeded by the recipe).
    """
    vocab_file = Path(init_from) / "vocab.json"
    if not vocab_file.exists():  # nothing says otherwise: assume the same tokens
        return model
    old_vocab: dict[str, int] = json.loads(vocab_file.read_text())
    if sorted(old_vocab, key=old_vocab.__getitem__) == vocab:
        return model
    old = model.lm_head
    new = torch.nn.Linear(old.in_features, len(vocab)).to(old.weight.device)
    with torch.no_grad():
        for i, tok in enumerate(vocab):
            if tok in old_vocab and old_vocab[tok] < old.out_features:
                new.weight[i] = old.weight[old_vocab[tok]]
                new.bias[i] = old.bias[old_vocab[tok]]
    model.lm_head = new
    model.config.vocab_size = len(vocab)
    print(f"new output layer: {len(old_vocab)} tokens in {init_from} -> {len(vocab)} here")
    return model


def _save(model, out: Path, half: bool, stride: int, units: str = "chars") -> None:
    out.mkdir(parents=True, exist_ok=True)
    import copy

    m = copy.deepcopy(model).eval()
    (m.half() if half else m).save_pretrained(out, safe_serialization=True)
    save_tokenizer(out, stride, units)


# ------------------------------------------------------------- training
def train(cfg: RecipeConfig) -> dict:
    from tqdm.auto import tqdm

    from zoo.features import FbankFrontend

    t0 = time.time()
    corpus, held = prepare(cfg)
    device = torch.device(cfg.device)
    if cfg.init_from:
        from transformers import Wav2Vec2BertForCTC

        model = Wav2Vec2BertForCTC.from_pretrained(cfg.init_from, dtype=torch.float32)
        model = rehead(model, Path(cfg.init_from), UNITS[cfg.units]).to(device)
    else:
        model = build_model(cfg).to(device)
    frontend = FbankFrontend(stride=cfg.stride).to(device)
    aug = Augmenter(corpus, cfg, cfg.seed)
    n_params = sum(p.numel() for p in model.parameters())
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    train_start = time.time()
    budget = cfg.max_minutes * 60

    def progress(step: int) -> float:
        frac = step / cfg.steps
        if budget > 0:
            frac = max(frac, (time.time() - train_start) / budget)
        return min(frac, 1.0)

    def lr_at(step: int) -> float:
        return cfg.lr * min(1.0, (step + 1) / cfg.warmup) * 0.5 * (1 + math.cos(math.pi * progress(step)))

    work = Path(cfg.cache_dir) / "runs" / cfg.name
    mask_time_prob, mask_feature_prob = model.config.mask_time_prob, model.config.mask_feature_prob
    model.train()
    bar = tqdm(range(cfg.steps), desc=f"training {cfg.name}", unit="step")
    ema, step, seen = None, 0, 0.0
    for step in bar:
        if progress(step) >= 1.0:
            break
        for group in opt.param_groups:
            group["lr"] = lr_at(step)
        clean = step < cfg.clean_steps
        aug.clean = clean
        model.config.mask_time_prob = 0.0 if clean else mask_time_prob
        model.config.mask_feature_prob = 0.0 if clean else mask_feature_prob
        waves, texts = aug.batch()
        lengths = torch.tensor([w.numel() for w in waves])
        x = torch.zeros(len(waves), int(lengths.max()))
        for i, w in enumerate(waves):
            x[i, : w.numel()] = w
        ids = [encode(t, cfg.units) for t in texts]
        labels = torch.full((len(ids), max(1, max(len(i) for i in ids))), -100, dtype=torch.long)
        for i, seq in enumerate(ids):
            labels[i, : len(seq)] = torch.tensor(seq, dtype=torch.long)
        with torch.no_grad():
            feats, mask = frontend(x.to(device), lengths.to(device))
        out = model(input_features=feats, attention_mask=mask.long(), labels=labels.to(device))
        loss = out.loss
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        seen += float(lengths.sum()) / SR
        value = loss.item()
        if math.isfinite(value):
            ema = value if ema is None else 0.98 * ema + 0.02 * value
        bar.set_postfix(loss=f"{ema:.3f}" if ema is not None else "nan", lr=f"{lr_at(step):.1e}")
        if cfg.save_every and step and step % cfg.save_every == 0:
            _save(model, work, half=False, stride=cfg.stride, units=cfg.units)
            (work / "progress.json").write_text(json.dumps({"step": step, "loss_ema": ema, "hours_seen": seen / 3600}))
    steps_done = step + 1 if step else 0
    train_s = time.time() - t0
    out = Path(cfg.out_dir)
    _save(model, out, half=True, stride=cfg.stride, units=cfg.units)
    hardware = hardware_name(device)
    summary = {
        "recipe": cfg.command,
        "config": asdict(cfg) | {"data_root": "../shared/data", "out_dir": _rel(out), "cache_dir": "~/.cache/zoo/asr"},
        "parameters": n_params,
        "steps_done": steps_done,
        "hours_of_audio_seen": round(seen / 3600, 2),
        "train_seconds": round(train_s, 1),
        "hardware": hardware,
        "data": corpus.counts(),
        "heldout_sets": {k: {"utterances": len(v), "speakers": len({u.speaker for u in v})} for k, v in held.items()},
        "final_loss_ema": ema,
    }
    if cfg.init_from:
        summary = with_earlier_stages(summary, Path(cfg.init_from))
    (out / "training_summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    summary["heldout"] = evaluate_heldout(out, held, cfg)
    (out / "training_summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    if cfg.update_registry:
        write_card(cfg, summary)
    return summary


def evaluate_heldout(checkpoint: Path, held: dict[str, list[Utterance]], cfg: RecipeConfig) -> dict:
    """WER/CER of the checkpoint on each held-out set, through the zoo runner.

    ``wer``/``cer`` use the card's decoder (beam search with the LM); ``*_greedy``
    are greedy CTC decoding, the acoustic model alone (character models only).
    """
    import zoo

    from ..metrics import score

    try:
        base = zoo.info(cfg.name)
    except zoo.ZooError:
        base = zoo.ModelCard(
            name=cfg.name,
            task="speech-recognition",
            architecture="hf-ctc",
            weights={},
            sample_rate=SR,
            license="unreleased",
            provenance={"recipe": cfg.command},
        )
    card = dataclasses.replace(base, weights={"path": str(checkpoint)})
    out: dict[str, dict] = {name: {} for name, utts in held.items() if utts}
    vocab = CTCVocab.from_vocab(json.loads((Path(checkpoint) / "vocab.json").read_text()))
    # greedy decoding spells words from characters only; a phone model is scored with the card's beam search
    decoders = (("_greedy", {"decoder": "greedy"}), ("", {})) if vocab.units == "chars" else (("", {}),)
    for suffix, params in decoders:
        model = zoo.from_card(card, device="cpu", **params)
        for name in out:
            results = model([u.path for u in held[name]], progress=True)
            scores = score([u.text for u in held[name]], results)
            out[name] |= {f"{k}{suffix}": v for k, v in scores.items() if k != "reference_words" or not suffix}
    return out


def write_card(cfg: RecipeConfig, summary: dict) -> None:
    from zoo.train.card import update_card

    metrics = {}
    for name, scores in summary.get("heldout", {}).items():
        metrics[f"{name}-heldout"] = scores | summary["heldout_sets"][name]
    stages = {"stages": summary["stages"]} if summary.get("stages") else {}
    update_card(
        cfg.name,
        metrics=metrics,
        provenance=stages
        | {
            "train_seconds": summary["train_seconds"],
            "hardware": summary["hardware"],
            "parameters": summary["parameters"],
            "steps": summary["steps_done"],
            "hours_of_audio_seen": summary["hours_of_audio_seen"],
            "seed": cfg.seed,
            "recipe": summary.get("recipe", cfg.command),
            "data": summary["data"],
        },
    )


def _rel(path: Path) -> str:
    return str(path.relative_to(REPO)) if path.is_relative_to(REPO) else str(path)


def main(argv: list[str] | None = None, name: str = NAME) -> dict:
    """``zoo train asr-wav2vec2-bert`` (and ``...-phones``) entry point."""
    p = recipe_parser(
        f"zoo train {name}", __doc__, data_help="folder holding speechocean762-train/, cathy/, speech-commands-noise/"
    )
    p.add_argument("--max-minutes", type=float, help="stop (annealed) after this much training time")
    p.add_argument("--batch-seconds", type=float, help="seconds of audio per step")
    p.add_argument("--clean-steps", type=int, help="first steps on un-augmented speech (0 for a warm start)")
    p.add_argument("--units", choices=sorted(UNITS), help="output units: chars (default) or CMU-dictionary phones")
    args = p.parse_args(argv)
    cfg = RecipeConfig.tiny() if args.tiny else RecipeConfig()
    if name == PHONES_NAME:
        defaults = {"units": "phones"} if args.tiny else PHONES_DEFAULTS
        cfg = dataclasses.replace(cfg, name=name, out_dir=str(HERE / "checkpoints" / name), **defaults)
    cfg = apply_args(
        cfg, args, f"zoo train {name}", argv, keys=("max_minutes", "batch_seconds", "clean_steps", "units")
    )
    if args.eval_only:
        out = Path(cfg.out_dir)
        summary = json.loads((out / "training_summary.json").read_text())
        held = {k: v[1] for k, v in splits(cfg).items()}
        summary["heldout"] = evaluate_heldout(out, held, cfg)
        (out / "training_summary.json").write_text(json.dumps(summary, indent=2) + "\n")
        if cfg.update_registry:
            write_card(cfg, summary)
    else:
        summary = train(cfg)
    print(json.dumps({k: summary.get(k) for k in ("parameters", "train_seconds", "hardware", "heldout")}, indent=2))
    return summary


def main_phones(argv: list[str] | None = None) -> dict:
    """``zoo train asr-wav2vec2-bert-phones``: the phone recipe (see :data:`PHONES_DEFAULTS`)."""
    return main(argv, name=PHONES_NAME)


def tune_decoder(
    checkpoint: Path,
    held: dict[str, list[Utterance]],
    lm_weights: list[float],
    word_scores: list[float],
    name: str = NAME,
) -> list[dict]:
    """WER of beam search + LM over a grid of (lm_weight, word_score), acoustic scores computed once.

    The grid is scored on the held-out sets, so the chosen point carries a
    selection bias on them; the README says so next to the numbers.
    """
    import zoo

    from ..decoders import build_decoder
    from ..metrics import score

    card = dataclasses.replace(zoo.info(name), weights={"path": str(checkpoint)})
    model = zoo.from_card(card, device="cpu", decoder="beam")
    net = model.net
    log_probs: dict[str, list[torch.Tensor]] = {}
    with torch.inference_mode():
        for name, utts in held.items():
            log_probs[name] = []
            for u in utts:
                x = zaudio.load(u.path, SR).mono()
                log_probs[name].append(net.log_probs(x[None], torch.tensor([x.numel()]))[0])
    rows = []
    for lw in lm_weights:
        for ws in word_scores:
            decoder = build_decoder("beam-lm", net.vocab, dict(card.params) | {"lm_weight": lw, "word_score": ws})
            row: dict = {"lm_weight": lw, "word_score": ws}
            for name, utts in held.items():
                hyps = [decoder(lp, net.frame_s)[0] for lp in log_probs[name]]
                row[name] = score([u.text for u in utts], hyps)["wer"]
            rows.append(row)
            print(json.dumps(row), flush=True)
    return rows
