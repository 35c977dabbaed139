"""Resolve a card's weights source to a local directory of safetensors.

Sources are tried in one place, in one order: ``bundled`` (a directory shipped
with the code), ``path`` (a local directory), ``hf`` (a Hugging Face hub repo at
a pinned commit, through the local cache when offline) and ``url`` (one file,
checked against its sha256). Only safetensors are loaded: a directory that
holds nothing but pickle checkpoints is refused.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from .errors import OfflineWeightsError, UnsafeWeightsError, WeightsError
from .registry import ModelCard

__all__ = ["PICKLE_SUFFIXES", "check_safetensors", "resolve"]

PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt", ".pkl", ".pickle")
# Files worth fetching from a hub repo; pickles are never downloaded.
HUB_PATTERNS = ["*.json", "*.safetensors", "*.txt", "*.model", "*.tiktoken", "*.yaml"]


def resolve(card: ModelCard) -> Path:
    """Return a local directory holding the card's weights.

    Raises:
        WeightsError: the source is missing.
        OfflineWeightsError: a hub source is not cached and the hub is unreachable.
        UnsafeWeightsError: the source holds only pickle checkpoints.
    """
    w = card.weights
    kind = card.weights_kind
    if kind == "bundled":
        path = (card.base_dir / w["bundled"]).resolve()
    elif kind == "path":
        path = Path(os.path.expandvars(os.path.expanduser(w["path"]))).resolve()
    elif kind == "hf":
        path = _from_hub(card.name, w["hf"], w["revision"], w.get("subfolder"))
    else:
        path = _from_url(card.name, w["url"], w["sha256"])
    if not path.exists():
        raise WeightsError(dict(w), f"weights for {card.name!r} not found at {path}")
    check_safetensors(path, card.name)
    return path


def check_safetensors(path: Path, name: str = "") -> None:
    """Refuse a checkpoint that has no safetensors file (pickles are unsafe)."""
    files = [path] if path.is_file() else list(path.rglob("*"))
    if any(f.suffix == ".safetensors" for f in files):
        return
    pickles = sorted(f.name for f in files if f.suffix in PICKLE_SUFFIXES)
    if pickles:
        raise UnsafeWeightsError(
            str(path),
            f"{name or path}: refusing pickle checkpoint(s) {', '.join(pickles)}; "
            "convert them to safetensors (safetensors.torch.save_file) and point the registry at that",
        )
    raise WeightsError(str(path), f"{name or path}: no .safetensors weights in {path}")


def _from_hub(name: str, repo_id: str, revision: str, subfolder: str | None) -> Path:
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import LocalEntryNotFoundError

    patterns = [f"{subfolder}/{p}" for p in HUB_PATTERNS] if subfolder else HUB_PATTERNS
    try:
        local = snapshot_download(repo_id, revision=revision, allow_patterns=patterns)
    except LocalEntryNotFoundError as exc:
        raise OfflineWeightsError(
            f"{repo_id}@{revision}",
            f"{name}: {repo_id} at revision {revision[:12]} is not in the local Hugging Face cache "
            f"({_hf_cache_dir()}) and the hub cannot be reached. Connect to the internet and run "
            f"`zoo info {name}` once with HF_HUB_OFFLINE unset, or copy the snapshot into that cache.",
        ) from exc
    except Exception as exc:  # network errors, missing repo, bad revision
        raise WeightsError(f"{repo_id}@{revision}", f"{name}: could not fetch {repo_id}@{revision[:12]}: {exc}") from exc
    path = Path(local)
    return path / subfolder if subfolder else path


def _hf_cache_dir() -> str:
    try:
        from huggingface_hub.constants import HF_HUB_CACHE

        return str(HF_HUB_CACHE)
    except Exception:  # pragma: no cover - very old huggingface_hub
        return "~/.cache/huggingface/hub"


def _from_url(name: str, url: str, sha256: str) -> Path:
    cache = Path(os.environ.get("ZOO_CACHE", Path.home() / ".cache" / "zoo")) / "weights" / sha256[:16]
    target = cache / Path(url).name
    if not target.exists():
        if os.environ.get("HF_HUB_OFFLINE") or os.environ.get("ZOO_OFFLINE"):
            raise OfflineWeightsError(url, f"{name}: {url} is not cached at {target} and offline mode is on")
        import urllib.request

        cache.mkdir(parents=True, exist_ok=True)
        tmp = target.with_suffix(".part")
        try:
            urllib.request.urlretrieve(url, tmp)
        except OSError as exc:
            raise WeightsError(url, f"{name}: could not download {url}: {exc}") from exc
        digest = hashlib.sha256(tmp.read_bytes()).hexdigest()
        if digest != sha256:
            tmp.unlink()
            raise WeightsError(url, f"{name}: sha256 mismatch for {url} (got {digest[:12]}, want {sha256[:12]})")
        tmp.rename(target)
    return target
