"""Short-lived output files (separated sources, generated audio) behind opaque ids.

A file is reachable only through the id :meth:`FileStore.add` hands out: a
random token looked up in a table, never joined onto a path. So no request can
name a file outside the store's folder, and ``..``, absolute paths or encoded
slashes in an id are simply unknown ids. Files expire after ``ttl_s`` and the
oldest are dropped when the store passes ``max_bytes`` or ``max_files``.
"""

from __future__ import annotations

import re
import secrets
import shutil
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

__all__ = ["FileStore", "StoredFile"]

_ID = re.compile(r"^[A-Za-z0-9_-]{16,64}$")


@dataclass(frozen=True)
class StoredFile:
    """One stored file: its id, where it lies, its download name and when it expires."""

    id: str
    path: Path
    name: str
    size: int
    expires_at: float


class FileStore:
    """A folder of files addressed by random ids, with a lifetime and a size cap.

    >>> store = FileStore(ttl_s=60)
    >>> f = store.add_bytes(b"hello", "a.txt")
    >>> store.get(f.id).path.read_bytes(), store.get("../../etc/passwd")
    (b'hello', None)
    >>> store.close()
    """

    def __init__(
        self,
        root: str | Path | None = None,
        *,
        ttl_s: float = 600.0,
        max_bytes: int = 512 * 2**20,
        max_files: int = 1000,
    ) -> None:
        self._owned = root is None
        self.root = Path(tempfile.mkdtemp(prefix="zoo-serve-")) if root is None else Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.root = self.root.resolve()
        self.ttl_s = ttl_s
        self.max_bytes = max_bytes
        self.max_files = max_files
        self._files: dict[str, StoredFile] = {}
        self._lock = threading.Lock()

    def scratch(self) -> Path:
        """A new empty folder inside the store, for a result to save its outputs into."""
        path = self.root / f"tmp-{secrets.token_hex(8)}"
        path.mkdir()
        return path

    def add(self, path: str | Path, name: str | None = None) -> StoredFile:
        """Take over ``path`` (which must lie inside the store's folder) and return its entry."""
        path = Path(path).resolve()
        if not path.is_file() or not path.is_relative_to(self.root):
            raise ValueError(f"{path} is not a file inside {self.root}")
        entry = StoredFile(
            id=secrets.token_urlsafe(18),
            path=path,
            name=_safe_name(name or path.name),
            size=path.stat().st_size,
            expires_at=time.time() + self.ttl_s,
        )
        with self._lock:
            self._files[entry.id] = entry
            self._evict_locked()
        return entry

    def add_bytes(self, data: bytes, name: str) -> StoredFile:
        """Write ``data`` to a new file in the store and return its entry."""
        path = self.scratch() / "data"
        path.write_bytes(data)
        return self.add(path, name)

    def get(self, file_id: str) -> StoredFile | None:
        """The live entry for ``file_id``, or ``None`` (unknown, malformed or expired)."""
        if not isinstance(file_id, str) or not _ID.match(file_id):
            return None
        with self._lock:
            self._evict_locked()
            entry = self._files.get(file_id)
        if entry is None or not entry.path.is_file():
            return None
        return entry

    def __len__(self) -> int:
        with self._lock:
            return len(self._files)

    def total_bytes(self) -> int:
        with self._lock:
            return sum(f.size for f in self._files.values())

    def close(self) -> None:
        """Forget every file; delete the folder when the store made it."""
        with self._lock:
            self._files.clear()
        if self._owned:
            shutil.rmtree(self.root, ignore_errors=True)

    def _evict_locked(self) -> None:
        now = time.time()
        for fid in [fid for fid, f in self._files.items() if f.expires_at <= now]:
            self._drop_locked(fid)
        total = sum(f.size for f in self._files.values())
        for fid in sorted(self._files, key=lambda k: self._files[k].expires_at):
            if total <= self.max_bytes and len(self._files) <= self.max_files:
                break
            total -= self._files[fid].size
            self._drop_locked(fid)

    def _drop_locked(self, fid: str) -> None:
        entry = self._files.pop(fid)
        entry.path.unlink(missing_ok=True)
        parent = entry.path.parent
        if parent != self.root and parent.is_relative_to(self.root) and not any(parent.iterdir()):
            parent.rmdir()


def _safe_name(name: str) -> str:
    """A download name with no path parts and only harmless characters."""
    base = re.sub(r"[^A-Za-z0-9._-]+", "_", Path(str(name)).name).strip("._")
    return base[:100] or "file"
