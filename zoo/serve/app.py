"""The HTTP app behind ``zoo serve``: a JSON API over the runner, and a page to try models.

Routes::

    GET  /                  the try-it page (static HTML + JS)
    GET  /healthz           liveness, loaded models, batching counters
    GET  /v1/models         [{name, task, input_kind, sample_rate, labels, loaded}]
    POST /v1/run/{model}    multipart ``file`` fields (audio tasks) or JSON
                            {"prompt": str | "prompts": [str]} / {"n": int, "seed": int}
                            -> [result.to_dict() per input, in order]
    GET  /v1/files/{id}     an output file (separated sources, generated audio)

Requests for one model are gathered by a :class:`~zoo.serve.batcher.MicroBatcher`
into one runner call. Status codes: 404 unknown model or file, 413 body or file
count over the limit, 422 every uploaded file unreadable (the zoo's
:class:`~zoo.AudioError` message), 503 with ``Retry-After`` when the server or
the model's queue is full. Uploads are written under the server's temp folder
with random names, handed to the runner by path, and deleted after the request;
a request never names a path on the server.
"""

from __future__ import annotations

import asyncio
import re
import secrets
import shutil
import tempfile
import threading
from collections.abc import Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import AudioError, UnknownModelError, ZooError

try:
    from fastapi import FastAPI, HTTPException, Request
    from fastapi.responses import FileResponse, HTMLResponse, JSONResponse
    from starlette.concurrency import run_in_threadpool
except ImportError as exc:  # pragma: no cover - depends on the install
    raise ZooError("`zoo serve` needs the serve extra: pip install 'audio-zoo[serve]'") from exc

from .batcher import MicroBatcher, Overloaded
from .files import FileStore

__all__ = ["ServeConfig", "create_app"]

STATIC = Path(__file__).with_name("static")


@dataclass
class ServeConfig:
    """What the server serves and its limits.

    ``models``: names (or task names) the server answers for; ``None`` means
    every model in the registry, each loaded on its first request.
    """

    models: list[str] | None = None
    device: str | None = None
    dtype: str | None = None
    preload: bool = False
    #: request body limit (all files of a request together)
    max_upload_bytes: int = 25 * 2**20
    max_files: int = 32
    #: requests in flight at once (waiting or running), over all models
    max_concurrent: int = 256
    #: micro-batching: inputs per runner call, how long the first request waits for company
    max_batch: int = 32
    max_wait_ms: float = 5.0
    #: inputs waiting per model before requests are refused with 503
    max_pending: int = 512
    retry_after_s: int = 1
    #: output files: lifetime and the store's total size
    file_ttl_s: float = 600.0
    file_max_bytes: int = 512 * 2**20
    #: where uploads and outputs live (default: a new temp folder, removed at shutdown)
    workdir: str | None = None
    #: builds a model by name (tests pass a stub); default: zoo.load(name, device, dtype)
    loader: Callable[[str], Any] | None = field(default=None, repr=False)


class _TooLarge(Exception):
    pass


class _Limits:
    """ASGI middleware for ``/v1/run/``: 413 for a body over ``max_bytes`` (declared or streamed),
    503 with ``Retry-After`` when ``max_concurrent`` requests are already in flight."""

    def __init__(self, app: Any, max_bytes: int, max_concurrent: int, retry_after_s: int) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.max_concurrent = max_concurrent
        self.retry_after_s = retry_after_s
        self.in_flight = 0

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] != "http" or not scope["path"].startswith("/v1/run/"):
            return await self.app(scope, receive, send)
        declared = dict(scope.get("headers") or ()).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            return await _send_json(send, 413, f"request body over the limit of {self.max_bytes} bytes")
        if self.in_flight >= self.max_concurrent:
            detail = f"{self.in_flight} requests in flight (limit {self.max_concurrent}); retry shortly"
            return await _send_json(send, 503, detail, [(b"retry-after", str(self.retry_after_s).encode())])
        seen = 0

        async def limited_receive() -> dict:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise _TooLarge(f"request body over the limit of {self.max_bytes} bytes")
            return message

        self.in_flight += 1
        try:
            await self.app(scope, limited_receive, send)
        finally:
            self.in_flight -= 1


async def _send_json(send: Callable, status: int, detail: str, headers: list | None = None) -> None:
    import json

    body = json.dumps({"detail": detail}).encode()
    head = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()), *(headers or [])]
    await send({"type": "http.response.start", "status": status, "headers": head})
    await send({"type": "http.response.body", "body": body})


class _Models:
    """Models by canonical name, each loaded once (on first use) behind its own batcher."""

    def __init__(self, config: ServeConfig) -> None:
        import zoo

        self.config = config
        self._zoo = zoo
        self._lock = threading.Lock()
        self._loading: dict[str, threading.Lock] = {}
        self.batchers: dict[str, MicroBatcher] = {}
        self.models: dict[str, Any] = {}
        #: one call at a time per model: the batcher's worker and direct (generation) calls share it
        self.locks: dict[str, threading.Lock] = {}
        names = config.models if config.models is not None else zoo.list_models()
        self.cards = {c.name: c for c in (zoo.info(n) for n in names)}

    def card(self, name: str) -> Any:
        """The card served under ``name`` (a model or task name), or UnknownModelError."""
        if name in self.cards:
            return self.cards[name]
        try:
            card = self._zoo.info(name)
        except UnknownModelError:
            raise UnknownModelError(name, [n for n in self.cards if _close(name, n)]) from None
        if card.name not in self.cards:
            raise UnknownModelError(name, sorted(self.cards)[:5])
        return card

    def get(self, name: str) -> tuple[Any, MicroBatcher]:
        """Load (once) and return the model and its batcher; blocks while loading."""
        if name in self.batchers:
            return self.models[name], self.batchers[name]
        with self._lock:
            lock = self._loading.setdefault(name, threading.Lock())
        with lock:
            if name not in self.batchers:
                cfg = self.config
                model = cfg.loader(name) if cfg.loader else self._zoo.load(name, device=cfg.device, dtype=cfg.dtype)
                call_lock = self.locks[name] = threading.Lock()

                def run(xs: list[Any], m: Any = model, call_lock: threading.Lock = call_lock) -> list[Any]:
                    with call_lock:
                        return m.run(xs, progress=False)

                self.models[name] = model
                self.batchers[name] = MicroBatcher(
                    run,
                    name=name,
                    max_batch=cfg.max_batch,
                    max_wait_ms=cfg.max_wait_ms,
                    max_pending=cfg.max_pending,
                    retry_after_s=cfg.retry_after_s,
                )
        return self.models[name], self.batchers[name]

    def close(self) -> None:
        for b in self.batchers.values():
            b.close()


def _close(a: str, b: str) -> bool:
    import difflib

    return difflib.SequenceMatcher(None, a, b).ratio() > 0.7


def input_kind(task: Any) -> str:
    """``"audio"``, ``"prompt"`` or ``"none"``: what a task's model takes (audio when the task does not say)."""
    return str(getattr(task, "input_kind", "audio"))


def create_app(config: ServeConfig | None = None, **overrides: Any) -> Any:
    """Build the FastAPI app.

    >>> app = create_app(models=["kws-wav2vec2"], max_wait_ms=5)  # doctest: +SKIP
    >>> import uvicorn; uvicorn.run(app, port=8000)                # doctest: +SKIP
    """
    import zoo

    config = config or ServeConfig()
    for key, value in overrides.items():
        if not hasattr(config, key):
            raise TypeError(f"unknown serve option {key!r}")
        setattr(config, key, value)
    workdir = Path(config.workdir) if config.workdir else Path(tempfile.mkdtemp(prefix="zoo-serve-"))
    store = FileStore(workdir / "files", ttl_s=config.file_ttl_s, max_bytes=config.file_max_bytes)
    uploads = workdir / "uploads"
    uploads.mkdir(parents=True, exist_ok=True)
    models = _Models(config)

    @asynccontextmanager
    async def lifespan(app: Any) -> Any:
        if config.preload:
            for name in models.cards:
                await run_in_threadpool(models.get, name)
        yield
        models.close()
        store.close()
        if not config.workdir:
            shutil.rmtree(workdir, ignore_errors=True)

    app = FastAPI(title="Audio Zoo", version=zoo.__version__, lifespan=lifespan)
    app.state.config, app.state.models, app.state.store = config, models, store

    app.add_middleware(
        _Limits,
        max_bytes=config.max_upload_bytes,
        max_concurrent=config.max_concurrent,
        retry_after_s=config.retry_after_s,
    )

    @app.exception_handler(_TooLarge)
    async def too_large(request: Request, exc: _TooLarge) -> Any:
        return JSONResponse({"detail": str(exc)}, status_code=413)

    @app.exception_handler(UnknownModelError)
    async def unknown_model(request: Request, exc: UnknownModelError) -> Any:
        return JSONResponse({"detail": str(exc)}, status_code=404)

    @app.exception_handler(Overloaded)
    async def overloaded(request: Request, exc: Overloaded) -> Any:
        return _busy(str(exc), exc.retry_after_s)

    def _busy(detail: str, retry_after_s: int) -> Any:
        return JSONResponse({"detail": detail}, status_code=503, headers={"Retry-After": str(retry_after_s)})

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    async def index() -> Any:
        return FileResponse(STATIC / "index.html", media_type="text/html")

    @app.get("/healthz")
    async def healthz() -> dict[str, Any]:
        return {
            "status": "ok",
            "loaded": sorted(models.batchers),
            "files": len(store),
            "batching": {
                name: {
                    "calls": b.stats.calls,
                    "inputs": b.stats.inputs,
                    "largest": b.stats.largest,
                    "pending": b.pending,
                }
                for name, b in models.batchers.items()
            },
        }

    @app.get("/v1/models")
    async def list_models() -> list[dict[str, Any]]:
        z = zoo.get_zoo()
        out = []
        for name, card in models.cards.items():
            task = z.task(card.task)
            out.append(
                {
                    "name": name,
                    "task": card.task,
                    "input_kind": input_kind(task),
                    "sample_rate": card.sample_rate,
                    "labels": list(card.labels),
                    "prompt_optional": bool(getattr(task, "prompt_optional", False)),
                    "loaded": name in models.batchers,
                }
            )
        return out

    @app.get("/v1/files/{file_id}")
    async def get_file(file_id: str) -> Any:
        entry = store.get(file_id)
        if entry is None:
            raise HTTPException(404, "no such file (unknown id, or it expired)")
        return FileResponse(entry.path, media_type=_media_type(entry.name), filename=entry.name)

    @app.post("/v1/run/{model_name}")
    async def run_model(model_name: str, request: Request) -> Any:
        card = models.card(model_name)
        task = zoo.get_zoo().task(card.task)
        kind = input_kind(task)
        saved: list[Path] = []
        try:
            names, inputs, seed = await _read_inputs(request, task, saved)
            try:
                model, batcher = await run_in_threadpool(models.get, card.name)
            except ZooError as exc:
                raise HTTPException(503, f"model {card.name!r} could not be loaded: {exc}") from exc
            if kind == "audio":
                results = await asyncio.wrap_future(batcher.submit(inputs))
            else:  # generation: seeds are per request (input i gets seed + i), so no sharing of batches
                results = await run_in_threadpool(_call, model, models.locks[card.name], inputs, seed)
                names = [r.source if n is None else n for r, n in zip(results, names)]
            return await run_in_threadpool(_respond, results, names, saved, store)
        finally:
            for p in saved:
                p.unlink(missing_ok=True)

    async def _read_inputs(request: Request, task: Any, saved: list[Path]) -> tuple[list[Any], list[Any], int | None]:
        """(display names, model inputs, seed) from the request; uploads are saved under the temp folder."""
        kind = input_kind(task)
        ctype = request.headers.get("content-type", "")
        if ctype.startswith("multipart/form-data") and kind != "none":
            return await _read_upload(request, saved)
        if kind == "audio":
            raise HTTPException(415, "send audio as multipart/form-data with one or more `file` fields")
        if not ctype.startswith("application/json"):
            raise HTTPException(415, f"this model takes a {kind!r} input: send JSON (or upload prompt files)")
        try:
            body = await request.json()
        except ValueError as exc:
            raise HTTPException(400, f"the body is not valid JSON: {exc}") from exc
        if not isinstance(body, Mapping):
            raise HTTPException(400, "the JSON body must be an object")
        seed = body.get("seed")
        if seed is not None and not isinstance(seed, int):
            raise HTTPException(400, '"seed" must be an integer')
        if kind == "prompt" and ("prompt" in body or "prompts" in body):
            prompts = body.get("prompts", [body.get("prompt")])
            if not isinstance(prompts, list) or not prompts or not all(isinstance(p, str) for p in prompts):
                raise HTTPException(400, 'send {"prompt": "..."} or {"prompts": ["...", ...]}')
            if len(prompts) > config.max_files:
                raise HTTPException(413, f"at most {config.max_files} prompts per request")
            for p in prompts:
                if _looks_like_path(p):
                    raise HTTPException(400, "a prompt may not name a file on the server: upload it as a `file` field")
            return list(prompts), list(prompts), seed
        if kind == "prompt" and not getattr(task, "prompt_optional", False):
            raise HTTPException(400, 'this model needs a prompt: {"prompt": "..."} or an uploaded `file`')
        n = body.get("n", 1)
        if not isinstance(n, int) or not 1 <= n <= config.max_files:
            raise HTTPException(400, f'send {{"n": 1..{config.max_files}, "seed": int}}')
        return [None] * n, [None] * n, 0 if seed is None else seed

    async def _read_upload(request: Request, saved: list[Path]) -> tuple[list[Any], list[Any], int | None]:
        try:
            form = await request.form(max_files=config.max_files, max_fields=config.max_files + 8)
        except _TooLarge:
            raise
        except Exception as exc:  # starlette's MultiPartException and parser errors
            status = 413 if "too many" in str(exc).lower() else 400
            raise HTTPException(status, f"could not read the upload: {exc}") from exc
        files = [f for f in form.getlist("file") if hasattr(f, "read")]
        if not files:
            raise HTTPException(400, "no `file` field in the upload")
        seed_field = form.get("seed")
        try:
            seed = int(seed_field) if isinstance(seed_field, str) and seed_field.strip() else None
        except ValueError:
            raise HTTPException(400, "the `seed` field must be an integer") from None
        names, paths = [], []
        for f in files:
            data = await f.read()
            await f.close()
            path = uploads / (secrets.token_hex(12) + _suffix(f.filename))
            path.write_bytes(data)
            saved.append(path)
            names.append(_display_name(f.filename))
            paths.append(str(path))
        return names, paths, seed

    return app


def _call(model: Any, lock: threading.Lock, inputs: list[Any], seed: int | None) -> list[Any]:
    """A direct model call (prompts, unconditional generation), one at a time per model."""
    with lock:
        if seed is None:
            return list(model.run(inputs, progress=False))
        return list(model.run(inputs, progress=False, seed=seed))


def _respond(results: list[Any], names: list[str], saved: list[Path], store: FileStore) -> Any:
    """JSON for the results: display names instead of server paths, audio outputs as links; 422 when all unreadable."""
    out = []
    for r, name, upload in zip(results, names, [str(p) for p in saved] or [None] * len(results)):
        out.append(_result_json(r, name, upload, store))
    unreadable = [r for r in results if not r.ok and r.error == AudioError.__name__]
    if results and len(unreadable) == len(results):
        first = out[0]
        return JSONResponse({"detail": f"{first['source']}: {first['reason']}", "results": out}, status_code=422)
    return out


def _result_json(result: Any, name: str, upload: str | None, store: FileStore) -> dict[str, Any]:
    links: dict[str, dict[str, Any]] = {}
    if result.ok and getattr(result, "audio_fields", ()):
        scratch = store.scratch()
        for path in result.save(scratch, stem=_stem(name)):
            entry = store.add(path)
            links[str(path.resolve())] = {
                "name": entry.name,
                "url": f"/v1/files/{entry.id}",
                "bytes": entry.size,
                "expires_in_s": round(store.ttl_s),
            }
    d = result.to_dict()
    d["source"] = name
    summary = getattr(result, "summary", None)
    if callable(summary) and "summary" not in d:
        d["summary"] = str(summary())  # one line, for clients that do not know the result type
    if upload:  # error reasons and summaries may quote the upload's server path
        d = _replace_in_strings(d, upload, name)
    if links:
        d = _swap_paths(d, links)
        d["files"] = list(links.values())
    # defence in depth: no server path under the store survives, whatever field a result puts it in
    return _replace_in_strings(d, str(store.root), "<server>")


def _replace_in_strings(value: Any, old: str, new: str) -> Any:
    if isinstance(value, dict):
        return {k: _replace_in_strings(v, old, new) for k, v in value.items()}
    if isinstance(value, list):
        return [_replace_in_strings(v, old, new) for v in value]
    if isinstance(value, str):
        return value.replace(old, new)
    return value


def _swap_paths(value: Any, links: dict[str, dict[str, Any]]) -> Any:
    """Replace server paths of saved outputs with their download URLs (a server path never leaves)."""
    if isinstance(value, dict):
        return {k: _swap_paths(v, links) for k, v in value.items()}
    if isinstance(value, list):
        return [_swap_paths(v, links) for v in value]
    if isinstance(value, str) and value.startswith("/"):
        hit = links.get(str(Path(value).resolve()))
        return hit["url"] if hit else value
    return value


def _looks_like_path(text: str) -> bool:
    """True for a prompt that could make a task open a file on the server (it must be uploaded instead)."""
    t = text.strip()
    if not t or "\0" in t:
        return bool(t)
    if t.startswith(("/", "~", "./", "../", "\\")) or ".." in Path(t).parts or re.match(r"^[A-Za-z]:[\\/]", t):
        return True
    try:
        return Path(t).expanduser().exists()
    except (OSError, ValueError):
        return True


_MEDIA = {
    ".wav": "audio/wav",
    ".mid": "audio/midi",
    ".json": "application/json",
    ".txt": "text/plain",
    ".png": "image/png",
}


def _media_type(name: str) -> str:
    return _MEDIA.get(Path(name).suffix.lower(), "application/octet-stream")


_SUFFIX = re.compile(r"^\.[A-Za-z0-9]{1,8}$")


def _suffix(filename: str | None) -> str:
    """The upload's extension when harmless (decoders may use it), else none."""
    suffix = Path(filename or "").suffix
    return suffix.lower() if _SUFFIX.match(suffix) else ""


def _display_name(filename: str | None) -> str:
    """The client's file name without any folder part, for ``source`` in the results."""
    name = re.split(r"[\\/]", filename or "")[-1].strip()
    return name[:200] or "upload"


def _stem(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]+", "_", Path(name).stem).strip("_")[:60] or "output"
