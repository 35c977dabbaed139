"""``zoo serve``: the zoo over HTTP, with batching across requests and a page to try models.

>>> from zoo.serve import create_app, serve
>>> app = create_app(models=["kws-wav2vec2"])   # doctest: +SKIP
>>> serve(port=8000, models=["kws-wav2vec2"])   # doctest: +SKIP

See ``docs/serving.md`` for the API, the limits and the batching.
"""

from __future__ import annotations

from typing import Any

from .app import ServeConfig, create_app
from .batcher import MicroBatcher, Overloaded
from .files import FileStore

__all__ = ["FileStore", "MicroBatcher", "Overloaded", "ServeConfig", "create_app", "serve"]


def serve(host: str = "127.0.0.1", port: int = 8000, *, log_level: str = "info", **options: Any) -> None:
    """Run the app under uvicorn until interrupted (``options`` are :class:`ServeConfig` fields)."""
    import uvicorn

    uvicorn.run(create_app(ServeConfig(**options)), host=host, port=port, log_level=log_level)
