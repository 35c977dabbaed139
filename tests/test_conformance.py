"""The conformance kit (zoo.testing): the built-in plugins pass it, and it names what broke in others."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

import zoo
from zoo.results import Classification, Transcript
from zoo.task import Chunk, Task
from zoo.testing import CHECKS, ConformanceError, check_plugin, plugin_models, speech_like, standard_signals

from .conftest import REPO


def test_kws_plugin_and_task_conform():
    """The built-in kws plugin loads in strict mode and its task keeps the contract."""
    report = check_plugin("kws", models=[])
    assert [(c.name, c.status) for c in report.checks] == [("plugin-loads", "passed"), ("task-contract", "passed")]


def test_asr_plugin_and_task_conform():
    report = check_plugin("asr", models=[])
    assert report.ok and "task-contract" in {c.name for c in report.checks}


def test_kws_models_belong_to_the_kws_plugin():
    """Registry entries built by a plugin's architecture count as its models."""
    assert "kws-wav2vec2" in plugin_models("kws")


def _hub_snapshot_missing(card: zoo.ModelCard) -> str | None:
    """Why a hub entry cannot be checked here (not in the local cache; tests never download), or None."""
    if card.weights_kind != "hf":
        return None
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import LocalEntryNotFoundError

    try:
        snapshot_download(card.weights["hf"], revision=card.weights["revision"], local_files_only=True)
    except (LocalEntryNotFoundError, OSError, ValueError):
        return f"hub weights {card.weights['hf']} are not in the local Hugging Face cache (tests run offline)"
    return None


@pytest.mark.parametrize("name", zoo.list_models())
def test_every_registered_model_conforms(name):
    """Every model in the registry passes every conformance check under the plugin that builds it."""
    card = zoo.info(name)
    why = _hub_snapshot_missing(card)
    if why:
        pytest.skip(why)
    z = zoo.get_zoo()
    owner = card.plugin if card.plugin in z.plugins else z.architecture(card.architecture).plugin
    report = check_plugin(owner, models=[name], raise_on_failure=False)
    failed = [(c.name, c.detail) for c in report.failures]
    assert report.ok, failed
    assert [c.name for c in report.checks if c.subject == f"model {name!r}"] == list(CHECKS[2:])


def test_kws_task_conforms_with_a_tiny_checkpoint(tiny_entry):
    """The keyword-spotting task passes the model checks with a random tiny checkpoint."""

    class TinyKws:
        @zoo.hookimpl
        def register_models(self, register):
            register("kws-tiny", tiny_entry, base_dir=REPO)

    report = check_plugin("tiny-kws", extra={"tiny-kws": TinyKws()})
    assert [c.name for c in report.checks] == ["plugin-loads", *CHECKS[2:]]


# -- a toy plugin, broken in one way at a time -------------------------------
class Loudness(Task):
    """Loud or quiet, from the mean absolute sample of each row."""

    name = "toy-loudness"
    result_type = Classification
    description = "Is the clip loud or quiet?"

    def forward(self, model: Any, batch: dict[str, torch.Tensor]) -> list[float]:
        return model.net(batch["inputs"], batch["lengths"])

    def postprocess(self, model: Any, item: Any, chunks: Sequence[Chunk], outputs: Sequence[float]) -> Any:
        level = float(outputs[0])
        label = "loud" if level > 0.01 else "quiet"
        return Classification(source=item.source, label=label, score=level, scores={label: level})


def _level(inputs: torch.Tensor, lengths: torch.Tensor) -> list[float]:
    return [float(row[:n].abs().mean()) for row, n in zip(inputs, lengths.tolist())]


class _Forgiving(Loudness):
    name = "toy-forgiving"

    def read(self, model: Any, x: Any) -> Any:
        try:
            return super().read(model, x)
        except zoo.AudioError:  # wrong: swallows bad inputs instead of letting them fail
            return zoo.audio.load((np.zeros(100, dtype=np.float32), 16000))


class _WrongType(Loudness):
    name = "toy-wrong-type"

    def postprocess(self, model: Any, item: Any, chunks: Sequence[Chunk], outputs: Sequence[float]) -> Any:
        return Transcript(source=item.source, text="")


class _NoDescription(Loudness):
    name = "toy-undescribed"
    description = ""


ENTRY = {
    "architecture": "toy-level",
    "weights": {"path": "$ZOO_TOY_WEIGHTS"},  # set by the autouse fixture below
    "sample_rate": 16000,
    "license": "CC0-1.0",
    "provenance": {"source": "tests/test_conformance.py"},
}


@pytest.fixture(autouse=True)
def toy_weights(tmp_path, monkeypatch):
    """A directory with a (meaningless) safetensors file for the toy entries."""
    from safetensors.numpy import save_file

    save_file({"gain": np.ones(1, dtype=np.float32)}, str(tmp_path / "model.safetensors"))
    monkeypatch.setenv("ZOO_TOY_WEIGHTS", str(tmp_path))


def _toy(task: Task, net: Any = _level, **entry: Any) -> Any:
    class Toy:
        @zoo.hookimpl
        def register_tasks(self, register):
            register(task)

        @zoo.hookimpl
        def register_architectures(self, register):
            register("toy-level", lambda card, weights_dir, device, dtype: net)

        @zoo.hookimpl
        def register_models(self, register, tmp=Path(__file__).parent):
            register("toy-model", {**ENTRY, "task": task.name} | entry, base_dir=tmp)

    return Toy()


def _batch_dependent(inputs: torch.Tensor, lengths: torch.Tensor) -> list[float]:
    # wrong: normalises by the loudest row of the batch, so results depend on batch-mates
    levels = _level(inputs, lengths)
    top = max(levels) or 1.0
    return [x / top for x in levels]


def _crashing(inputs: torch.Tensor, lengths: torch.Tensor) -> list[float]:
    raise RuntimeError("kernel exploded")


def test_toy_plugin_passes():
    """A correct toy plugin passes every check, and the report says so."""
    report = check_plugin("toy", extra={"toy": _toy(Loudness())}, models=["toy-model"])
    assert report.ok and {c.status for c in report.checks} == {"passed"}


@pytest.mark.parametrize(
    ("plugin", "check", "words"),
    [
        pytest.param(_toy(Loudness(), net=_batch_dependent), "batch-consistency", "batched result differs", id="batch"),
        pytest.param(_toy(_Forgiving()), "bad-inputs", "missing file gave an ok result", id="bad-inputs"),
        pytest.param(_toy(_WrongType()), "standard-signals", "declares Classification", id="result-type"),
        pytest.param(_toy(Loudness(), net=_crashing), "standard-signals", "kernel exploded", id="crash"),
        pytest.param(_toy(_NoDescription()), "task-contract", "description", id="task"),
        pytest.param(_toy(Loudness(), license="unknown"), "registry-entry", "placeholder", id="license"),
        pytest.param(_toy(Loudness(), provenance={"note": "x"}), "registry-entry", "provenance", id="provenance"),
        pytest.param(_toy(Loudness(), weights={"path": "/no/such/dir"}), "model-loads", "not found", id="weights"),
    ],
)
def test_failures_name_the_plugin_the_model_and_the_check(plugin, check, words):
    """Each broken toy fails exactly the check it breaks, and the error names plugin, subject and check."""
    with pytest.raises(ConformanceError) as err:
        check_plugin("toy", extra={"toy": plugin})
    message = str(err.value)
    assert "plugin 'toy'" in message and f"check {check!r} failed" in message and words in message
    failed = err.value.report.failures
    assert [c.name for c in failed] == [check]
    if check != "task-contract":
        assert "model 'toy-model'" in message


def test_missing_weights_can_be_skipped():
    """missing_weights='skip' turns absent weights into skipped checks, not failures."""
    toy = _toy(Loudness(), weights={"path": "/no/such/dir"})
    report = check_plugin("toy", extra={"toy": toy}, missing_weights="skip")
    assert report.ok and {c.name for c in report.skipped} == set(CHECKS[3:])


def test_a_broken_plugin_fails_plugin_loads():
    class Broken:
        @zoo.hookimpl
        def register_tasks(self, register):
            raise RuntimeError("boom")

    with pytest.raises(ConformanceError, match=r"plugin 'broken'.*'plugin-loads' failed.*boom"):
        check_plugin("broken", extra={"broken": Broken()})


def test_an_uninstalled_plugin_says_how_to_install_it():
    with pytest.raises(ConformanceError, match=r"no plugin named 'nope'.*pip install -e \."):
        check_plugin("nope")


def test_models_option_limits_and_reports_unknown_names():
    report = check_plugin("toy", extra={"toy": _toy(Loudness())}, models=["nope"], raise_on_failure=False)
    assert [(c.name, c.subject) for c in report.failures] == [("registry-entry", "model 'nope'")]


@pytest.mark.parametrize("rate", [8000, 16000, 44100])
def test_standard_signals(rate):
    """Finite float32 mono signals of different lengths at the requested rate."""
    signals = standard_signals(rate)
    assert set(signals) == {"silence", "white-noise", "tone-440hz", "tones", "speech-like"}
    assert len({len(x) for x in signals.values()}) == len(signals)
    for x in signals.values():
        assert x.dtype == np.float32 and x.ndim == 1 and np.isfinite(x).all() and np.abs(x).max() <= 1.0
    assert not signals["silence"].any()
    assert len(signals["speech-like"]) == int(1.5 * rate)


def test_speech_like_has_syllables_pauses_and_voice_band_energy():
    """Syllable-rate envelope with a silent 4th syllable; energy mostly between 100 Hz and 4 kHz."""
    x = speech_like(16000, 1.0)
    rms = lambda a, b: float(np.sqrt(np.mean(x[int(a * 16000) : int(b * 16000)] ** 2)))  # noqa: E731
    assert rms(0.1, 0.15) > 10 * max(rms(0.76, 0.99), 1e-6)  # syllable vs. the pause
    spectrum = np.abs(np.fft.rfft(x)) ** 2
    freqs = np.fft.rfftfreq(len(x), 1 / 16000)
    assert spectrum[(freqs > 100) & (freqs < 4000)].sum() > 0.9 * spectrum.sum()
    assert np.array_equal(x, speech_like(16000, 1.0))
