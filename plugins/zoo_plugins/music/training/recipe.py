"""Train ``music-llama-bach``: a small Llama over frame tokens on Bach chorales.

Data: JSB train (229 chorales) plus music21's Bach chorales minus any whose
melody matches a JSB valid/test chorale, every draw transposed by a random
-6..+5 semitones. Loss: masked next-token NLL (:mod:`..tokenizer`), so the
validation number is the exact JSB NLL per time step. Early stopping keeps
the checkpoint with the best JSB-valid NLL; the run state is saved every
``--save-every`` steps and ``--resume`` picks it up. Runs on one thread by
default (the machine is shared).

    zoo train music-llama-bach --steps 6000 --run logs/music/run1
"""

from __future__ import annotations

import argparse
import json
import math
import random
import shutil
import time
from pathlib import Path

import torch

from .. import tokenizer as tok
from ..data import load_jsb
from ..lm import FrameLM, llama_config, token_nll
from .corpus import dedupe, music21_chorales

__all__ = ["main", "train"]

NAME = "music-llama-bach"
HERE = Path(__file__).resolve().parents[1]
REPO = HERE.parents[2]
DEFAULT_DATA = REPO.parent / "shared" / "data" / "jsb-chorales"


def parse_args(argv):
    p = argparse.ArgumentParser(prog=f"zoo train {NAME}", description=__doc__.split("\n")[0])
    p.add_argument("--data", default=str(DEFAULT_DATA), help="folder holding jsb-chorales-quarter.json")
    p.add_argument("--run", default=str(REPO / "logs" / "music" / NAME), help="run folder (state, log, best)")
    p.add_argument("--out", default=str(HERE / "checkpoints" / NAME), help="where the best checkpoint is copied")
    p.add_argument("--steps", type=int, default=2000)
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--context", type=int, default=384, help="model context (tokens); training crops are this long")
    p.add_argument("--lr", type=float, default=1.5e-3)
    p.add_argument("--weight-decay", type=float, default=0.05)
    p.add_argument("--warmup", type=int, default=100)
    p.add_argument("--hidden", type=int, default=128)
    p.add_argument("--layers", type=int, default=4)
    p.add_argument("--heads", type=int, default=4)
    p.add_argument("--ff", type=int, default=384)
    p.add_argument("--dropout", type=float, default=0.1)
    p.add_argument("--transpose", type=int, nargs=2, default=(-6, 5), help="transposition range (semitones)")
    p.add_argument("--no-extra", action="store_true", help="JSB train only (no music21 chorales)")
    p.add_argument("--eval-every", type=int, default=200)
    p.add_argument("--save-every", type=int, default=100)
    p.add_argument("--patience", type=int, default=6, help="evaluations without a better valid NLL before stopping")
    p.add_argument(
        "--time-limit-min",
        type=float,
        default=0,
        help="stop (keeping the best) after this long; the LR decay ends at whichever budget runs out first",
    )
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--resume", action="store_true")
    p.add_argument("--pilot", type=int, default=0, help="only time this many steps and print s/step")
    p.add_argument("--no-registry", action="store_true", help="do not write the card's metrics")
    p.add_argument("--finish", action="store_true", help="only bundle and card the run's best checkpoint")
    return p.parse_args(argv)


def training_pieces(args, log) -> tuple[list[list[list[int]]], dict]:
    """JSB train plus de-duplicated music21 chorales; and a note of what was used."""
    train = load_jsb(args.data, "train")
    info = {"jsb_train": len(train)}
    if args.no_extra:
        return train, info
    held = load_jsb(args.data, "valid") + load_jsb(args.data, "test")
    extra = music21_chorales(REPO / "logs" / "music" / "music21-chorales.json", log)
    keep, removed = dedupe([e["frames"] for e in extra], held)
    info.update(music21_chorales=len(extra), music21_removed_as_valid_test=len(removed), music21_kept=len(keep))
    return train + [extra[i]["frames"] for i in keep], info


def make_batch(pieces, rng: random.Random, batch: int, max_tokens: int, shift: tuple[int, int]):
    """``batch`` random pieces, each transposed and cropped (at a frame boundary) to ``max_tokens``."""
    seqs = []
    for _ in range(batch):
        frames = pieces[rng.randrange(len(pieces))]
        lo = min(p for f in frames for p in f)
        hi = max(p for f in frames for p in f)
        k = rng.randint(max(shift[0], 21 - lo), min(shift[1], 108 - hi))
        frames = tok.transpose(frames, k)
        tokens = tok.encode(frames)
        if len(tokens) > max_tokens:
            ends = tok.frame_ends(tokens)
            starts = [0] + [e for e in ends if e + max_tokens <= len(tokens)]
            s = rng.choice(starts)
            tokens = ([tok.BOS] if s else []) + tokens[s + (1 if s else 0) : s + max_tokens]
            # a crop starting mid-piece begins as if the piece started there (BOS, then whole frames)
            tokens = tokens[:max_tokens]
        seqs.append(tokens)
    lengths = torch.tensor([len(s) for s in seqs])
    ids = torch.full((batch, int(lengths.max())), tok.PAD, dtype=torch.long)
    for i, s in enumerate(seqs):
        ids[i, : len(s)] = torch.tensor(s)
    return ids, lengths


def evaluate(lm: FrameLM, chorales) -> dict:
    """Frame-weighted and per-chorale mean NLL (nats per time step)."""
    was = lm.training
    lm.eval()
    per = [lm.frame_nll(c) for c in chorales]
    lm.train(was)
    total = torch.cat(per)
    return {
        "nll": round(float(total.mean()), 4),
        "nll_per_chorale": round(float(torch.stack([p.mean() for p in per]).mean()), 4),
        "frames": int(total.numel()),
        "chorales": len(per),
    }


def train(args, log=print) -> dict:
    torch.set_num_threads(args.threads)
    run = Path(args.run)
    run.mkdir(parents=True, exist_ok=True)
    logf = open(run / "train.log", "a")

    def say(msg):
        line = f"{time.strftime('%H:%M:%S')} {msg}"
        log(line)
        logf.write(line + "\n")
        logf.flush()

    rng = random.Random(args.seed)
    torch.manual_seed(args.seed)
    pieces, data_info = training_pieces(args, say)
    valid = load_jsb(args.data, "valid")
    say(f"data: {json.dumps(data_info)}")
    from transformers import LlamaForCausalLM

    config = llama_config(args.hidden, args.layers, args.heads, args.ff, args.context, args.dropout)
    net = LlamaForCausalLM(config)
    lm = FrameLM(net)
    params = sum(p.numel() for p in net.parameters())
    say(f"model: {params / 1e6:.2f} M parameters")
    opt = torch.optim.AdamW(net.parameters(), lr=args.lr, weight_decay=args.weight_decay, betas=(0.9, 0.98))
    t_start = time.time()

    def progress(s: int) -> float:
        # the cosine decay ends at the step budget or the time budget, whichever comes first
        elapsed = (time.time() - t_start) / (60 * args.time_limit_min) if args.time_limit_min else 0.0
        return min(1.0, max(s / args.steps, elapsed))

    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min(1.0, (s + 1) / args.warmup) * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * progress(s))))
    )
    state = {"step": 0, "best": float("inf"), "best_step": 0, "bad": 0, "history": [], "seconds": 0.0}
    state_path = run / "state.pt"
    if args.resume and state_path.exists():
        saved = torch.load(state_path, weights_only=False)
        net.load_state_dict(saved["model"])
        opt.load_state_dict(saved["opt"])
        sched.load_state_dict(saved["sched"])
        rng.setstate(saved["rng"])
        torch.set_rng_state(saved["torch_rng"])
        state = saved["state"]
        say(f"resumed at step {state['step']} (best valid {state['best']} at {state['best_step']})")
    net.train()
    t_start = time.time() - state["seconds"]
    t_pilot = None
    while state["step"] < args.steps:
        ids, lengths = make_batch(pieces, rng, args.batch, args.context, tuple(args.transpose))
        mask = (torch.arange(ids.shape[1])[None] < lengths[:, None]).long()
        logits = net(input_ids=ids, attention_mask=mask).logits
        nll = token_nll(logits, ids, lengths)
        loss = nll.sum() / (lengths - 1).sum()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
        opt.step()
        sched.step()
        state["step"] += 1
        step = state["step"]
        if args.pilot:
            if step == 3:
                t_pilot = time.time()
            if step == args.pilot:
                per = (time.time() - t_pilot) / (args.pilot - 3)
                say(f"pilot: {per:.3f} s/step at batch {args.batch}, {params / 1e6:.2f} M parameters")
                t0 = time.time()
                ev = evaluate(lm, valid[:10])
                say(f"pilot: valid eval of 10 chorales {time.time() - t0:.1f} s, nll {ev['nll']}")
                return {"s_per_step": per}
            continue
        if step % 50 == 0:
            say(f"step {step} loss/token {loss.item():.4f} lr {sched.get_last_lr()[0]:.2e}")
        stop = False
        if step % args.eval_every == 0 or step == args.steps:
            ev = evaluate(lm, valid)
            state["history"].append(
                {"step": step, "valid_nll": ev["nll"], "minutes": round((time.time() - t_start) / 60, 1)}
            )
            if ev["nll"] < state["best"]:
                state.update(best=ev["nll"], best_step=step, bad=0)
                net.save_pretrained(run / "best", safe_serialization=True)
            else:
                state["bad"] += 1
            say(f"eval step {step}: valid nll {ev['nll']} (best {state['best']} at {state['best_step']})")
            stop = state["bad"] >= args.patience
        if args.time_limit_min and time.time() - t_start > args.time_limit_min * 60:
            if step % args.eval_every:
                ev = evaluate(lm, valid)
                state["history"].append({"step": step, "valid_nll": ev["nll"]})
                if ev["nll"] < state["best"]:
                    state.update(best=ev["nll"], best_step=step, bad=0)
                    net.save_pretrained(run / "best", safe_serialization=True)
            say(f"time limit reached at step {step}")
            stop = True
        if step % args.save_every == 0 or stop or step == args.steps:
            state["seconds"] = time.time() - t_start
            torch.save(
                {
                    "model": net.state_dict(),
                    "opt": opt.state_dict(),
                    "sched": sched.state_dict(),
                    "rng": rng.getstate(),
                    "torch_rng": torch.get_rng_state(),
                    "state": state,
                    "args": vars(args),
                },
                state_path,
            )
        if stop:
            break
    return finish(args, state, data_info, params, say)


def finish(args, state, data_info, params, say) -> dict:
    """Measure the best checkpoint on JSB valid and test, bundle it, write the card."""
    run = Path(args.run)
    best = FrameLM.from_pretrained(run / "best")
    valid = evaluate(best, load_jsb(args.data, "valid"))
    test = evaluate(best, load_jsb(args.data, "test"))
    say(f"best checkpoint (step {state['best_step']}): valid {valid}, test {test}")
    summary = {
        "model": NAME,
        "parameters": params,
        "architecture": f"LlamaForCausalLM hidden {args.hidden}, {args.layers} layers, {args.heads} heads, "
        f"ffn {args.ff}, context {args.context} tokens",
        "steps": state["step"],
        "best_step": state["best_step"],
        "batch": args.batch,
        "train_minutes": round(state["seconds"] / 60, 1),
        "valid": valid,
        "test": test,
        "history": state["history"],
        "data": data_info,
        "args": {k: v for k, v in vars(args).items() if k not in ("run", "out", "data", "resume", "finish")},
    }
    (run / "summary.json").write_text(json.dumps(summary, indent=2))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for f in ("config.json", "generation_config.json", "model.safetensors"):
        if (run / "best" / f).exists():
            shutil.copy(run / "best" / f, out / f)
    (out / "training_summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    if not args.no_registry:
        write_card(args, summary)
    return summary


def write_card(args, summary: dict) -> None:
    """The card's measured metrics, provenance and the bundled files' sha256, in ``registry.yaml``.

    Only this model's entry is rewritten; the rest of the file keeps its text.
    """
    import hashlib
    import platform

    import yaml

    from zoo.plugins import registry_path

    keys = ("nll", "nll_per_chorale", "frames", "chorales")
    a = summary["args"]
    path = registry_path()
    text = path.read_text()
    entry = (yaml.safe_load(text) or {}).get(NAME)
    if entry is None:
        raise KeyError(f"{NAME} is not in {path}; add its entry first")
    entry.setdefault("metrics", {}).update(
        {
            "jsb-chorales-test": {k: summary["test"][k] for k in keys},
            "jsb-chorales-valid": {k: summary["valid"][k] for k in keys},
        }
    )
    entry.setdefault("provenance", {}).update(
        {
            "architecture": summary["architecture"] + f", {summary['parameters'] / 1e6:.2f} M parameters",
            "data": summary["data"],
            "steps": summary["steps"],
            "best_step": summary["best_step"],
            "batch": summary["batch"],
            "train_minutes": summary["train_minutes"],
            "hardware": f"CPU ({platform.machine()}, {a['threads']} thread, shared with other jobs)",
            "recipe": f"zoo train {NAME} --steps {a['steps']} --time-limit-min {a['time_limit_min']} "
            f"--batch {a['batch']} --hidden {a['hidden']} --layers {a['layers']} --ff {a['ff']} "
            f"--context {a['context']} --lr {a['lr']}",
        }
    )
    out = Path(args.out)
    files = sorted(f.name for f in out.iterdir() if f.is_file())
    entry["weights"]["sha256"] = {f: hashlib.sha256((out / f).read_bytes()).hexdigest() for f in files}
    block = yaml.safe_dump({NAME: entry}, sort_keys=False, allow_unicode=True, width=110)
    lines = text.splitlines(keepends=True)
    start = next(i for i, line in enumerate(lines) if line.startswith(f"{NAME}:"))
    end = next((i for i in range(start + 1, len(lines)) if lines[i][:1].isalnum()), len(lines))
    path.write_text("".join(lines[:start]) + block + "".join(lines[end:]))


def finish_only(args) -> dict:
    """Bundle and card a finished (or stopped) run from its saved state, without training."""
    saved = torch.load(Path(args.run) / "state.pt", weights_only=False)
    trained = argparse.Namespace(**{**saved["args"], "run": args.run, "out": args.out, "data": args.data})
    trained.no_registry = args.no_registry
    _, data_info = training_pieces(trained, print)
    best = FrameLM.from_pretrained(Path(args.run) / "best")
    params = sum(p.numel() for p in best.parameters())
    return finish(trained, saved["state"], data_info, params, print)


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    if args.finish:
        return finish_only(args)
    return train(args)


if __name__ == "__main__":
    main()
