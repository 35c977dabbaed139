"""Hostile input, cards and plugins (issue #16): nothing a user or a plugin hands over takes the zoo down."""

from __future__ import annotations

import hashlib
import importlib.metadata as md
import json
import os
import subprocess
import sys
import textwrap
import time
import warnings
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
import torchaudio
import yaml

import zoo
from zoo import AudioError, PluginError, RegistryError, UnsafeWeightsError, WeightsError, ZooError
from zoo import audio as zaudio
from zoo.cli import main
from zoo.errors import InvalidArgumentError
from zoo.hostile import ODD_RATES, hostile_cases
from zoo.plugins import Zoo
from zoo.registry import Registry, card_from_entry, load_registry_yaml
from zoo.runner import RunnerConfig
from zoo.weights import cache_root, digest_map, resolve

from .conftest import REPO

KWS_ENTRY = {
    "task": "keyword-spotting",
    "architecture": "hf-audio-classifier",
    "sample_rate": 16000,
    "labels": ["yes", "no", "_silence_", "_unknown_"],
    "license": "MIT",
    "provenance": {"trained_on": "nothing"},
}


@pytest.fixture(autouse=True)
def _own_cache(tmp_path, monkeypatch):
    """A private zoo cache, so digest records never leak between tests (or into ~/.cache)."""
    monkeypatch.setenv("ZOO_CACHE", str(tmp_path / "zoo-cache"))


# ---------------------------------------------------------------- the corpus
def test_hostile_corpus_through_a_model(tiny_model, tmp_path):
    """Every corpus input gets a result in its place: errors where expected, real results where expected."""
    cases = list(hostile_cases(16000, tmp_path))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # truncated files warn by design
        results = tiny_model([c.input for c in cases], batch_size=4)
    assert len(results) == len(cases)
    for case, result in zip(cases, results):
        assert result is not None, case.name
        if case.expect == "error":
            assert not result.ok and result.reason, f"{case.name}: expected an error, got {result}"
        elif case.expect == "ok":
            assert result.ok, f"{case.name}: {getattr(result, 'reason', '')}"


# ------------------------------------------------------------ 1: odd rates
@pytest.mark.parametrize("rate", ODD_RATES)
def test_odd_rate_resampling_stays_under_1_gb(rate):
    """A short clip at an odd rate resamples in well under 1 GB and a few seconds (was 3-13 GB)."""
    code = textwrap.dedent(
        f"""
        import resource, time
        import numpy as np
        import zoo.audio as a
        a.load((np.zeros(1000, np.float32) + 0.1, 44100), 16000)  # warm up torch's allocator and kernels
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        t = time.perf_counter()
        x = a.load((np.random.default_rng(0).standard_normal({rate} // 4).astype(np.float32) * 0.1, {rate}), 16000)
        grew = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
        print(x.num_samples, grew // 1024, time.perf_counter() - t)
        """
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    samples, grew_mb, seconds = proc.stdout.split()
    assert int(samples) == -(-(rate // 4) * 16000 // rate)
    assert int(grew_mb) < 1024 and float(seconds) < 10


@pytest.mark.parametrize("rate", [44_101, 8_001, 200_003, 11_025, 96_000])
def test_resampling_keeps_pitch_and_length(rate):
    """The approximated ratio is inaudible: a 1 kHz tone stays at 1 kHz, and the length is exact."""
    n = rate  # 1 s
    t = np.arange(n) / rate
    x = np.sin(2 * np.pi * 1000.0 * t).astype(np.float32)
    y = zaudio.load((x, rate), 16000).mono().numpy()
    assert y.shape[-1] == 16000
    spectrum = np.abs(np.fft.rfft(y * np.hanning(len(y))))
    assert abs(np.argmax(spectrum) * 16000 / len(y) - 1000.0) <= 1.0


@pytest.mark.parametrize(("orig", "new"), [(44_100, 16_000), (16_000, 48_000), (8_000, 22_050), (48_000, 44_100)])
def test_exact_position_resampler_matches_torchaudio(orig, new):
    """The bounded path evaluates torchaudio's own filter, so on common rates both agree to float precision."""
    x = torch.from_numpy(np.random.default_rng(0).standard_normal((2, orig // 3)).astype(np.float32))
    ours = zaudio._resample_at_positions(x, orig, new)
    theirs = torchaudio.functional.resample(x, orig, new)
    assert ours.shape == theirs.shape
    assert torch.allclose(ours, theirs, atol=1e-4)  # float32 sums over different tap counts


@pytest.mark.parametrize("rate", [0, -8000, 999, 384_001, 10**9, True, 16000.0, np.bool_(True)])
def test_unsupported_rates_are_audio_errors(rate):
    with pytest.raises(AudioError, match="sample rate|integer"):
        zaudio.load((np.zeros(1600, np.float32), rate), 16000)


def test_odd_rate_file_header(tmp_path):
    """A 64-byte WAV claiming 200,003 Hz loads (bounded); one claiming 1 MHz is a clear error."""
    sf.write(tmp_path / "odd.wav", np.full(10, 0.1, np.float32), 200_003, subtype="PCM_16")
    assert zaudio.load(str(tmp_path / "odd.wav"), 16000).num_samples == 1
    sf.write(tmp_path / "mhz.wav", np.full(10, 0.1, np.float32), 1_000_000, subtype="PCM_16")
    with pytest.raises(AudioError, match="outside the supported range"):
        zaudio.load(str(tmp_path / "mhz.wav"), 16000)


# ------------------------------------------------------------ 7: truncated long files
def test_truncated_long_flac_segments_read_up_to_the_damage(tmp_path):
    """Seeking past the damage of a truncated FLAC returns what is there, with a warning (was an error)."""
    rate = 16000
    x = (0.3 * np.sin(np.arange(rate * 30) / rate * 2 * np.pi * 440)).astype(np.float32)
    sf.write(tmp_path / "long.flac", x, rate)
    data = (tmp_path / "long.flac").read_bytes()
    (tmp_path / "cut.flac").write_bytes(data[: len(data) // 2])
    assert zaudio.load_segment(tmp_path / "cut.flac", 0, 5).num_samples == 5 * rate
    with pytest.warns(UserWarning, match="could not decode from"):
        late = zaudio.load_segment(tmp_path / "cut.flac", 20, 25)
    assert late.num_samples == 0
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the damage was reported once; later windows stay quiet
        assert zaudio.load_segment(tmp_path / "cut.flac", 25, 30).num_samples == 0


def test_truncated_long_flac_through_the_long_audio_reader(tmp_path):
    """The ASR long-file reader pads the missing part instead of failing the whole item."""
    from zoo_plugins.asr.task import LongAudio

    rate = 16000
    x = (0.3 * np.sin(np.arange(rate * 30) / rate * 2 * np.pi * 440)).astype(np.float32)
    sf.write(tmp_path / "long.flac", x, rate)
    data = (tmp_path / "long.flac").read_bytes()
    (tmp_path / "cut.flac").write_bytes(data[: len(data) // 2])
    long = LongAudio(str(tmp_path / "cut.flac"), rate, 30 * rate, "cut.flac")
    with pytest.warns(UserWarning):
        tail = long.segment(20 * rate, 25 * rate)
    assert tail.shape[-1] == 5 * rate and float(tail.abs().max()) == 0.0
    assert float(long.segment(0, rate).abs().max()) > 0.2


# ------------------------------------------------------------ 8: silently wrong input
def test_int64_and_bool_inputs_are_refused():
    x = (np.sin(np.arange(16000) / 10) * 1000).astype(np.int64)
    with pytest.raises(AudioError, match="int64 is not a PCM format"):
        zaudio.load((x, 16000), 16000)
    with pytest.raises(AudioError, match="integer rate"):
        zaudio.load((x.astype(np.float32), True), 16000)
    with pytest.raises(AudioError, match="not audio"):
        zaudio.load((np.ones(16000, bool), 16000), 16000)


def test_kws_silence_and_too_short_input(tiny_model):
    """Digital silence is `_silence_` (score 1); a 1-sample clip is silence or a clear error, never a keyword."""
    silent, one_zero, click = tiny_model(
        [(np.zeros(16000, np.float32), 16000), (np.zeros(1, np.float32), 16000), (np.full(1, 0.5, np.float32), 16000)]
    )
    assert silent.ok and silent.label == "_silence_" and silent.score == 1.0
    assert one_zero.ok and one_zero.label == "_silence_"
    assert not click.ok and "too short" in click.reason


# ------------------------------------------------------------ 4: runner arguments
@pytest.mark.parametrize("bad", [0, -1, True, 2.5])
def test_bad_batch_size_is_a_clear_error(tiny_model, bad):
    with pytest.raises(InvalidArgumentError, match="batch_size"):
        tiny_model([np.zeros(16000, np.float32)] * 2, batch_size=bad)
    with pytest.raises(ValueError):  # also a ValueError, as Python code expects
        RunnerConfig(batch_size=bad)


def test_runner_never_returns_none(tiny_model):
    results = tiny_model([np.zeros(8000, np.float32), "missing.wav"], batch_size=1)
    assert all(r is not None for r in results) and [r.ok for r in results] == [True, False]


def test_cli_batch_size_zero(capsys, tmp_path):
    with pytest.raises(SystemExit) as exc:
        main(["run", "kws-wav2vec2", "x.wav", "--batch-size", "0"])
    assert exc.value.code == 2 and "must be at least 1" in capsys.readouterr().err


# ------------------------------------------------------------ 9: tracebacks into ZooErrors
def test_cpu_half_precision_is_a_zoo_error(capsys):
    assert main(["run", "kws-wav2vec2", "x.wav", "--device", "cpu", "--dtype", "float16"]) == 2
    assert "use it on a GPU" in capsys.readouterr().err


def test_renamed_pickle_is_refused_before_loading(tmp_path):
    torch.save({"w": torch.zeros(3)}, tmp_path / "model.safetensors")
    (tmp_path / "config.json").write_text("{}")
    card = card_from_entry("m", KWS_ENTRY | {"weights": {"path": str(tmp_path)}}, Path("."))
    with pytest.raises(UnsafeWeightsError, match="not a valid safetensors file.*pickle"):
        resolve(card)
    (tmp_path / "model.safetensors").write_bytes(b"\xff" * 64)
    with pytest.raises(WeightsError, match="not a valid safetensors file"):
        resolve(card)


@pytest.mark.parametrize("tags", [5, "english", [1, 2], {"a": 1}])
def test_tags_must_be_a_list_of_strings(tags):
    with pytest.raises(RegistryError, match="tags"):
        card_from_entry("m", KWS_ENTRY | {"weights": {"path": "x"}, "tags": tags}, Path("."))


# ------------------------------------------------------------ 6, 10: registry files
def test_yaml_alias_bomb_is_refused_fast(tmp_path):
    """A 1 KB registry of nested aliases is refused at once instead of expanding to gigabytes."""
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 9)]
    path = tmp_path / "bomb.yaml"
    path.write_text("\n".join(lines) + "\n")
    t = time.perf_counter()
    with pytest.raises(RegistryError, match="aliases"):
        Registry().load_yaml(path)
    assert time.perf_counter() - t < 1.0


def test_duplicate_names_in_one_registry_file(tmp_path):
    entry = yaml.safe_dump({"m": KWS_ENTRY | {"weights": {"path": "x"}}})
    path = tmp_path / "dup.yaml"
    path.write_text(entry + entry)
    with pytest.raises(RegistryError, match="duplicate key 'm'.*line 1"):
        Registry().load_yaml(path)
    with pytest.raises(RegistryError, match="duplicate key 'task'"):
        load_registry_yaml("m:\n  task: a\n  task: b\n")


@pytest.mark.parametrize("revision", ["0" * 40 + "\n", "0" * 39, "0" * 40 + "0", "main"])
def test_revision_must_be_exactly_a_commit_sha(revision):
    with pytest.raises(RegistryError, match="revision"):
        card_from_entry("m", KWS_ENTRY | {"weights": {"hf": "a/b", "revision": revision}}, Path("."))


def test_bundled_path_may_not_leave_its_root(tmp_path):
    (tmp_path / "outside").mkdir()
    base = tmp_path / "plugin"
    base.mkdir()
    for bad in ("../outside", "/etc", "a/../../outside"):
        card = card_from_entry("m", KWS_ENTRY | {"weights": {"bundled": bad}}, base)
        with pytest.raises(WeightsError, match="points outside"):
            resolve(card)


def test_hub_subfolder_may_not_leave_the_snapshot(tmp_path, monkeypatch):
    import huggingface_hub

    snap = tmp_path / "snap"
    snap.mkdir()
    monkeypatch.setattr(huggingface_hub, "snapshot_download", lambda *a, **k: str(snap))
    entry = KWS_ENTRY | {"weights": {"hf": "a/b", "revision": "0" * 40, "subfolder": "../../etc"}}
    with pytest.raises(WeightsError, match="points outside"):
        resolve(card_from_entry("m", entry, Path(".")))


# ------------------------------------------------------------ 5: sha256
def _checkpoint(tmp_path: Path, tiny_kws_checkpoint: Path) -> Path:
    import shutil

    ckpt = tmp_path / "ckpt"
    shutil.copytree(tiny_kws_checkpoint, ckpt)
    return ckpt


def test_sha256_is_checked_for_path_and_bundled_sources(tmp_path, tiny_kws_checkpoint):
    """Every declared digest is verified on every resolve; a changed file is a WeightsError naming it."""
    ckpt = _checkpoint(tmp_path, tiny_kws_checkpoint)
    digests = digest_map(ckpt)
    for weights, base in (({"path": str(ckpt)}, Path(".")), ({"bundled": "ckpt"}, tmp_path)):
        card = card_from_entry("m", KWS_ENTRY | {"weights": weights | {"sha256": digests}}, base)
        assert resolve(card) == ckpt.resolve()
    (ckpt / "config.json").write_text((ckpt / "config.json").read_text() + " ")
    with pytest.raises(WeightsError, match="sha256 mismatch for .*config.json"):
        resolve(card)
    missing = digest_map(ckpt) | {"extra.bin": "0" * 64}
    card = card_from_entry("m", KWS_ENTRY | {"weights": {"path": str(ckpt), "sha256": missing}}, Path("."))
    with pytest.raises(WeightsError, match="extra.bin is declared"):
        resolve(card)


def test_verified_digests_are_cached_by_size_and_mtime(tmp_path, tiny_kws_checkpoint, monkeypatch):
    ckpt = _checkpoint(tmp_path, tiny_kws_checkpoint)
    card = card_from_entry("m", KWS_ENTRY | {"weights": {"path": str(ckpt), "sha256": digest_map(ckpt)}}, Path("."))
    resolve(card)
    record = json.loads((cache_root() / "sha256.json").read_text())
    assert str((ckpt / "model.safetensors").resolve()) in record
    calls = []
    real = hashlib.sha256
    monkeypatch.setattr(hashlib, "sha256", lambda *a: calls.append(1) or real(*a))
    resolve(card)
    assert calls == []  # nothing re-hashed


PINNED = ("kws-wav2vec2", "kws-speech-embedding", "kws-whisper-tiny", "asr-wav2vec2-bert", "asr-wav2vec2-bert-phones")


def test_bundled_registry_cards_declare_and_pass_their_digests():
    """The bundled checkpoints carry a sha256 for every file; every declared digest in the registry matches."""
    for card in zoo.get_zoo().registry.list():
        declared = card.weights.get("sha256")
        if card.name in PINNED:
            assert isinstance(declared, dict), card.name
            assert set(declared) == set(digest_map((card.base_dir / card.weights["bundled"]).resolve()))
        if isinstance(declared, dict) and card.weights_kind in ("bundled", "path"):
            resolve(card)


def test_package_source_honours_a_sha256_map(tmp_path, tiny_kws_checkpoint, monkeypatch):
    pkg = tmp_path / "site" / "fake_weights_pkg"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "model.onnx").write_bytes(b"onnx bytes")
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    digest = hashlib.sha256(b"onnx bytes").hexdigest()
    good = {"package": "fake_weights_pkg", "sha256": {"model.onnx": digest}}
    assert resolve(card_from_entry("m", KWS_ENTRY | {"weights": good}, Path("."))) == pkg.resolve()
    bad = {"package": "fake_weights_pkg", "sha256": {"model.onnx": "f" * 64}}
    with pytest.raises(WeightsError, match="sha256 mismatch for .*model.onnx"):
        resolve(card_from_entry("m", KWS_ENTRY | {"weights": bad}, Path(".")))


def test_url_cache_hit_is_rehashed_and_resolves_to_a_directory(tmp_path, tiny_kws_checkpoint):
    """A cached url download is checked on every load; a single file comes back as a directory."""
    content = (tiny_kws_checkpoint / "model.safetensors").read_bytes()
    digest = hashlib.sha256(content).hexdigest()
    cached = cache_root() / "weights" / digest[:16] / "file" / "model.safetensors"
    cached.parent.mkdir(parents=True)
    cached.write_bytes(content)
    card = card_from_entry(
        "m", KWS_ENTRY | {"weights": {"url": "https://example.org/model.safetensors", "sha256": digest}}, Path(".")
    )
    path = resolve(card)
    assert path.is_dir() and (path / "model.safetensors").exists()
    cached.write_bytes(content[:-1] + b"\x00")
    os.utime(cached, ns=(1, 1))
    with pytest.raises(WeightsError, match="sha256 mismatch"):
        resolve(card)


def test_url_archive_is_unpacked(tmp_path, tiny_kws_checkpoint):
    import tarfile

    archive = tmp_path / "tiny.tar.gz"
    with tarfile.open(archive, "w:gz") as t:
        t.add(tiny_kws_checkpoint, arcname="tiny")
    digest = hashlib.sha256(archive.read_bytes()).hexdigest()
    cached = cache_root() / "weights" / digest[:16] / "tiny.tar.gz"
    cached.parent.mkdir(parents=True)
    cached.write_bytes(archive.read_bytes())
    card = card_from_entry(
        "m", KWS_ENTRY | {"weights": {"url": "https://example.org/tiny.tar.gz", "sha256": digest}}, Path(".")
    )
    path = resolve(card)
    assert path.name == "tiny" and (path / "model.safetensors").exists()


# ------------------------------------------------------------ 2, 3: plugin isolation
class _Clash:
    """Registers a built-in model's name and a KWS card without labels, next to a good card."""

    @zoo.hookimpl
    def register_models(self, register):
        entry = {k: v for k, v in KWS_ENTRY.items() if k != "labels"}
        register("kws-wav2vec2", entry | {"weights": {"path": "/nowhere"}})
        register("clash-no-labels", entry | {"weights": {"path": "/nowhere"}})
        register("clash-good", KWS_ENTRY | {"weights": {"path": "/nowhere"}})


class _ExitInHook:
    @zoo.hookimpl
    def register_models(self, register):
        sys.exit(3)


def test_clashing_plugin_is_isolated_and_builtins_win():
    """A plugin reusing a built-in name or failing the card check loses those cards only, with a warning."""
    with pytest.warns(RuntimeWarning, match="plugin 'clash'") as caught:
        z = Zoo(strict=False).load(extra={"clash": _Clash()})
    messages = " ".join(str(w.message) for w in caught)
    assert "'kws-wav2vec2' is already registered by" in messages and "card check" in messages
    assert z._card_is_builtin(z.registry.get("kws-wav2vec2"))
    assert "clash-no-labels" not in z.registry and "clash-good" in z.registry
    info = z.plugins["clash"]
    assert info.error is None and info.models == ["clash-good"] and len(info.dropped) == 2


def test_strict_mode_still_fails_on_a_clash():
    with pytest.raises(PluginError) as err:
        Zoo(strict=True).load(extra={"clash": _Clash()})
    assert err.value.plugin == "clash"


def test_sys_exit_in_a_hook_is_that_plugins_failure():
    with pytest.warns(RuntimeWarning, match="plugin 'exiter'"):
        z = Zoo(strict=False).load(extra={"exiter": _ExitInHook()})
    assert "SystemExit" in z.plugins["exiter"].error or "3" in z.plugins["exiter"].error
    assert "kws-wav2vec2" in z.registry


def _fake_entry_points(tmp_path: Path, monkeypatch, name: str, source: str) -> None:
    (tmp_path / f"{name}.py").write_text(textwrap.dedent(source))
    monkeypatch.syspath_prepend(str(tmp_path))
    real = md.entry_points

    def entry_points(**kwargs):
        eps = list(real(**kwargs))
        if kwargs.get("group") == "zoo.plugins":
            eps.append(md.EntryPoint(name=name, value=name, group="zoo.plugins"))
        return eps

    monkeypatch.setattr(md, "entry_points", entry_points)


def test_sys_exit_at_plugin_import(tmp_path, monkeypatch):
    _fake_entry_points(tmp_path, monkeypatch, "aaa_exits", "import sys\nsys.exit('bye')\n")
    with pytest.warns(RuntimeWarning, match="plugin 'aaa_exits'.*SystemExit"):
        z = Zoo(strict=False).load()
    assert "keyword-spotting" in z.tasks and "kws-wav2vec2" in z.registry


def test_third_party_task_of_the_same_name_loses_to_the_builtin(tmp_path, monkeypatch):
    """Built-ins load first, so a third-party plugin sorted before them cannot take their task."""
    source = """
        import zoo

        class Fake(zoo.Task):
            name = "keyword-spotting"

        @zoo.hookimpl
        def register_tasks(register):
            register(Fake())
    """
    _fake_entry_points(tmp_path, monkeypatch, "aaa_tasks", source)
    with pytest.warns(RuntimeWarning, match="plugin 'aaa_tasks'.*already registered"):
        z = Zoo(strict=False).load()
    assert type(z.tasks["keyword-spotting"]).__module__.startswith("zoo_plugins")
    assert z.plugins["kws"].builtin and not z.plugins["aaa_tasks"].builtin


def test_cli_lists_and_loads_with_a_clashing_plugin(tmp_path, monkeypatch, capsys):
    """`zoo list`, `zoo plugins --json` and the built-ins keep working; `zoo plugins` says what was dropped."""
    source = """
        import zoo

        @zoo.hookimpl
        def register_models(register):
            register("kws-wav2vec2", {"task": "keyword-spotting", "architecture": "x", "weights": {"path": "/x"},
                                      "sample_rate": 16000, "license": "-", "provenance": {"a": 1}})
    """
    _fake_entry_points(tmp_path, monkeypatch, "zzz_clash", source)
    monkeypatch.setattr(zoo, "_zoo", None)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert main(["list"]) == 0
        assert "kws-wav2vec2" in capsys.readouterr().out
        assert main(["plugins", "--json"]) == 0
        plugins = {p["name"]: p for p in json.loads(capsys.readouterr().out)}
        assert "already registered" in plugins["zzz_clash"]["dropped"][0]
        assert main(["plugins"]) == 0
        assert "dropped model 'kws-wav2vec2'" in capsys.readouterr().out
        assert zoo.get_zoo()._card_is_builtin(zoo.info("kws-wav2vec2"))
    monkeypatch.setattr(zoo, "_zoo", None)


# ------------------------------------------------------------ 10: CLI exit codes and params
def test_run_fail_on_error(capsys, tmp_path):
    from .test_kws import EXAMPLES

    files = [str(EXAMPLES[0]), str(tmp_path / "missing.wav")]
    assert main(["run", "kws-wav2vec2", *files, "--device", "cpu"]) == 0  # documented: some failed, not all
    assert main(["run", "kws-wav2vec2", *files, "--device", "cpu", "--fail-on-error"]) == 1
    assert "1 of 2 input(s) failed" in capsys.readouterr().err


def test_unknown_param_keys(capsys):
    from .test_kws import EXAMPLES

    assert main(["run", "kws-wav2vec2", str(EXAMPLES[0]), "--device", "cpu", "--param", "hop_ss=0.25"]) == 2
    assert "did you mean 'hop_s'" in capsys.readouterr().err
    assert main(["run", "kws-wav2vec2", str(EXAMPLES[0]), "--device", "cpu", "--param", "colour=blue"]) == 0
    assert "not one of kws-wav2vec2's known params" in capsys.readouterr().err


def test_bench_fails_when_every_quality_job_was_skipped(tmp_path, capsys):
    suite = {
        "name": "nodata",
        "quality": [
            {"task": "keyword-spotting", "models": "kws-wav2vec2", "dataset": "speech-commands", "root": "/no/such"}
        ],
    }
    path = tmp_path / "nodata.yaml"
    path.write_text(yaml.safe_dump(suite))
    assert main(["bench", "--suite", str(path), "--out", str(tmp_path / "o"), "--no-speed"]) == 1
    assert "every quality job failed" in capsys.readouterr().err


# ------------------------------------------------------------ 11: data-dependent tests skip
def test_data_tests_skip_when_the_recipes_cannot_see_the_data(tmp_path, monkeypatch):
    """A folder found one way but missing where the recipes look skips the test instead of failing it."""
    import zoo.testing

    from .conftest import data_dir

    found = tmp_path / "found"
    (found / "speech-commands-noise").mkdir(parents=True)
    monkeypatch.setattr(zoo.testing, "find_shared_data", lambda: found)
    monkeypatch.setenv("ZOO_DATA", str(tmp_path / "empty"))
    with pytest.raises(pytest.skip.Exception, match="recipes read"):
        data_dir("speech-commands-noise")


@pytest.mark.slow
def test_recipe_tests_skip_without_shared_data(tmp_path):
    """With ZOO_DATA pointing at an empty folder, the recipe smoke tests skip with a reason."""
    tests = [
        "tests/test_kws.py::test_recipe_smoke",
        "tests/test_kws.py::test_embedding_recipe_smoke",
        "tests/test_kws.py::test_recipe_encoder_from_a_ctc_checkpoint",
        "tests/test_kws.py::test_encoder_distill_smoke",
        "tests/test_asr.py::test_recipe_smoke",
    ]
    env = dict(os.environ, ZOO_DATA=str(tmp_path))
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider", *tests],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert "5 skipped" in proc.stdout and "not found" in proc.stdout


def test_zoo_error_hierarchy():
    assert issubclass(InvalidArgumentError, ZooError) and issubclass(InvalidArgumentError, ValueError)


def test_truncated_safetensors_is_refused(tmp_path, tiny_kws_checkpoint):
    """A checkpoint cut short (an interrupted copy) is a WeightsError, not a loader traceback."""
    ckpt = _checkpoint(tmp_path, tiny_kws_checkpoint)
    data = (ckpt / "model.safetensors").read_bytes()
    (ckpt / "model.safetensors").write_bytes(data[: len(data) - 100])
    card = card_from_entry("m", KWS_ENTRY | {"weights": {"path": str(ckpt)}}, Path("."))
    with pytest.raises(WeightsError, match="truncated"):
        resolve(card)


def test_loader_failures_become_weights_errors(tiny_kws_checkpoint, monkeypatch):
    """An architecture whose loader trips on the weights raises WeightsError naming the model, not a raw traceback."""
    from zoo.plugins import Architecture

    def loader(card, weights_dir, device, dtype):
        raise RuntimeError("Error while deserializing header: HeaderTooLarge")

    z = zoo.get_zoo()
    monkeypatch.setitem(z.architectures, "boom-arch", Architecture("boom-arch", loader, "keyword-spotting", "test"))
    entry = KWS_ENTRY | {"architecture": "boom-arch", "weights": {"path": str(tiny_kws_checkpoint)}}
    with pytest.raises(WeightsError, match="m: architecture 'boom-arch' could not build.*HeaderTooLarge"):
        zoo.from_card(card_from_entry("m", entry, Path(".")), device="cpu")


def test_your_own_registry_cannot_take_a_builtin_name(tmp_path, monkeypatch):
    """A $ZOO_REGISTRY card reusing a built-in plugin's model name is dropped with a warning; the built-in stays."""
    import types

    builtin = types.ModuleType("zoo_plugins.fake_builtin")  # a zoo_plugins.* module counts as built in
    builtin.register_models = zoo.hookimpl(
        lambda register: register("builtin-x", KWS_ENTRY | {"weights": {"path": "/builtin"}})
    )
    path = tmp_path / "mine.yaml"
    path.write_text(yaml.safe_dump({"builtin-x": KWS_ENTRY | {"weights": {"path": "/mine"}}}))
    monkeypatch.setenv("ZOO_REGISTRY", str(path))
    with pytest.warns(RuntimeWarning, match="builtin-x"):
        z = Zoo(strict=False).load(extra={"fake-builtin": builtin})
    assert z.registry.get("builtin-x").weights["path"] == "/builtin"
