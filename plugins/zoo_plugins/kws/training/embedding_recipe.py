"""Train ``kws-speech-embedding``: ``zoo train kws-speech-embedding [--tiny] [--clips N]``.

Same data and augmentation as the ``kws-wav2vec2`` recipe (see ``recipe.py``),
plus speed perturbation of the real recordings (``--speed-prob``, 0.7):
synthetic voices for every class, real unknown words and noise, and the
training half of ``speech-commands-dev`` split by speaker. ``--clips`` augmented
1 s clips are embedded once with the frozen speech-embedding front end, then
the head is trained on the stored embeddings for ``--epochs`` epochs. Seeded;
the held-out accuracy goes into the registry card.
"""

from __future__ import annotations

import json
import platform
import time
from pathlib import Path

import torch

from zoo.train.recipe import apply_args, recipe_parser

from ..data import TRAIN_SHARE
from ..speech_embedding import EmbeddingHead, SpeechEmbedding
from ..task import LABELS
from .config import PLUGIN_DIR, SR, RecipeConfig
from .pools import Augmenter
from .recipe import evaluate, prepare, split_name

__all__ = ["main"]

NAME = "kws-speech-embedding"
PAD_S = 0.25


def _embed_pool(
    aug: Augmenter, n: int, embedder: SpeechEmbedding, batch: int = 256
) -> tuple[torch.Tensor, torch.Tensor]:
    from tqdm.auto import tqdm

    pad = int(PAD_S * SR)
    embs, labels = [], []
    for start in tqdm(range(0, n, batch), desc="augment + embed", unit="batch"):
        x, y = aug.batch(min(batch, n - start))
        x = torch.nn.functional.pad(x, (pad, pad))
        embs.append(torch.from_numpy(embedder(x.numpy())).half())
        labels.append(y)
    return torch.cat(embs), torch.cat(labels)


def train(cfg: RecipeConfig, clips: int, epochs: int, hidden: int = 256) -> dict:
    from safetensors.torch import save_file
    from tqdm.auto import tqdm

    t0 = time.time()
    pools, aug, heldout = prepare(cfg)
    embedder = SpeechEmbedding(threads=max(1, torch.get_num_threads()))
    x, y = _embed_pool(aug, clips, embedder)
    n_windows = x.shape[1]
    head = EmbeddingHead(n_windows, len(LABELS), hidden)
    opt = torch.optim.AdamW(head.parameters(), lr=1e-3, weight_decay=0.05)
    steps_per_epoch = max(1, len(y) // 256)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=2e-3, total_steps=epochs * steps_per_epoch)
    g = torch.Generator().manual_seed(cfg.seed)
    head.train()
    for _ in tqdm(range(epochs), desc=f"training {NAME}", unit="epoch"):
        order = torch.randperm(len(y), generator=g)
        for k in range(steps_per_epoch):
            idx = order[k * 256 : (k + 1) * 256]
            emb = x[idx].float()
            emb = emb + 0.05 * torch.randn(emb.shape, generator=g) * emb.std()  # feature noise
            loss = torch.nn.functional.cross_entropy(head(emb), y[idx], label_smoothing=0.1)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
    head.eval()
    out = Path(cfg.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    save_file({k: v.contiguous() for k, v in head.state_dict().items()}, str(out / "model.safetensors"))
    config = {
        "model_type": "speech-embedding-head",
        "labels": list(LABELS),
        "num_windows": n_windows,
        "hidden": hidden,
        "clip_samples": SR,
        "pad_samples": int(PAD_S * SR),
        "front_end": "openwakeword==0.4.0 resources/models/{melspectrogram,embedding_model}.onnx",
    }
    (out / "config.json").write_text(json.dumps(config, indent=2) + "\n")
    train_s = time.time() - t0
    n_params = sum(p.numel() for p in head.parameters())
    summary = {
        "recipe": f"zoo train {NAME}",
        "clips": clips,
        "epochs": epochs,
        "head_parameters": n_params,
        "train_seconds": round(train_s, 1),
        "hardware": f"CPU ({platform.machine()}, {torch.get_num_threads()} threads)",
        "pool_counts": pools.counts(),
        "heldout_clips": len(heldout),
    }
    if heldout:
        summary["heldout"] = evaluate(out, heldout, cfg, architecture="speech-embedding-head")
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
    data_help = "folder holding speech-commands-dev, -extra, -noise and fsdd"
    p = recipe_parser(f"zoo train {NAME}", __doc__, data_help=data_help, flags=flags)
    p.add_argument("--clips", type=int, default=36000)
    p.add_argument("--epochs", type=int, default=40)
    p.add_argument("--real-fraction", type=float, default=0.7, help="share of keyword draws from real recordings")
    p.add_argument("--speed-prob", type=float, default=0.7, help="chance a real clip is sped up or slowed down")
    p.add_argument("--train-share", type=float, default=TRAIN_SHARE, help="share of dev clips (by speaker) to train on")
    args = p.parse_args(argv)
    cfg = RecipeConfig.tiny() if args.tiny else RecipeConfig()
    cfg.name = NAME
    cfg.out_dir = str(PLUGIN_DIR / "checkpoints" / NAME)
    cfg.seed = 0
    cfg = apply_args(cfg, args, f"zoo train {NAME}", argv, keys=("real_fraction", "speed_prob", "train_share"))
    if args.tiny:
        cfg.update_registry = False
    clips, epochs = (64, 2) if args.tiny else (args.clips, args.epochs)
    summary = train(cfg, clips, epochs)
    print(
        json.dumps({k: summary[k] for k in ("head_parameters", "train_seconds", "heldout") if k in summary}, indent=2)
    )
    return summary
