"""Train ``tag-whisper-tiny-esc50``: ``zoo train tag-whisper-tiny-esc50 [--tiny] [--features PATH]``.

A :class:`~zoo_plugins.tagging.arch.PoolHead` on frozen Whisper tiny.en
encoder features of ``esc50-dev`` (195 clips, 49 classes). The encoder runs
once per clip copy (:mod:`.features`: the clean clip plus ``--variants - 1``
waveform-augmented copies, cached under ``--cache``); the head trains on the
cached frames with feature-level augmentation: random crops (time shift),
SpecAugment-like time and channel masks, and mixup between examples.

Validation is by source recording (``src_file``): every clip of a recording
is in one of five folds. The recipe reports the five-fold cross-validated
top-1 accuracy (``esc50-dev-cv``), then trains the shipped head on every fold
but :data:`~zoo_plugins.tagging.data.HELDOUT_FOLD` and measures it on that
fold (``esc50-dev-heldout``, which ``zoo bench`` re-measures end to end).
"""

from __future__ import annotations

import json
import math
import platform
import random
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from zoo.train.recipe import apply_args, recipe_parser

from ..arch import PoolHead, pad_features
from ..data import FOLDS, HELDOUT_FOLD, fold_of
from .features import FeatureSet

__all__ = ["TagConfig", "main", "train_head"]

NAME = "tag-whisper-tiny-esc50"
PLUGIN_DIR = Path(__file__).resolve().parents[1]
BACKBONE = "asr-whisper-tiny-en"


@dataclass
class TagConfig:
    steps: int = 400
    batch: int = 32
    lr: float = 1e-3
    weight_decay: float = 0.05
    hidden: int = 256
    dropout: float = 0.3
    #: frames averaged before the head (4: 50 Hz -> 12.5 Hz)
    stride: int = 4
    warmup: int = 100
    seed: int = 0
    threads: int = 1
    device: str = "cpu"
    activation: str = "softmax"
    #: waveform copies per clip encoded (the first clean); 1 = no waveform augmentation
    variants: int = 12
    #: encoder hidden states the head reads, side by side ("0,1,2,3,4": embeddings and every layer; "": the last)
    encoder_layers: str = "0,1,2,3,4"
    #: pad each clip to Whisper's 30 s window (False: encode it at its own length, ~6x cheaper for 5 s)
    full_window: bool = False
    #: weight of the mixed-in clip's class in a mixed copy's target
    mix_weight: float = 0.2
    mixup_prob: float = 0.5
    time_masks: int = 2
    time_mask_frames: int = 40
    channel_masks: int = 2
    channel_mask_dims: int = 40
    min_crop: float = 0.6
    cv: bool = True
    cache: str = "logs/tagging"
    features: str = ""
    data_root: str = "../shared/data"
    out_dir: str = str(PLUGIN_DIR / "checkpoints" / NAME)
    init_from: str = ""
    update_registry: bool = True
    command: str = ""

    @classmethod
    def tiny(cls) -> TagConfig:
        return cls(steps=20, batch=8, hidden=32, cv=False, variants=1, encoder_layers="", full_window=True)


def encode_options(cfg: Any) -> dict[str, Any]:
    """The backbone ``encode`` keyword arguments a config asks for (none for the backbone's defaults)."""
    options: dict[str, Any] = {}
    if getattr(cfg, "encoder_layers", ""):
        options["layers"] = [int(i) for i in str(cfg.encoder_layers).split(",")]
    if not getattr(cfg, "full_window", True):
        options["full_window"] = False
    return options


def cache_key(cfg: Any) -> str:
    """The feature cache's file stem for a config: its encode options, copies and seed."""
    options = encode_options(cfg)
    layers = "-".join(map(str, options.get("layers", []))) or "last"
    window = "full" if options.get("full_window", True) else "native"
    return f"feats-L{layers}-{window}-v{cfg.variants}-s{cfg.seed}"


def _targets(fs: FeatureSet, labels: list[str], mix_weight: float) -> torch.Tensor:
    index = {name: i for i, name in enumerate(labels)}
    y = torch.zeros(len(fs.feats), len(labels))
    for i, (c, m) in enumerate(zip(fs.clip, fs.mix)):
        own = index[fs.clips[c].label]
        if m >= 0:
            y[i, own] = 1 - mix_weight
            y[i, index[fs.clips[m].label]] += mix_weight
        else:
            y[i, own] = 1.0
    return y


def _augment_batch(
    feats: list[torch.Tensor], y: torch.Tensor, cfg: TagConfig, rng: random.Random, g: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    crops = []
    for f in feats:
        n = f.shape[0]
        keep = max(1, int(n * rng.uniform(cfg.min_crop, 1.0)))
        start = rng.randrange(n - keep + 1)
        crops.append(f[start : start + keep].float())
    x, mask = pad_features(crops)
    for b in range(x.shape[0]):
        n = int(mask[b].sum())
        for _ in range(cfg.time_masks):
            w = rng.randrange(cfg.time_mask_frames + 1)
            if n - w > 4:
                s = rng.randrange(n - w)
                mask[b, s : s + w] = False
        for _ in range(cfg.channel_masks):
            w = rng.randrange(min(cfg.channel_mask_dims, x.shape[-1] // 4) + 1)
            s = rng.randrange(x.shape[-1] - w + 1)
            x[b, :, s : s + w] = 0.0
    if rng.random() < cfg.mixup_prob:
        lam = float(torch.distributions.Beta(0.4, 0.4).sample())
        lam = max(lam, 1 - lam)
        perm = torch.randperm(x.shape[0], generator=g)
        x = lam * x + (1 - lam) * x[perm]
        mask = mask | mask[perm]
        y = lam * y + (1 - lam) * y[perm]
    return x, mask, y


def new_head(fs: FeatureSet, labels: list[str], cfg: TagConfig) -> PoolHead:
    """A freshly initialised head for ``fs``'s features (seeded by ``cfg.seed``)."""
    torch.manual_seed(cfg.seed)
    groups = len(encode_options(cfg).get("layers", [])) or 1
    return PoolHead(fs.feats[0].shape[-1], len(labels), cfg.hidden, cfg.dropout, cfg.stride, groups)


def train_head(
    fs: FeatureSet, rows: list[int], labels: list[str], cfg: TagConfig, log=print, model: nn.Module | None = None
) -> tuple[nn.Module, float]:
    """Train a head on copies ``rows`` of ``fs``; return it (in eval mode) and the training seconds.

    ``model``: any ``(features, mask) -> logits`` module to train instead of a new :class:`PoolHead`
    (e.g. :class:`.finetune.TunedTop`, which also tunes encoder layers).
    """
    rng = random.Random(cfg.seed)
    g = torch.Generator().manual_seed(cfg.seed)
    y_all = _targets(fs, labels, cfg.mix_weight)
    if model is None:
        head = new_head(fs, labels, cfg)  # seeds torch with cfg.seed
    else:
        head = model
        torch.manual_seed(cfg.seed)
    groups = head.param_groups(cfg.lr) if hasattr(head, "param_groups") else head.parameters()
    opt = torch.optim.AdamW(groups, lr=cfg.lr, weight_decay=cfg.weight_decay)

    def lr_at(step: int) -> float:
        if step < cfg.warmup:
            return (step + 1) / cfg.warmup
        return 0.5 * (1 + math.cos(math.pi * (step - cfg.warmup) / max(1, cfg.steps - cfg.warmup)))

    sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_at)
    t0 = time.time()
    head.train()
    for step in range(cfg.steps):
        pick = [rows[rng.randrange(len(rows))] for _ in range(cfg.batch)]
        x, mask, y = _augment_batch([fs.feats[i] for i in pick], y_all[pick], cfg, rng, g)
        logits = head(x, mask)
        if cfg.activation == "sigmoid":
            loss = torch.nn.functional.binary_cross_entropy_with_logits(logits, y.clamp(max=1.0))
        else:
            loss = -(y * logits.log_softmax(-1)).sum(-1).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        if step % 500 == 0 or step == cfg.steps - 1:
            log(f"  step {step}: loss {loss.item():.3f}")
    return head.eval(), time.time() - t0


@torch.no_grad()
def predict(head: nn.Module, feats: list[torch.Tensor], batch: int = 32) -> torch.Tensor:
    """Class scores (softmax) of clean clip features, one row each."""
    out = []
    for k in range(0, len(feats), batch):
        x, mask = pad_features([f.float() for f in feats[k : k + batch]])
        out.append(head(x, mask).float().softmax(-1))
    return torch.cat(out)


def scores(head: nn.Module, fs: FeatureSet, rows: list[int], labels: list[str]) -> dict:
    from ..metrics import average_precision

    probs = predict(head, [fs.feats[i] for i in rows])
    truth = [labels.index(fs.clips[fs.clip[i]].label) for i in rows]
    correct = [int(p.argmax()) == t for p, t in zip(probs, truth)]
    aps = [average_precision(probs[:, c].tolist(), [t == c for t in truth]) for c in sorted(set(truth))]
    return {"correct": correct, "map": sum(aps) / len(aps) if aps else float("nan")}


def load_features(cfg: TagConfig) -> FeatureSet:
    """The cached features (``--features``, else ``<cache>/<cache_key>*.pt`` joined), computing them if missing."""
    from .features import encode_clips, noise_pool

    key = cache_key(cfg)
    paths = [Path(cfg.features)] if cfg.features else sorted(Path(cfg.cache).glob(f"{key}*.pt"))
    if not paths:
        import zoo

        from ..data import esc50

        data = Path(cfg.data_root)
        encoder = zoo.load(BACKBONE, device=cfg.device)
        fs = encode_clips(
            encoder,
            esc50(data / "esc50-dev"),
            variants=cfg.variants,
            folds=FOLDS,
            noises=noise_pool(data),
            seed=cfg.seed,
            encode_options=encode_options(cfg),
        )
        fs.save(Path(cfg.cache) / f"{key}.pt")
        return fs
    parts = [FeatureSet.load(p) for p in paths]
    fs = FeatureSet(parts[0].clips, [], [], [], [])
    for p in parts:
        fs.feats += p.feats
        fs.clip += p.clip
        fs.variant += p.variant
        fs.mix += p.mix
    return fs


def train(cfg: TagConfig) -> dict:
    from safetensors.torch import save_file

    torch.set_num_threads(cfg.threads)
    fs = load_features(cfg)
    labels = sorted({c.label for c in fs.clips})
    fold = [fold_of(fs.clips[c].src_file, FOLDS) for c in fs.clip]
    usable = [i for i in range(len(fs.feats)) if fs.variant[i] < cfg.variants]
    summary: dict = {"config": asdict(cfg), "labels": len(labels), "clips": len(fs.clips)}
    if cfg.cv:
        correct, maps = [], []
        for f in range(FOLDS):
            tr = [i for i in usable if fold[i] != f]
            te = [i for i in usable if fold[i] == f and fs.variant[i] == 0]
            if not te or not tr:
                continue
            head, _ = train_head(fs, tr, labels, cfg, log=lambda s: None)
            s = scores(head, fs, te, labels)
            correct += s["correct"]
            maps.append(s["map"])
            print(f"fold {f}: top-1 {sum(s['correct']) / len(te):.3f} on {len(te)} clips, mAP {s['map']:.3f}")
        acc = sum(correct) / len(correct)
        summary["cv"] = {
            "cv_accuracy": round(acc, 4),
            "cv_accuracy_stderr": round(math.sqrt(acc * (1 - acc) / len(correct)), 4),
            "cv_map": round(sum(maps) / len(maps), 4),
            "clips": len(correct),
            "folds": FOLDS,
            "split": "5 folds by src_file (zoo_plugins.tagging.data.fold_of)",
        }
        print(f"cross-validated top-1 {acc:.4f} over {len(correct)} clips")
    tr = [i for i in usable if fold[i] != HELDOUT_FOLD]
    te = [i for i in usable if fold[i] == HELDOUT_FOLD and fs.variant[i] == 0]
    head, seconds = train_head(fs, tr, labels, cfg)
    out = Path(cfg.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    save_file({k: v.contiguous() for k, v in head.state_dict().items()}, out / "model.safetensors")
    config = {
        "dim": int(fs.feats[0].shape[-1]),
        "hidden": cfg.hidden,
        "dropout": cfg.dropout,
        "stride": cfg.stride,
        "groups": head.groups,
        "encode_options": encode_options(cfg),
        "labels": labels,
        "activation": cfg.activation,
        "backbone": BACKBONE,
    }
    (out / "config.json").write_text(json.dumps(config, indent=2) + "\n")
    n_params = sum(p.numel() for p in head.parameters())
    summary |= {
        "head_parameters": n_params,
        "train_seconds": round(seconds, 1),
        "hardware": f"CPU ({platform.machine()}, {cfg.threads} threads)",
        "train_copies": len(tr),
    }
    if te:
        s = scores(head, fs, te, labels)
        acc = sum(s["correct"]) / len(te)
        summary["heldout"] = {
            "accuracy": round(acc, 4),
            "accuracy_stderr": round(math.sqrt(acc * (1 - acc) / len(te)), 4),
            "map": round(s["map"], 4),
            "clips": len(te),
            "classes": len({fs.clips[fs.clip[i]].label for i in te}),
        }
        print(f"held-out fold {HELDOUT_FOLD}: top-1 {acc:.4f} on {len(te)} clips")
    (out / "training_summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    if cfg.update_registry:
        from zoo.train.card import update_card

        metrics = {}
        if "heldout" in summary:
            metrics["esc50-dev-heldout"] = summary["heldout"]
        if "cv" in summary:
            metrics["esc50-dev-cv"] = summary["cv"]
        update_card(
            NAME,
            metrics=metrics,
            provenance={
                "recipe": cfg.command,
                "train_seconds": summary["train_seconds"],
                "hardware": summary["hardware"],
                "head_parameters": n_params,
                "steps": cfg.steps,
                "seed": cfg.seed,
                "variants": cfg.variants,
                "activation": cfg.activation,
            },
        )
    return summary


def main(argv: list[str] | None = None) -> dict:
    p = recipe_parser(f"zoo train {NAME}", __doc__, data_help="folder holding esc50-dev and speech-commands-noise")
    p.add_argument("--features", help="a cached FeatureSet (.pt) to train on instead of <cache>/feats-*.pt")
    p.add_argument("--cache", help="where the encoder features are cached (default logs/tagging)")
    p.add_argument("--variants", type=int, help="waveform copies per clip to use (1: clean only)")
    p.add_argument("--activation", choices=("softmax", "sigmoid"))
    p.add_argument("--hidden", type=int)
    p.add_argument("--encoder-layers", help='encoder hidden states to read, e.g. "0,1,2,3,4" ("": the last)')
    p.add_argument("--full-window", action="store_true", default=None, help="pad clips to Whisper's 30 s window")
    p.add_argument("--no-cv", dest="cv", action="store_false", default=None, help="skip the 5-fold estimate")
    args = p.parse_args(argv)
    cfg = apply_args(
        TagConfig.tiny() if args.tiny else TagConfig(),
        args,
        f"zoo train {NAME}",
        argv,
        keys=("features", "cache", "variants", "activation", "hidden", "cv", "encoder_layers", "full_window"),
    )
    if args.tiny:
        cfg.update_registry = False
    summary = train(cfg)
    print(json.dumps({k: summary[k] for k in ("cv", "heldout", "head_parameters") if k in summary}, indent=2))
    return summary
