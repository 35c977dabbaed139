"""Plugin discovery, pinning and fault isolation."""

from __future__ import annotations

import types

import pytest

import zoo
from zoo import PluginError
from zoo.plugins import Zoo


class _Broken:
    @zoo.hookimpl
    def register_tasks(self, register):
        raise RuntimeError("boom")


class _Misspelt:
    @zoo.hookimpl
    def register_taks(self, register):  # typo on purpose
        pass


class _BadModel:
    @zoo.hookimpl
    def register_models(self, register):
        register("bad-entry", {"task": "keyword-spotting"})


class _Extra:
    @zoo.hookimpl
    def register_architectures(self, register):
        register("extra-arch", lambda *a: None)


def test_builtin_plugin_comes_from_the_entry_point_group():
    """The built-in kws plugin is found through `zoo.plugins`, like any third-party one."""
    z = Zoo().load()
    assert "kws" in z.plugins and z.plugins["kws"].error is None
    assert "keyword-spotting" in z.tasks
    assert z.plugins["kws"].version != "local"


@pytest.mark.parametrize("plugin", [_Broken(), _Misspelt(), _BadModel()], ids=["raises", "misspelt-hook", "bad-entry"])
def test_broken_plugin_warns_and_others_still_load(plugin):
    """A failing plugin is skipped with a warning naming it; the built-ins keep working."""
    with pytest.warns(RuntimeWarning, match="plugin 'broken'"):
        z = Zoo(strict=False).load(extra={"broken": plugin, "extra": _Extra()})
    assert z.plugins["broken"].error
    assert "keyword-spotting" in z.tasks and "extra-arch" in z.architectures
    assert not any(c.plugin == "broken" for c in z.registry.list())


def test_strict_mode_raises(monkeypatch):
    monkeypatch.setenv("ZOO_STRICT_PLUGINS", "1")
    with pytest.raises(PluginError) as err:
        Zoo().load(extra={"broken": _Broken()})
    assert err.value.plugin == "broken"


def test_pinning_and_disabling(monkeypatch):
    """ZOO_PLUGINS pins the plugin set (empty: none); ZOO_DISABLE_PLUGINS blocks some."""
    monkeypatch.setenv("ZOO_PLUGINS", "")
    assert "kws" not in Zoo().load().plugins
    monkeypatch.setenv("ZOO_PLUGINS", "kws")
    assert "kws" in Zoo().load().plugins
    monkeypatch.delenv("ZOO_PLUGINS")
    monkeypatch.setenv("ZOO_DISABLE_PLUGINS", "kws")
    assert "kws" not in Zoo().load().plugins


def test_registration_type_checks():
    class NotATask:
        @zoo.hookimpl
        def register_tasks(self, register):
            register(types.SimpleNamespace(name="x"))

    with pytest.raises(PluginError, match="expected a zoo.Task"):
        Zoo(strict=True).load(extra={"nt": NotATask()})
