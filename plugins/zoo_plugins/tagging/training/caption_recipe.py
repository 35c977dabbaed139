"""Train ``caption-whisper-tiny-esc50``: ``zoo train caption-whisper-tiny-esc50 [--tiny] [--features PATH]``.

A 2-layer GPT-2 decoder (``transformers``) cross-attending to frozen Whisper
tiny.en encoder features, trained on scenes composed from the cached
features of the ESC-50 clips (:mod:`.features`): 1-3 events one after
another (each cropped to 40-100 % of its clip, joined end to end as the task
joins its 5 s windows), where an augmented copy with a second clip mixed in
is an overlapping event. Captions come from :mod:`..grammar` with varied
wording, drawn afresh every step.

Held out: the source recordings of fold
:data:`~zoo_plugins.tagging.data.HELDOUT_FOLD` (the tagger's held-out fold).
Reported on their clean clips: the share of captions naming the clip's sound,
BLEU-4 and CIDEr-D (``pycocoevalcap``) against 5 grammar captions of the
clip's class; and the share of events named in 2-3-event held-out scenes.
BLEU and CIDEr against grammar references measure wording the grammar could
produce, not human-caption quality.
"""

from __future__ import annotations

import json
import math
import platform
import random
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from zoo.train.recipe import apply_args, recipe_parser

from ..captioner import BOS, EOS, PAD, CaptionNet, tokenize
from ..data import FOLDS, HELDOUT_FOLD, fold_of
from ..grammar import SOUNDS, caption_scene, names_sound
from .features import FeatureSet
from .recipe import load_features

__all__ = ["CaptionConfig", "main"]

NAME = "caption-whisper-tiny-esc50"
PLUGIN_DIR = Path(__file__).resolve().parents[1]
BACKBONE = "asr-whisper-tiny-en"


@dataclass
class CaptionConfig:
    steps: int = 1500
    batch: int = 16
    lr: float = 1e-3
    warmup: int = 200
    width: int = 192
    layers: int = 2
    heads: int = 4
    pool: int = 8
    seed: int = 0
    threads: int = 1
    device: str = "cpu"
    variants: int = 2
    beams: int = 4
    eval_scenes: int = 60
    cache: str = "logs/tagging"
    features: str = ""
    data_root: str = "../shared/data"
    out_dir: str = str(PLUGIN_DIR / "checkpoints" / NAME)
    init_from: str = ""
    update_registry: bool = True
    command: str = ""

    @classmethod
    def tiny(cls) -> CaptionConfig:
        return cls(steps=4, batch=4, width=32, layers=1, heads=2, eval_scenes=2, beams=2)


def vocabulary() -> list[str]:
    """Every word the grammar can say, after the special tokens."""
    words: set[str] = {","}
    templates = "then and followed by first before finally while as at the same time in background".split()
    words.update(templates)
    for nouns, verbs, names in SOUNDS.values():
        for phrase in (*nouns, *verbs, *names):
            words.update(tokenize(phrase))
    return [PAD, BOS, EOS, *sorted(words)]


def _scene(fs: FeatureSet, rows: list[int], rng: random.Random, k: int, crop: bool = True):
    """``k`` events from ``rows`` (distinct classes): their frame windows, labels, and the overlap under the first."""
    picks: list[int] = []
    while len(picks) < k:
        i = rows[rng.randrange(len(rows))]
        if all(fs.clips[fs.clip[i]].label != fs.clips[fs.clip[j]].label for j in picks):
            picks.append(i)
    windows = []
    for i in picks:
        f = fs.feats[i]
        if crop and k > 1:
            keep = max(2, int(f.shape[0] * rng.uniform(0.4, 1.0)))
            start = rng.randrange(max(1, f.shape[0] - keep + 1))
            f = f[start : start + keep]
        windows.append(f.float())
    labels = [fs.clips[fs.clip[i]].label for i in picks]
    overlap = fs.clips[fs.mix[picks[0]]].label if fs.mix[picks[0]] >= 0 else None
    return windows, labels, overlap


def _events(rng: random.Random) -> int:
    return rng.choices((1, 2, 3), weights=(0.45, 0.35, 0.2))[0]


def evaluate(net: CaptionNet, fs: FeatureSet, rows: list[int], cfg: CaptionConfig) -> dict:
    """Sound-named rate, BLEU-4 and CIDEr-D on held-out clean clips; events named in held-out scenes.

    The clip numbers come from :func:`~zoo_plugins.tagging.metrics.caption_metrics`, the function
    ``zoo bench`` scores the task with, so the card and the benchmark agree.
    """
    from ..data import Clip
    from ..metrics import caption_metrics
    from ..results import Caption

    rng = random.Random(1234)
    net.eval()
    clean = [i for i in rows if fs.variant[i] == 0]
    clips: list[Clip] = [fs.clips[fs.clip[i]] for i in clean]
    results = [
        Caption(source=c.path, text=net.caption([fs.feats[i].float()], beams=cfg.beams)) for i, c in zip(clean, clips)
    ]
    examples = [{"clip": Path(c.path).name, "label": c.label, "caption": r.text} for c, r in zip(clips[:8], results)]
    clip_metrics = caption_metrics(results, clips)
    scene_named, scene_examples = [], []
    for s in range(cfg.eval_scenes):
        k = 2 + s % 2
        if len({fs.clips[fs.clip[i]].label for i in clean}) < k:
            break
        windows, labels, _ = _scene(fs, clean, rng, k, crop=False)
        text = net.caption(windows, beams=cfg.beams)
        scene_named += [names_sound(text, lab) for lab in labels]
        if s < 4:
            scene_examples.append({"labels": labels, "caption": text})
    return {
        **clip_metrics,
        "scene_events_named": round(sum(scene_named) / len(scene_named), 4) if scene_named else None,
        "scenes": cfg.eval_scenes,
        "examples": examples,
        "scene_examples": scene_examples,
    }


def train(cfg: CaptionConfig, eval_only: bool = False) -> dict:
    torch.set_num_threads(cfg.threads)
    rng = random.Random(cfg.seed)
    torch.manual_seed(cfg.seed)
    fs = load_features(cfg)  # type: ignore[arg-type]
    fold = [fold_of(fs.clips[c].src_file, FOLDS) for c in fs.clip]
    usable = [i for i in range(len(fs.feats)) if fs.variant[i] < cfg.variants]
    tr = [i for i in usable if fold[i] != HELDOUT_FOLD]
    te = [i for i in usable if fold[i] == HELDOUT_FOLD]
    net = CaptionNet(vocabulary(), int(fs.feats[0].shape[-1]), cfg.width, cfg.layers, cfg.heads, cfg.pool)
    # pool the cached frames once (the task pools each window the same way); scenes crop pooled frames
    clean_frames = fs.feats
    fs.feats = [net.pooled(f.float()) for f in clean_frames]
    opt = torch.optim.AdamW(net.parameters(), lr=cfg.lr, weight_decay=0.01)

    def lr_at(step: int) -> float:
        if step < cfg.warmup:
            return (step + 1) / cfg.warmup
        return 0.5 * (1 + math.cos(math.pi * (step - cfg.warmup) / max(1, cfg.steps - cfg.warmup)))

    sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_at)
    t0 = time.time()
    net.train()
    out = Path(cfg.out_dir)
    if eval_only:  # re-measure the checkpoint in --out (its training record stays)
        from safetensors.torch import load_model

        load_model(net, str(out / "model.safetensors"))
        cfg.steps = 0
    for step in range(cfg.steps):
        stretches, captions = [], []
        for _ in range(cfg.batch):
            windows, labels, overlap = _scene(fs, tr, rng, _events(rng))
            stretches.append(windows)
            captions.append(caption_scene(labels, overlap, rng))
        loss = net.loss(stretches, captions, pooled=True)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
        opt.step()
        sched.step()
        if step % 250 == 0 or step == cfg.steps - 1:
            print(f"  step {step}: loss {loss.item():.3f} ({time.time() - t0:.0f} s)")
    seconds = time.time() - t0
    net.eval()
    fs.feats = clean_frames
    if eval_only:
        summary = json.loads((out / "training_summary.json").read_text())
        summary["heldout"] = evaluate(net, fs, te, cfg)
        print(json.dumps(summary["heldout"], indent=2))
        (out / "training_summary.json").write_text(json.dumps(summary, indent=2) + "\n")
        if cfg.update_registry:
            from zoo.train.card import update_card

            held = {k: v for k, v in summary["heldout"].items() if not k.endswith("examples")}
            update_card(
                NAME, metrics={"esc50-dev-heldout": {**held, "split": f"fold {HELDOUT_FOLD} of {FOLDS} by src_file"}}
            )
        return summary
    net.save(out, {"backbone": BACKBONE})
    n_params = sum(p.numel() for p in net.parameters())
    summary: dict = {
        "config": asdict(cfg),
        "parameters": n_params,
        "train_seconds": round(seconds, 1),
        "hardware": f"CPU ({platform.machine()}, {cfg.threads} threads)",
    }
    if te:
        summary["heldout"] = evaluate(net, fs, te, cfg)
        print(json.dumps(summary["heldout"], indent=2))
    (out / "training_summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    if cfg.update_registry and "heldout" in summary:
        from zoo.train.card import update_card

        held = {k: v for k, v in summary["heldout"].items() if not k.endswith("examples")}
        update_card(
            NAME,
            metrics={"esc50-dev-heldout": {**held, "split": f"fold {HELDOUT_FOLD} of {FOLDS} by src_file"}},
            provenance={
                "recipe": cfg.command,
                "train_seconds": summary["train_seconds"],
                "hardware": summary["hardware"],
                "parameters": n_params,
                "steps": cfg.steps,
                "seed": cfg.seed,
            },
        )
    return summary


def main(argv: list[str] | None = None) -> dict:
    p = recipe_parser(f"zoo train {NAME}", __doc__, data_help="folder holding esc50-dev and speech-commands-noise")
    p.add_argument("--features", help="a cached FeatureSet (.pt) to train on instead of <cache>/feats-*.pt")
    p.add_argument("--cache", help="where the encoder features are cached (default logs/tagging)")
    p.add_argument("--variants", type=int, help="waveform copies per clip to use (1: clean only)")
    args = p.parse_args(argv)
    cfg = apply_args(
        CaptionConfig.tiny() if args.tiny else CaptionConfig(),
        args,
        f"zoo train {NAME}",
        argv,
        keys=("features", "cache", "variants"),
    )
    if args.tiny:
        cfg.update_registry = False
    return train(cfg, eval_only=args.eval_only)
