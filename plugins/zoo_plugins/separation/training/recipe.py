"""Train a 2-speaker separator from asteroid on mixtures of real read speech, in resumable stages.

``zoo train sep-sudormrf-8k`` decodes the read speech under ``--data``
(speechocean762-train, librispeech-speakers, cathy) at the model's rate once,
holds out 15 % of each corpus's speakers, and trains on mixtures drawn on the
fly (two different speakers, random crops, 0-5 dB apart, random level) with
the permutation-invariant negative SI-SDR. Every ``--val-every`` steps it
scores fixed mixtures of held-out speakers, keeps the best weights in
``--out`` (``config.json`` + ``model.safetensors``) and the state to resume
from in ``--out/last``; the learning rate halves when validation stalls.

A stage is bounded by ``--minutes``; ``--resume`` continues the last stage
(weights, optimiser, step, history), ``--init-from DIR`` warm-starts from
other weights (e.g. after a change of segment length). At the end the best
weights are scored on 100 held-out mixtures of whole utterances through
``zoo.load`` and the card is updated (``--eval-only`` re-measures the
checkpoint in ``--out`` without training).
"""

from __future__ import annotations

import json
import math
import os
import random
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch

from ..arch import Separator, build_asteroid, save_separator
from ..data import speech_pool, split_pool
from ..metrics import pit_scores
from .pool import checkpoint_dir, load_pool

__all__ = ["ARCHITECTURES", "SepConfig", "main", "train"]

HERE = Path(__file__).resolve().parents[1]

#: the architectures compared on this machine, by the name the recipe takes (asteroid class, arguments)
ARCHITECTURES: dict[str, tuple[str, dict[str, Any]]] = {
    "sudormrf": (
        "SuDORMRFImprovedNet",
        {"bn_chan": 128, "num_blocks": 8, "upsampling_depth": 4, "n_filters": 256, "kernel_size": 21, "stride": 10},
    ),
    "dprnn": (
        "DPRNNTasNet",
        {"n_filters": 64, "kernel_size": 16, "stride": 8, "chunk_size": 100, "hop_size": 50, "n_repeats": 4,
         "bn_chan": 64, "hid_size": 64},
    ),
    "convtasnet": (
        "ConvTasNet",
        {"n_blocks": 6, "n_repeats": 2, "bn_chan": 128, "hid_chan": 256, "skip_chan": 128, "n_filters": 256,
         "kernel_size": 16, "stride": 8},
    ),
}  # fmt: skip


@dataclass
class SepConfig:
    name: str = "sep-sudormrf-8k"
    arch: str = "sudormrf"
    sample_rate: int = 8000
    segment_s: float = 2.0
    batch_size: int = 4
    steps: int = 1_000_000  # a stage usually ends on --minutes
    minutes: float = 60.0
    lr: float = 1e-3
    warmup: int = 0
    patience: int = 4  # validations without improvement before the learning rate halves
    val_every: int = 200
    val_mixtures: int = 40
    clip: float = 5.0
    seed: int = 0
    threads: int = 2
    device: str = "cpu"
    data_root: str = os.environ.get("ZOO_DATA", str(HERE.parents[2].parent / "shared" / "data"))
    out_dir: str = ""
    init_from: str | None = None
    resume: bool = False
    eval_mixtures: int = 100
    update_registry: bool = True
    command: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def tiny(cls) -> SepConfig:
        return cls(steps=6, minutes=2, segment_s=0.5, batch_size=2, val_every=3, val_mixtures=2, eval_mixtures=2)


def _model_config(cfg: SepConfig) -> dict[str, Any]:
    cls, args = ARCHITECTURES[cfg.arch]
    return {"asteroid_class": cls, "args": {"n_src": 2, **args, "sample_rate": cfg.sample_rate},
            "sample_rate": cfg.sample_rate, "n_src": 2, "arch": cfg.arch}  # fmt: skip


def _val_set(held: Any, cfg: SepConfig) -> tuple[torch.Tensor, torch.Tensor]:
    return held.batch(cfg.val_mixtures, int(4.0 * cfg.sample_rate), random.Random(1234))


@torch.inference_mode()
def validate(net: Separator, mixes: torch.Tensor, sources: torch.Tensor) -> float:
    """Mean SI-SDRi (dB) over fixed validation mixtures."""
    net.eval()
    scores = [pit_scores(net(m[None])[0], s, m)["si_sdri"] for m, s in zip(mixes, sources)]
    net.train()
    return float(sum(scores) / len(scores))


def _save_state(out: Path, net: Separator, opt: torch.optim.Optimizer, trainer: dict[str, Any]) -> None:
    from safetensors.torch import save_file

    last = checkpoint_dir(out)
    save_separator(net.model, net.config, last)
    flat = {}
    for pid, st in opt.state_dict()["state"].items():
        for k, v in st.items():
            flat[f"{pid}.{k}"] = v.detach().cpu().reshape(-1) if v.dim() == 0 else v.detach().cpu().contiguous()
    save_file(flat, str(last / "optimizer.safetensors"))
    (last / "trainer.json").write_text(json.dumps(trainer, indent=1))


def _load_state(out: Path, net: Separator, opt: torch.optim.Optimizer) -> dict[str, Any]:
    from safetensors.torch import load_file, load_model

    last = checkpoint_dir(out)
    load_model(net.model, str(last / "model.safetensors"))
    flat = load_file(str(last / "optimizer.safetensors"))
    sd = opt.state_dict()
    state: dict[int, dict[str, torch.Tensor]] = {}
    for key, v in flat.items():
        pid, k = key.split(".", 1)
        state.setdefault(int(pid), {})[k] = v.reshape(()) if k == "step" else v
    sd["state"] = state
    opt.load_state_dict(sd)
    return json.loads((last / "trainer.json").read_text())


def train(cfg: SepConfig) -> dict[str, Any]:
    from asteroid.losses import PITLossWrapper, pairwise_neg_sisdr

    from zoo.train.loop import hardware_name
    from zoo.train.stages import with_earlier_stages

    torch.manual_seed(cfg.seed)
    torch.set_num_threads(cfg.threads)
    out = Path(cfg.out_dir or HERE / "checkpoints" / cfg.name)
    train_files, held_files = split_pool(speech_pool(cfg.data_root))
    if not train_files or not held_files:
        raise FileNotFoundError(f"no read speech under {cfg.data_root} (speechocean762-train/, librispeech-speakers/)")
    if cfg.extra.get("tiny"):
        train_files, held_files = train_files[::100], held_files[::20]  # a few files of many speakers
    pool = load_pool(train_files, cfg.sample_rate)
    held = load_pool(held_files, cfg.sample_rate)
    print(f"{len(pool.speaker_names)} training speakers ({len(train_files)} files), "
          f"{len(held.speaker_names)} held-out speakers", flush=True)  # fmt: skip

    config = _model_config(cfg)
    net = Separator(build_asteroid(config["asteroid_class"], config["args"]), config).train()
    if cfg.init_from:
        from safetensors.torch import load_model

        load_model(net.model, str(Path(cfg.init_from) / "model.safetensors"))
    opt = torch.optim.Adam(net.parameters(), lr=cfg.lr)
    trainer: dict[str, Any] = {"step": 0, "best": -math.inf, "stale": 0, "lr": cfg.lr, "history": [], "seconds": 0.0}
    if cfg.resume and (checkpoint_dir(out) / "trainer.json").is_file():
        trainer = _load_state(out, net, opt)
        print(f"resuming at step {trainer['step']} (best {trainer['best']:.2f} dB)", flush=True)
        if cfg.extra.get("lr_given"):  # a new stage may reset the rate the plateau rule lowered
            trainer["lr"], trainer["stale"] = cfg.lr, 0
    for g in opt.param_groups:
        g["lr"] = trainer["lr"]
    loss_fn = PITLossWrapper(pairwise_neg_sisdr, pit_from="pw_mtx")
    val_mix, val_src = _val_set(held, cfg)
    rng = random.Random(cfg.seed * 1000 + trainer["step"])
    n = int(cfg.segment_s * cfg.sample_rate)
    ema, stage_steps, stage_start = None, 0, time.time()
    base_seconds = trainer["seconds"]
    while trainer["step"] < cfg.steps and (time.time() - stage_start) < cfg.minutes * 60:
        mix, src = pool.batch(cfg.batch_size, n, rng)
        loss = loss_fn(net(mix), src)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), cfg.clip)
        opt.step()
        trainer["step"] += 1
        stage_steps += 1
        value = loss.item()
        ema = value if ema is None else 0.98 * ema + 0.02 * value
        if trainer["step"] % cfg.val_every == 0:
            score = validate(net, val_mix, val_src)
            trainer["seconds"] = base_seconds + time.time() - stage_start
            trainer["history"].append({"step": trainer["step"], "loss_ema": round(ema, 3),
                                       "val_si_sdri": round(score, 2), "lr": trainer["lr"],
                                       "minutes": round(trainer["seconds"] / 60, 1)})  # fmt: skip
            print(json.dumps(trainer["history"][-1]), flush=True)
            if score > trainer["best"]:
                trainer["best"], trainer["stale"] = score, 0
                save_separator(net.model, config, out)
            else:
                trainer["stale"] += 1
                if trainer["stale"] >= cfg.patience:
                    trainer["lr"], trainer["stale"] = trainer["lr"] / 2, 0
                    for g in opt.param_groups:
                        g["lr"] = trainer["lr"]
            _save_state(out, net, opt, trainer)
    trainer["seconds"] = base_seconds + time.time() - stage_start
    if not (out / "model.safetensors").is_file():  # a stage shorter than one validation
        save_separator(net.model, config, out)
    _save_state(out, net, opt, trainer)

    summary: dict[str, Any] = {
        "recipe": cfg.command or f"zoo train {cfg.name}",
        "config": {k: v for k, v in asdict(cfg).items() if k != "extra"},
        "parameters": sum(p.numel() for p in net.parameters()),
        "steps_done": trainer["step"],
        "stage_steps": stage_steps,
        "train_seconds": round(trainer["seconds"], 1),
        "hours_of_audio_seen": round(trainer["step"] * cfg.batch_size * cfg.segment_s / 3600, 2),
        "hardware": hardware_name(torch.device(cfg.device)),
        "final_loss_ema": round(ema, 3) if ema is not None else None,
        "best_val_si_sdri": round(trainer["best"], 2),
        "training_speakers": len(pool.speaker_names),
        "heldout_speakers": len(held.speaker_names),
        "history": trainer["history"],
    }
    if cfg.init_from:
        summary = with_earlier_stages(summary, cfg.init_from)
    (out / "training_summary.json").write_text(json.dumps(summary, indent=1))
    summary["metrics"] = evaluate(cfg, out)
    print(json.dumps(summary["metrics"]), flush=True)
    return summary


def evaluate(cfg: SepConfig, out: Path) -> dict[str, Any]:
    """Score the best weights on held-out mixtures of whole utterances; update the card when registered."""
    import zoo

    if cfg.eval_mixtures <= 0:
        return {}
    from ..data import heldout_mixtures
    from ..metrics import separation_metrics

    examples = heldout_mixtures(cfg.data_root, cfg.eval_mixtures, cfg.sample_rate)
    name = cfg.name if cfg.name in zoo.list_models() else None
    if name and Path(cfg.out_dir or out).resolve() == (HERE / "checkpoints" / cfg.name).resolve():
        model = zoo.load(name)
    else:  # an unregistered or relocated run: the task over these weights, through the same runner
        card = zoo.ModelCard(name=cfg.name, task="source-separation", architecture="asteroid",
                             weights={"path": str(out)}, sample_rate=cfg.sample_rate, license="MIT",
                             provenance={"recipe": cfg.command})  # fmt: skip
        model = zoo.from_card(card)
    metrics = separation_metrics(model([e.path for e in examples]), examples)
    if cfg.update_registry and not cfg.extra.get("tiny") and cfg.name in zoo.list_models():
        from zoo.train.card import update_card

        trained = json.loads((out / "training_summary.json").read_text())
        update_card(cfg.name, {"separation-heldout": metrics},
                    {"recipe": trained["recipe"], "steps": trained["steps_done"],
                     "train_seconds": trained["train_seconds"], "hardware": trained["hardware"],
                     "hours_of_audio_seen": trained["hours_of_audio_seen"]})  # fmt: skip
    return metrics


def main(argv: list[str] | None = None) -> dict[str, Any]:
    from zoo.train.recipe import apply_args, recipe_parser

    p = recipe_parser("zoo train sep-sudormrf-8k", __doc__, data_help="folder holding the read-speech corpora")
    p.add_argument("--arch", choices=sorted(ARCHITECTURES))
    p.add_argument("--name", help="the card the run trains (default: sep-sudormrf-8k)")
    p.add_argument("--minutes", type=float, help="this stage's time budget (default 60)")
    p.add_argument("--segment-s", type=float, help="training crop length in seconds (default 2)")
    p.add_argument("--batch-size", type=int)
    p.add_argument("--val-every", type=int)
    p.add_argument("--resume", action="store_true", help="continue from --out/last (with --lr: at that rate)")
    p.add_argument("--patience", type=int, help="validations without a new best before the rate halves (default 4)")
    args = p.parse_args(argv)
    cfg = SepConfig.tiny() if args.tiny else SepConfig()
    keys = ("arch", "name", "minutes", "segment_s", "batch_size", "val_every", "resume", "patience")
    cfg = apply_args(cfg, args, "zoo train sep-sudormrf-8k", argv, keys=keys)
    cfg.extra["tiny"] = bool(args.tiny)
    cfg.extra["lr_given"] = args.lr is not None
    if args.eval_only:
        out = Path(cfg.out_dir or HERE / "checkpoints" / cfg.name)
        summary = json.loads((out / "training_summary.json").read_text())
        summary["metrics"] = evaluate(cfg, out)
        print(json.dumps(summary["metrics"]), flush=True)
        return summary
    return train(cfg)
