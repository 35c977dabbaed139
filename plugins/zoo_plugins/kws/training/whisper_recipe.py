"""Train ``kws-whisper-tiny``: ``zoo train kws-whisper-tiny [--tiny] [--clips N] [--epochs N]``.

A :class:`zoo.heads.PoolHead` on the frozen Whisper tiny.en
encoder (``asr-whisper-tiny-en``), every hidden state side by side, each 1 s
clip encoded at its own length. Same data and augmentation as the
``kws-speech-embedding`` recipe (synthetic voices, real unknown words and
noise, speed perturbation, the training half of ``speech-commands-dev`` split
by speaker), plus the wake-word recordings as real ``_unknown_`` words.
``--clips`` augmented clips are encoded once (the costly part: ~55 ms a clip
with its augmentation, on one core) and stored averaged 4 frames at a time,
as the head averages
them at inference; the head then trains for ``--epochs`` on the stored
features with channel masks and feature noise. Seeded; the held-out accuracy,
measured through the zoo's own loader and runner, goes into the card.
"""

from __future__ import annotations

import json
import platform
import time
from pathlib import Path

import torch

from zoo.train.recipe import apply_args, recipe_parser

from ..data import TRAIN_SHARE
from ..task import LABELS
from .config import PLUGIN_DIR, SR, RecipeConfig
from .pools import Augmenter
from .recipe import evaluate, prepare, split_name

__all__ = ["main"]

NAME = "kws-whisper-tiny"
BACKBONE = "asr-whisper-tiny-en"
ENCODE = {"layers": [0, 1, 2, 3, 4], "full_window": False}
#: encoder frames averaged before the head (50 Hz -> 12.5 Hz)
STRIDE = 4


def _encode_pool(aug: Augmenter, n: int, encoder, batch: int = 64) -> tuple[torch.Tensor, torch.Tensor]:
    from tqdm.auto import tqdm

    from zoo.heads import stride_average

    feats, labels = [], []
    for start in tqdm(range(0, n, batch), desc="augment + encode", unit="batch"):
        x, y = aug.batch(min(batch, n - start))
        with torch.inference_mode():
            f = torch.stack(encoder.net.encode(x, torch.full((len(x),), x.shape[1]), SR, **ENCODE))
        f, _ = stride_average(f, torch.ones(f.shape[:2], dtype=torch.bool), STRIDE)
        feats.append(f.half())
        labels.append(y)
    return torch.cat(feats), torch.cat(labels)


def _augment(x: torch.Tensor, g: torch.Generator, groups: int) -> torch.Tensor:
    """Feature noise and two channel masks (up to 10 % of each block's dims) per example."""
    x = x + 0.05 * torch.randn(x.shape, generator=g) * x.std(dim=(1, 2), keepdim=True)
    dim = x.shape[-1] // groups
    for _ in range(2):
        width = torch.randint(0, dim // 10 + 1, (x.shape[0], 1, 1), generator=g)
        start = torch.randint(0, x.shape[-1], (x.shape[0], 1, 1), generator=g)
        idx = torch.arange(x.shape[-1]).view(1, 1, -1)
        x = x.masked_fill((idx >= start) & (idx < start + width), 0.0)
    return x


def train(cfg: RecipeConfig, clips: int, epochs: int, hidden: int = 256) -> dict:
    from safetensors.torch import save_file
    from tqdm.auto import tqdm

    import zoo
    from zoo.heads import PoolHead

    t0 = time.time()
    pools, aug, heldout = prepare(cfg)
    encoder = zoo.load(BACKBONE)
    x, y = _encode_pool(aug, clips, encoder)
    encode_s = time.time() - t0
    groups = len(ENCODE["layers"])
    head = PoolHead(x.shape[-1], len(LABELS), hidden, dropout=0.3, stride=1, groups=groups)
    opt = torch.optim.AdamW(head.parameters(), lr=1e-3, weight_decay=0.05)
    batch = min(256, len(y))
    steps_per_epoch = max(1, len(y) // batch)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=2e-3, total_steps=epochs * steps_per_epoch)
    g = torch.Generator().manual_seed(cfg.seed)
    mask = torch.ones(batch, x.shape[1], dtype=torch.bool)
    head.train()
    for _ in tqdm(range(epochs), desc=f"training {NAME}", unit="epoch"):
        order = torch.randperm(len(y), generator=g)
        for k in range(steps_per_epoch):
            idx = order[k * batch : (k + 1) * batch]
            logits = head(_augment(x[idx].float(), g, groups), mask[: len(idx)])
            loss = torch.nn.functional.cross_entropy(logits, y[idx], label_smoothing=0.1)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
    head.eval()
    head.stride = STRIDE  # inference averages the 50 Hz frames as the stored features were
    out = Path(cfg.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    save_file({k: v.contiguous() for k, v in head.state_dict().items()}, str(out / "model.safetensors"))
    config = {
        "model_type": "whisper-kws-head",
        "dim": int(x.shape[-1]),
        "hidden": hidden,
        "dropout": 0.3,
        "stride": STRIDE,
        "groups": groups,
        "encode_options": ENCODE,
        "labels": list(LABELS),
        "activation": "softmax",
        "clip_samples": SR,
        "backbone": BACKBONE,
    }
    (out / "config.json").write_text(json.dumps(config, indent=2) + "\n")
    n_params = sum(p.numel() for p in head.parameters())
    summary = {
        "recipe": cfg.command,
        "clips": clips,
        "epochs": epochs,
        "head_parameters": n_params,
        "encode_seconds": round(encode_s, 1),
        "train_seconds": round(time.time() - t0, 1),
        "hardware": f"CPU ({platform.machine()}, {torch.get_num_threads()} threads)",
        "pool_counts": pools.counts(),
        "heldout_clips": len(heldout),
    }
    if heldout:
        summary["heldout"] = evaluate(out, heldout, cfg, architecture="whisper-kws-head")
    (out / "training_summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    if cfg.update_registry and heldout:
        from zoo.train.card import update_card

        update_card(
            NAME,
            metrics={
                "speech-commands-dev-heldout": {
                    "accuracy": summary["heldout"]["accuracy"],
                    "clips": len(heldout),
                    "speakers": len({e.speaker for e in heldout}),
                    "split": split_name(cfg.train_share),
                }
            },
            provenance={
                "recipe": cfg.command,
                "train_seconds": summary["train_seconds"],
                "hardware": summary["hardware"],
                "head_parameters": n_params,
                "clips": clips,
                "epochs": epochs,
                "seed": cfg.seed,
                "real_fraction": cfg.real_fraction,
                "speed_prob": cfg.speed_prob,
            },
        )
    return summary


def main(argv: list[str] | None = None) -> dict:
    flags = ("tiny", "seed", "threads", "out", "data", "no-registry")
    data_help = "folder holding speech-commands-dev, -extra, -noise, fsdd and wake-words"
    p = recipe_parser(f"zoo train {NAME}", __doc__, data_help=data_help, flags=flags)
    p.add_argument("--clips", type=int, default=24000)
    p.add_argument("--epochs", type=int, default=30)
    p.add_argument("--real-fraction", type=float, default=0.7, help="share of keyword draws from real recordings")
    p.add_argument("--speed-prob", type=float, default=0.7, help="chance a real clip is sped up or slowed down")
    p.add_argument("--train-share", type=float, default=TRAIN_SHARE, help="share of dev clips (by speaker) to train on")
    args = p.parse_args(argv)
    cfg = RecipeConfig.tiny() if args.tiny else RecipeConfig()
    cfg.name = NAME
    cfg.out_dir = str(PLUGIN_DIR / "checkpoints" / NAME)
    cfg.wake_words = True
    cfg = apply_args(cfg, args, f"zoo train {NAME}", argv, keys=("real_fraction", "speed_prob", "train_share"))
    if args.tiny:
        cfg.update_registry = False
    clips, epochs = (32, 2) if args.tiny else (args.clips, args.epochs)
    summary = train(cfg, clips, epochs)
    print(
        json.dumps({k: summary[k] for k in ("head_parameters", "train_seconds", "heldout") if k in summary}, indent=2)
    )
    return summary
