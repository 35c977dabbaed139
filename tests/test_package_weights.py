"""The ``package`` weights source: model files shipped inside an installed Python package."""

from __future__ import annotations

import pickle
import zipfile
from pathlib import Path

import pytest

from zoo import RegistryError, UnsafeWeightsError, WeightsError
from zoo.registry import card_from_entry
from zoo.weights import check_safetensors, resolve

ENTRY = {
    "task": "speech-recognition",
    "architecture": "some-decoder",
    "sample_rate": 16000,
    "license": "BSD-2-Clause",
    "provenance": {"source": "a wheel"},
}


@pytest.fixture()
def package(tmp_path, monkeypatch):
    """An importable package ``fake_models`` with a ``model/`` folder of non-pickle files."""
    root = tmp_path / "site" / "fake_models"
    (root / "model" / "en").mkdir(parents=True)
    (root / "__init__.py").write_text("")
    (root / "model" / "en" / "mdef").write_bytes(b"BMDF\x01\x00\x00\x00")
    (root / "model" / "lm.bin").write_bytes(b"Trie Language Model")  # '.bin', but not a pickle
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    return root


def _card(**weights):
    return card_from_entry("m", ENTRY | {"weights": weights}, Path("."))


def test_resolves_to_the_package_folder(package):
    card = _card(package="fake_models", subfolder="model")
    assert card.weights_kind == "package"
    assert resolve(card) == (package / "model").resolve()


def test_the_whole_package_without_subfolder(package):
    assert resolve(_card(package="fake_models")) == package.resolve()


def test_missing_package_says_what_to_install():
    with pytest.raises(WeightsError, match=r"'no_such_pkg_xyz', which is not installed.*pip install no-such-pkg-xyz"):
        resolve(_card(package="no_such_pkg_xyz"))


def test_missing_subfolder_is_not_found(package):
    with pytest.raises(WeightsError, match="not found"):
        resolve(_card(package="fake_models", subfolder="nope"))


def test_subfolder_may_not_leave_the_package(package):
    with pytest.raises(WeightsError, match="outside package"):
        resolve(_card(package="fake_models", subfolder="../.."))


@pytest.mark.parametrize("protocol", [2, 4, 5])
def test_pickles_in_a_package_are_refused_by_content(package, protocol):
    """A pickle is refused whatever its suffix; the error names it."""
    (package / "model" / "weights.dat").write_bytes(pickle.dumps({"w": [1.0]}, protocol=protocol))
    with pytest.raises(UnsafeWeightsError, match="refusing pickle.*weights.dat"):
        resolve(_card(package="fake_models", subfolder="model"))


def test_torch_zip_checkpoints_are_refused(package):
    """torch.save / TorchScript archives (a zip holding data.pkl) count as pickles."""
    with zipfile.ZipFile(package / "model" / "net.jit", "w") as z:
        z.writestr("archive/data.pkl", b"\x80\x02}q\x00.")
    with pytest.raises(UnsafeWeightsError, match="net.jit"):
        resolve(_card(package="fake_models", subfolder="model"))


def test_safetensors_beside_other_files_pass(package):
    """As for every source, a folder with safetensors passes (the loader reads those)."""
    import numpy as np
    from safetensors.numpy import save_file

    with zipfile.ZipFile(package / "model" / "net.jit", "w") as z:
        z.writestr("archive/data.pkl", b"\x80\x02}q\x00.")
    save_file({"w": np.zeros(1, dtype=np.float32)}, str(package / "model" / "model.safetensors"))
    assert resolve(_card(package="fake_models", subfolder="model")).name == "model"


def test_an_empty_package_folder_is_refused(package):
    (package / "empty").mkdir()
    with pytest.raises(WeightsError, match="no .safetensors"):
        resolve(_card(package="fake_models", subfolder="empty"))


def test_other_sources_still_need_safetensors(tmp_path):
    """Only package sources accept non-pickle formats; a plain path still needs safetensors."""
    (tmp_path / "lm.bin").write_bytes(b"Trie Language Model")
    with pytest.raises(UnsafeWeightsError):
        check_safetensors(tmp_path, "m")
    check_safetensors(tmp_path, "m", allow_non_pickle=True)


@pytest.mark.parametrize(
    ("weights", "key"),
    [
        pytest.param({"package": "not a module"}, "weights.package", id="bad-name"),
        pytest.param({"package": "pocketsphinx", "hf": "x/y"}, "weights", id="two-sources"),
        pytest.param({"package": "pocketsphinx", "version": "5"}, "weights.version", id="unknown-key"),
    ],
)
def test_registry_validates_package_entries(weights, key):
    with pytest.raises(RegistryError) as err:
        _card(**weights)
    assert err.value.key == key


def test_package_entries_round_trip():
    card = _card(package="pocketsphinx", subfolder="model/en-us")
    assert card_from_entry("m", card.to_dict(), Path(".")) == card
