"""Registry: validation names the entry and key, lookups suggest close names."""

from __future__ import annotations

from pathlib import Path

import pytest

import zoo
from zoo import RegistryError, UnknownModelError
from zoo.registry import Registry, card_from_entry, parse_cards

GOOD = {
    "task": "keyword-spotting",
    "architecture": "hf-audio-classifier",
    "weights": {"bundled": "x"},
    "sample_rate": 16000,
    "license": "MIT",
    "provenance": {"trained_on": "x"},
    "labels": ["a", "b"],
}


def entry(**changes):
    e = dict(GOOD)
    for k, v in changes.items():
        if v is None:
            e.pop(k)
        else:
            e[k] = v
    return e


@pytest.mark.parametrize(
    "changes, key",
    [
        pytest.param({"sampel_rate": 16000}, "sampel_rate", id="unknown-key"),
        pytest.param({"task": None}, "task", id="missing-task"),
        pytest.param({"license": None}, "license", id="missing-license"),
        pytest.param({"provenance": None}, "provenance", id="missing-provenance"),
        pytest.param({"sample_rate": "16k"}, "sample_rate", id="bad-rate"),
        pytest.param({"labels": ["a", "a"]}, "labels", id="duplicate-labels"),
        pytest.param({"labels": [True, "b"]}, "labels", id="yaml-boolean-label"),
        pytest.param({"weights": {"hf": "org/model", "revision": "main"}}, "weights.revision", id="unpinned-hub"),
        pytest.param({"weights": {"bundled": "a", "path": "b"}}, "weights", id="two-sources"),
        pytest.param({"metrics": {"dev": 0.9}}, "metrics", id="flat-metrics"),
    ],
)
def test_validation_names_entry_and_key(changes, key):
    """Every malformed entry raises RegistryError with .entry and .key set."""
    with pytest.raises(RegistryError) as err:
        card_from_entry("my-model", entry(**changes), Path("."))
    assert err.value.entry == "my-model"
    assert err.value.key == key
    assert "my-model" in str(err.value) and key in str(err.value)


def test_unknown_key_suggests_the_right_one():
    """A misspelt key gets a did-you-mean."""
    with pytest.raises(RegistryError, match="did you mean 'sample_rate'"):
        card_from_entry("m", entry(sampel_rate=1), Path("."))


def test_unknown_model_suggests_close_matches():
    """Unknown names suggest close ones and point to `zoo list`."""
    reg = Registry(parse_cards({"kws-wav2vec2": GOOD, "asr-x": GOOD}, Path(".")))
    with pytest.raises(UnknownModelError) as err:
        reg.get("kws-wav2vec")
    assert err.value.suggestions == ["kws-wav2vec2"]
    assert "Did you mean 'kws-wav2vec2'" in str(err.value) and "zoo list" in str(err.value)


def test_list_with_wildcards_and_task():
    reg = Registry(parse_cards({"kws-a": GOOD, "kws-b": GOOD, "asr-a": entry(task="speech-recognition")}, Path(".")))
    assert [c.name for c in reg.list("kws-*")] == ["kws-a", "kws-b"]
    assert [c.name for c in reg.list(task="speech-recognition")] == ["asr-a"]
    assert [c.name for c in reg.list("*-a")] == ["asr-a", "kws-a"]


def test_duplicate_names_are_refused():
    reg = Registry(parse_cards({"m": GOOD}, Path(".")))
    with pytest.raises(RegistryError, match="defined twice"):
        reg.add(card_from_entry("m", GOOD, Path("."), plugin="other"))


def test_task_default():
    reg = Registry(parse_cards({"a": GOOD, "b": entry(default=True)}, Path(".")))
    assert reg.default_for("keyword-spotting").name == "b"


def test_repository_registry_is_valid():
    """registry.yaml parses, and every card's task is provided by an installed plugin."""
    z = zoo.get_zoo()
    assert len(z.registry) >= 1
    for card in z.registry.list():
        assert card.task in z.tasks, f"{card.name}: task {card.task} has no plugin"
        assert card.architecture in z.architectures, f"{card.name}: architecture {card.architecture} unknown"
        assert card.license and card.provenance


def test_zoo_api_lists_and_infos():
    assert "kws-wav2vec2" in zoo.list_models("kws-*")
    assert zoo.list_models(task="keyword-spotting")
    assert zoo.info("keyword-spotting").default  # task name -> its default model
    with pytest.raises(UnknownModelError, match="kws-wav2vec2"):
        zoo.load("kws-wav2vec")
