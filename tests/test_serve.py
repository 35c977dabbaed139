"""`zoo serve`: API, limits, batching across requests, a bounded load test and the page in headless Chromium.

Everything runs on loopback: a real uvicorn server on an ephemeral port for the
load and browser tests, FastAPI's TestClient with a stub model for the limits.
"""

from __future__ import annotations

import shutil
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pytest

pytest.importorskip("fastapi", reason="needs the serve extra: pip install 'audio-zoo[serve]'")
httpx = pytest.importorskip("httpx", reason="needs httpx for the test client")

from fastapi.testclient import TestClient  # noqa: E402

from zoo.results import Classification, ErrorResult, Result  # noqa: E402
from zoo.serve import FileStore, MicroBatcher, Overloaded, create_app  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
CLIPS = sorted((REPO / "plugins" / "zoo_plugins" / "kws" / "examples").glob("*.wav"))
MODEL = "kws-wav2vec2"


# ---------------------------------------------------------------------------------------------
# a stub model: fast, no weights, same calling convention as zoo.Model.run


class StubModel:
    """Labels a file by its byte count; fails like the zoo on unreadable audio; can block on an event."""

    name = MODEL

    def __init__(self, gate: threading.Event | None = None, result: Any = None) -> None:
        self.gate = gate
        self.result = result
        self.calls: list[int] = []

    def run(self, inputs: list[str], **kwargs: Any) -> list[Result]:
        if self.gate is not None:
            self.gate.wait(10)
        self.calls.append(len(inputs))
        out: list[Result] = []
        for x in inputs:
            data = Path(x).read_bytes()
            if not data.startswith(b"RIFF"):
                out.append(ErrorResult(source=x, error="AudioError", reason=f"not a readable audio file ({x})"))
            elif self.result is not None:
                out.append(self.result(x))
            else:
                out.append(Classification(source=x, label="yes", score=0.9, scores={"yes": 0.9, "no": 0.1}))
        return out


def _wav_bytes(seconds: float = 0.5, rate: int = 16000) -> bytes:
    import io

    import soundfile as sf

    buf = io.BytesIO()
    t = np.arange(int(seconds * rate), dtype=np.float32) / rate
    sf.write(buf, (0.2 * np.sin(2 * np.pi * 440 * t)).astype(np.float32), rate, format="WAV")
    return buf.getvalue()


@pytest.fixture()
def stub_client(tmp_path):
    model = StubModel()
    app = create_app(models=[MODEL], loader=lambda name: model, workdir=str(tmp_path), max_upload_bytes=200_000)
    with TestClient(app) as client:
        client.model = model  # type: ignore[attr-defined]
        client.workdir = tmp_path  # type: ignore[attr-defined]
        yield client


# ---------------------------------------------------------------------------------------------
# API and limits (stub model)


def test_models_and_healthz(stub_client):
    """/v1/models names the served model with its task and input kind; /healthz answers."""
    models = stub_client.get("/v1/models").json()
    assert [m["name"] for m in models] == [MODEL]
    assert models[0]["task"] == "keyword-spotting" and models[0]["input_kind"] == "audio"
    health = stub_client.get("/healthz").json()
    assert health["status"] == "ok"


def test_run_returns_one_result_per_file_in_order(stub_client):
    """Several files in one request come back in order, named by the uploaded file name (never a server path)."""
    files = [("file", (f"c{i}.wav", _wav_bytes(), "audio/wav")) for i in range(3)]
    r = stub_client.post(f"/v1/run/{MODEL}", files=files)
    assert r.status_code == 200
    assert [d["source"] for d in r.json()] == ["c0.wav", "c1.wav", "c2.wav"]
    assert all(d["type"] == "Classification" for d in r.json())
    assert not any((stub_client.workdir / "uploads").iterdir()), "uploads are deleted after the request"


@pytest.mark.parametrize(
    "name", [pytest.param("kws-wav2vec", id="typo"), pytest.param("nope", id="unknown"), pytest.param("..", id="dots")]
)
def test_unknown_model_is_404(stub_client, name):
    """An unknown model name is a 404 with the zoo's message."""
    r = stub_client.post(f"/v1/run/{name}", files={"file": ("a.wav", _wav_bytes(), "audio/wav")})
    assert r.status_code == 404
    if name == "kws-wav2vec":
        assert "Did you mean 'kws-wav2vec2'" in r.json()["detail"]


def test_unreadable_audio_is_422_with_the_zoo_message(stub_client):
    """A request whose every file is unreadable is a 422 whose detail is the zoo's reason, under the upload's name."""
    r = stub_client.post(f"/v1/run/{MODEL}", files={"file": ("junk.wav", b"not audio at all", "audio/wav")})
    assert r.status_code == 422
    detail = r.json()["detail"]
    assert detail.startswith("junk.wav: not a readable audio file")
    assert str(stub_client.workdir) not in r.text, "the server's temp path never reaches the client"


def test_mixed_good_and_bad_files_keep_per_item_errors(stub_client):
    """One bad file among good ones is an ErrorResult in its place; the request succeeds."""
    files = [("file", ("good.wav", _wav_bytes(), "audio/wav")), ("file", ("bad.wav", b"xx", "audio/wav"))]
    r = stub_client.post(f"/v1/run/{MODEL}", files=files)
    assert r.status_code == 200
    assert [d["type"] for d in r.json()] == ["Classification", "ErrorResult"]


def test_upload_over_the_limit_is_413(stub_client):
    """A body over max_upload_bytes is refused with 413 before the model sees it."""
    r = stub_client.post(f"/v1/run/{MODEL}", files={"file": ("big.wav", b"RIFF" + b"\0" * 300_000, "audio/wav")})
    assert r.status_code == 413
    assert stub_client.model.calls == []


def test_streamed_upload_over_the_limit_is_413(stub_client):
    """A chunked body without Content-Length is counted while it streams and cut off at the limit."""

    def body():
        for _ in range(40):
            yield b"x" * 10_000

    r = stub_client.post(
        f"/v1/run/{MODEL}", content=body(), headers={"content-type": "multipart/form-data; boundary=xyz"}
    )
    assert r.status_code == 413


def test_too_many_files_is_413(tmp_path):
    """More files than max_files in one request is a 413."""
    app = create_app(models=[MODEL], loader=lambda n: StubModel(), workdir=str(tmp_path), max_files=2)
    with TestClient(app) as client:
        files = [("file", (f"{i}.wav", _wav_bytes(0.1), "audio/wav")) for i in range(3)]
        assert client.post(f"/v1/run/{MODEL}", files=files).status_code == 413


def test_missing_file_field_is_400(stub_client):
    """A form without `file` fields is a 400 that says what to send."""
    r = stub_client.post(f"/v1/run/{MODEL}", data={"other": "x"}, files={"f": ("a.wav", b"RIFF", "audio/wav")})
    assert r.status_code == 400 and "`file`" in r.json()["detail"]


def test_server_full_is_503_with_retry_after(tmp_path):
    """With max_concurrent requests in flight, the next one gets 503 and Retry-After."""
    app = create_app(models=[MODEL], loader=lambda n: StubModel(), workdir=str(tmp_path), max_concurrent=0)
    with TestClient(app) as client:
        r = client.post(f"/v1/run/{MODEL}", files={"file": ("a.wav", _wav_bytes(), "audio/wav")})
        assert r.status_code == 503 and r.headers["retry-after"] == "1"
        assert client.get("/healthz").status_code == 200, "health and listing stay up"


def test_model_queue_full_is_503(tmp_path):
    """When a model's queue is full (max_pending), requests are refused with 503 instead of queueing."""
    gate = threading.Event()
    model = StubModel(gate=gate)
    app = create_app(models=[MODEL], loader=lambda n: model, workdir=str(tmp_path), max_pending=1, max_wait_ms=0)
    with TestClient(app) as client:
        post = lambda: client.post(f"/v1/run/{MODEL}", files={"file": ("a.wav", _wav_bytes(0.1), "audio/wav")})  # noqa: E731
        with ThreadPoolExecutor(2) as pool:
            first = pool.submit(post)  # taken by the worker, blocked on the gate
            deadline = time.time() + 10
            while not client.get("/healthz").json()["batching"] and time.time() < deadline:
                time.sleep(0.02)
            time.sleep(0.2)
            second = pool.submit(post)  # waits in the queue (pending = 1)
            while client.get("/healthz").json()["batching"][MODEL]["pending"] < 1 and time.time() < deadline:
                time.sleep(0.02)
            third = post()
            gate.set()
            assert third.status_code == 503 and "retry-after" in third.headers
            assert first.result().status_code == 200 and second.result().status_code == 200


class GenStub:
    """A generation model: one result per input (a prompt or None), seeded per input."""

    name = MODEL

    def __init__(self) -> None:
        self.calls: list[tuple[list[Any], Any]] = []

    def run(self, inputs: list[Any], progress: bool = False, seed: int | None = None) -> list[Result]:
        self.calls.append((list(inputs), seed))
        base = 0 if seed is None else seed
        return [
            Classification(source=x if isinstance(x, str) else "<generated>", label=f"s{base + i}", score=1.0)
            for i, x in enumerate(inputs)
        ]


@pytest.mark.parametrize("kind", ["prompt", "none"])
def test_prompt_and_generation_requests_take_json(tmp_path, monkeypatch, kind):
    """Models without audio input take JSON: prompts in order, or n outputs seeded seed + i; bad JSON is 400."""
    import zoo

    monkeypatch.setattr(zoo.get_zoo().task("keyword-spotting"), "input_kind", kind, raising=False)
    model = GenStub()
    app = create_app(models=[MODEL], loader=lambda n: model, workdir=str(tmp_path))
    with TestClient(app) as client:
        assert client.get("/v1/models").json()[0]["input_kind"] == kind
        body = {"prompts": ["a", "b"], "seed": 7} if kind == "prompt" else {"n": 3, "seed": 7}
        r = client.post(f"/v1/run/{MODEL}", json=body)
        assert r.status_code == 200, r.text
        labels = [d["label"] for d in r.json()]
        assert labels == (["s7", "s8"] if kind == "prompt" else ["s7", "s8", "s9"])
        if kind == "prompt":
            assert [d["source"] for d in r.json()] == ["a", "b"]
        bad = client.post(f"/v1/run/{MODEL}", content=b"{nope", headers={"content-type": "application/json"})
        assert bad.status_code == 400
        upload = client.post(f"/v1/run/{MODEL}", files={"file": ("p.mid", b"MThd", "audio/midi")}, data={"seed": "3"})
        if kind == "prompt":  # a prompt file is uploaded into the temp folder, like audio
            assert upload.status_code == 200 and upload.json()[0]["source"] == "p.mid"
            assert model.calls[-1][1] == 3 and str(tmp_path) in model.calls[-1][0][0]
        else:
            assert upload.status_code == 415


@pytest.mark.parametrize(
    "prompt",
    [
        pytest.param("/etc/passwd", id="absolute"),
        pytest.param("../../etc/passwd", id="dotdot"),
        pytest.param("~/.bashrc", id="home"),
        pytest.param("pyproject.toml", id="relative-existing"),
        pytest.param("a/../../b", id="inner-dotdot"),
        pytest.param("C:\\Windows\\win.ini", id="windows"),
    ],
)
def test_prompt_naming_a_server_path_is_refused(tmp_path, monkeypatch, prompt):
    """A text prompt that names a file on the server is a 400: prompt files must be uploaded."""
    import zoo

    monkeypatch.chdir(REPO)
    monkeypatch.setattr(zoo.get_zoo().task("keyword-spotting"), "input_kind", "prompt", raising=False)
    model = GenStub()
    app = create_app(models=[MODEL], loader=lambda n: model, workdir=str(tmp_path))
    with TestClient(app) as client:
        r = client.post(f"/v1/run/{MODEL}", json={"prompt": prompt})
        assert r.status_code == 400 and "upload" in r.json()["detail"]
        assert model.calls == []
        assert client.post(f"/v1/run/{MODEL}", json={"prompt": "a calm chorale in G"}).status_code == 200


# ---------------------------------------------------------------------------------------------
# files: opaque ids, no path traversal, lifetime


@pytest.mark.parametrize(
    "file_id",
    [
        pytest.param("..%2F..%2Fetc%2Fpasswd", id="encoded-slashes"),
        pytest.param("../../etc/passwd", id="dotdot"),
        pytest.param("%2e%2e%2f%2e%2e%2fetc%2fpasswd", id="encoded-dots"),
        pytest.param("%2Fetc%2Fpasswd", id="absolute"),
        pytest.param("....%2F%2F....%2F%2Fetc%2Fpasswd", id="doubled"),
        pytest.param("..%5C..%5Cwindows", id="backslash"),
        pytest.param("a" * 200, id="long"),
        pytest.param("x%00y", id="nul"),
    ],
)
def test_files_path_traversal_is_404(stub_client, file_id):
    """Anything but a live id from the store is a 404, whatever it spells."""
    r = stub_client.get(f"/v1/files/{file_id}")
    assert r.status_code == 404
    assert "root:" not in r.text


def test_files_by_name_of_a_stored_file_is_404(stub_client):
    """Even the real name of a stored file is not an id."""
    store = stub_client.app.state.store
    entry = store.add_bytes(b"hello", "a.txt")
    assert stub_client.get(f"/v1/files/{entry.id}").content == b"hello"
    for guess in (entry.path.name, str(entry.path), entry.path.parent.name, "data"):
        assert stub_client.get(f"/v1/files/{guess}").status_code == 404


def test_file_store_expires_and_caps(tmp_path):
    """Files expire after ttl_s and the oldest go when the store is over max_bytes or max_files."""
    store = FileStore(tmp_path / "s", ttl_s=0.2, max_bytes=10, max_files=5)
    a = store.add_bytes(b"123456", "a")
    b = store.add_bytes(b"123456", "b")  # 12 bytes > 10: a goes
    assert store.get(a.id) is None and store.get(b.id) is not None
    assert not a.path.exists()
    time.sleep(0.3)
    assert store.get(b.id) is None and len(store) == 0
    with pytest.raises(ValueError):
        store.add(__file__)  # outside the store's folder


@dataclass(frozen=True, eq=False)
class _Tone(Result):
    """A result holding audio, like separated sources or generated music."""

    audio_fields: ClassVar[tuple[str, ...]] = ("audio",)
    audio: Any = None
    sample_rate: int = 16000


@pytest.mark.skipif(not hasattr(Result, "save"), reason="needs Result.save (results contract)")
def test_audio_outputs_are_links_to_files(tmp_path):
    """Audio in a result comes back as /v1/files links that serve the wav; no server path in the JSON."""
    import io

    import soundfile as sf
    import torch

    make = lambda src: _Tone(source=src, audio=torch.full((1, 1600), 0.25))  # noqa: E731
    app = create_app(models=[MODEL], loader=lambda n: StubModel(result=make), workdir=str(tmp_path))
    with TestClient(app) as client:
        r = client.post(f"/v1/run/{MODEL}", files={"file": ("in.wav", _wav_bytes(), "audio/wav")})
        assert r.status_code == 200, r.text
        d = r.json()[0]
        assert str(tmp_path) not in r.text
        wavs = [f for f in d["files"] if f["name"].endswith(".wav")]
        assert wavs and wavs[0]["url"].startswith("/v1/files/") and wavs[0]["expires_in_s"] > 0
        got, rate = sf.read(io.BytesIO(client.get(wavs[0]["url"]).content))
        assert rate == 16000 and got.shape == (1600,) and np.allclose(got, 0.25)


# ---------------------------------------------------------------------------------------------
# the micro-batcher on its own


def test_batcher_gathers_concurrent_requests():
    """Requests submitted within max_wait_ms go to the model as one call, each getting its own results back."""
    calls: list[list[int]] = []

    def run(xs):
        calls.append(list(xs))
        return [x * 10 for x in xs]

    b = MicroBatcher(run, max_wait_ms=200, max_batch=8)
    try:
        futs = [b.submit([i, i + 100]) for i in range(4)]
        assert [f.result(5) for f in futs] == [[i * 10, (i + 100) * 10] for i in range(4)]
        assert len(calls) == 1 and len(calls[0]) == 8
    finally:
        b.close()


def test_batcher_refuses_when_full_and_propagates_errors():
    """Over max_pending waiting inputs, submit raises Overloaded; a failing run fails every request in the batch."""
    gate = threading.Event()

    def run(xs):
        gate.wait(5)
        raise RuntimeError("boom")

    b = MicroBatcher(run, max_wait_ms=0, max_pending=2)
    try:
        first = b.submit([1])
        deadline = time.time() + 5
        while b.pending and time.time() < deadline:  # the worker took it
            time.sleep(0.01)
        second = b.submit([2, 3])
        with pytest.raises(Overloaded):
            b.submit([4])
        gate.set()
        for f in (first, second):
            with pytest.raises(RuntimeError, match="boom"):
                f.result(5)
    finally:
        b.close()


# ---------------------------------------------------------------------------------------------
# a real server with the real model: batching, load test, the page


class LiveServer:
    """uvicorn in a background thread on an ephemeral loopback port."""

    def __init__(self, app: Any) -> None:
        import uvicorn

        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> str:
        self.thread.start()
        deadline = time.time() + 300
        while not self.server.started:
            if time.time() > deadline or not self.thread.is_alive():
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.05)
        port = self.server.servers[0].sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        return self.url

    def __exit__(self, *exc: Any) -> None:
        self.server.should_exit = True
        self.thread.join(30)


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    """(url, in-process results by clip name) for a server holding kws-wav2vec2."""
    import zoo

    if not CLIPS:
        pytest.skip("the bundled KWS example clips are missing")
    model = zoo.load(MODEL)
    expected = {Path(r.source).name: r for r in model.run([str(c) for c in CLIPS], progress=False)}
    app = create_app(
        models=[MODEL],
        loader=lambda name: model,
        workdir=str(tmp_path_factory.mktemp("serve")),
        max_wait_ms=5,
        max_batch=32,
    )
    with LiveServer(app) as url:
        yield url, expected


def test_load_test_nothing_lost_server_alive(live):
    """64 requests from 16 concurrent clients: every one answered, each with its own clip's label, batched."""
    url, expected = live
    work = [CLIPS[i % len(CLIPS)] for i in range(64)]

    def one(clip: Path) -> tuple[str, dict]:
        with httpx.Client(timeout=120) as c:
            r = c.post(f"{url}/v1/run/{MODEL}", files={"file": (clip.name, clip.read_bytes(), "audio/wav")})
            assert r.status_code == 200, r.text
            return clip.name, r.json()[0]

    t0 = time.time()
    with ThreadPoolExecutor(16) as pool:
        answers = list(pool.map(one, work))
    assert len(answers) == 64
    for name, d in answers:
        assert d["source"] == name
        assert d["label"] == expected[name].label
        assert d["score"] == pytest.approx(expected[name].score, abs=1e-4)
    health = httpx.get(f"{url}/healthz").json()
    assert health["status"] == "ok"
    stats = health["batching"][MODEL]
    assert stats["inputs"] >= 64 and stats["largest"] > 1, f"no batching across requests: {stats}"
    assert time.time() - t0 < 120


def test_page_is_served(live):
    """/ is the try-it page."""
    url, _ = live
    r = httpx.get(url + "/")
    assert r.status_code == 200 and "<canvas" in r.text and "/v1/run/" in r.text


def _chrome():
    webdriver = pytest.importorskip("selenium.webdriver", reason="needs selenium")
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    if not chromium or not driver:
        pytest.skip("needs Debian's chromium and chromium-driver (scripts/bootstrap installs them as root)")
    import tempfile

    opts = webdriver.ChromeOptions()
    opts.binary_location = chromium
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        f"--user-data-dir={tempfile.mkdtemp(prefix='zoo-chrome-')}",
    ):
        opts.add_argument(arg)
    from selenium.webdriver.chrome.service import Service

    return webdriver.Chrome(service=Service(driver), options=opts)


def test_page_upload_shows_label_in_headless_chromium(live):
    """In headless Chromium: pick the model, upload a clip, see its label, its scores and the input spectrogram."""
    url, expected = live
    browser = _chrome()
    try:
        from selenium.webdriver.common.by import By
        from selenium.webdriver.support.ui import WebDriverWait

        browser.get(url + "/")
        wait = WebDriverWait(browser, 60)
        wait.until(lambda b: b.find_elements(By.CSS_SELECTOR, f"#model option[value='{MODEL}']"))
        clip = CLIPS[0]
        browser.find_element(By.ID, "file").send_keys(str(clip))
        browser.find_element(By.ID, "run").click()
        label = wait.until(lambda b: b.find_elements(By.CSS_SELECTOR, "#result .label"))[0]
        assert label.text == expected[clip.name].label
        assert browser.find_elements(By.CSS_SELECTOR, "#result .bar"), "score bars are drawn"
        frames = wait.until(lambda b: b.find_element(By.ID, "spectrogram").get_attribute("data-frames"))
        assert int(frames) > 10
    finally:
        browser.quit()


def test_cli_serve_passes_options(monkeypatch):
    """`zoo serve --models a,b --port N ...` starts the server with those options, on loopback by default."""
    import zoo.serve
    from zoo.cli import main

    seen: dict[str, Any] = {}
    monkeypatch.setattr(zoo.serve, "serve", lambda host, port, **kw: seen.update(host=host, port=port, **kw))
    assert main(["serve", "--models", f"{MODEL}, keyword-spotting", "--port", "8123", "--max-wait-ms", "2"]) == 0
    assert seen["host"] == "127.0.0.1" and seen["port"] == 8123
    assert seen["models"] == [MODEL, "keyword-spotting"] and seen["max_wait_ms"] == 2.0
