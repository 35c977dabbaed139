"""``zoo new-plugin``: write a ready-to-install plugin package from a template.

The generated project is a separate distribution (its own ``pyproject.toml``)
that registers a new task and one working example model under the
``zoo.plugins`` entry point group. The example model is a two-number energy
classifier ("silence" or "sound") whose weights the scaffold writes as a tiny
safetensors file, so the project passes :func:`zoo.testing.check_plugin` as
generated, with no training. Replace the task and model with your own.

>>> from zoo.scaffold import new_plugin
>>> new_plugin("bird", directory="zoo-bird")   # doctest: +SKIP
PosixPath('zoo-bird')
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from .errors import ZooError

__all__ = ["PluginNames", "new_plugin", "plugin_names"]

_NAME_RE = re.compile(r"[a-z][a-z0-9]*(-[a-z0-9]+)*")


@dataclass(frozen=True)
class PluginNames:
    """Every name the template needs, derived from the plugin name."""

    plugin: str  # entry point name, what `zoo plugins` shows
    dist: str  # the distribution, what `pip install` takes
    module: str  # the importable package
    task: str  # the task it registers
    task_class: str
    model: str  # the example model's registry name


def plugin_names(name: str, task: str | None = None) -> PluginNames:
    """Derive distribution, module, task and model names from a plugin name.

    >>> n = plugin_names("bird")
    >>> n.dist, n.module, n.task, n.task_class, n.model
    ('zoo-bird', 'zoo_bird', 'bird-detection', 'BirdDetection', 'bird-energy')

    Raises:
        ZooError: a name is not lower-case words joined by '-'.
    """
    for label, value in (("plugin name", name), ("task name", task)):
        if value is not None and not _NAME_RE.fullmatch(value):
            raise ZooError(
                f"{label} {value!r} must be lower-case letters and digits in words joined by '-', e.g. 'bird-song'"
            )
    base = name.removeprefix("zoo-") or name
    dist = name if name.startswith("zoo-") else f"zoo-{name}"
    task = task or f"{base}-detection"
    return PluginNames(
        plugin=name,
        dist=dist,
        module=dist.replace("-", "_"),
        task=task,
        task_class="".join(part.capitalize() for part in task.split("-")),
        model=f"{base}-energy",
    )


def new_plugin(
    name: str, task: str | None = None, directory: str | Path | None = None, check_tasks: bool = True
) -> Path:
    """Write a plugin project for ``name`` into ``directory`` (default ``./zoo-NAME``).

    Args:
        name: the plugin (entry point) name, e.g. ``"bird"``.
        task: the new task's name (default ``NAME-detection``).
        directory: where to write; it must not exist or be empty.
        check_tasks: refuse a task name an installed plugin already provides.

    Returns:
        The project directory.

    Raises:
        ZooError: a bad name, a task that already exists, or a non-empty directory.
    """
    names = plugin_names(name, task)
    if check_tasks:
        _refuse_existing_task(names.task)
    root = Path(directory) if directory is not None else Path(names.dist)
    if root.exists() and (not root.is_dir() or any(root.iterdir())):
        raise ZooError(f"{root} already exists and is not empty; pass --dir with a new folder")
    values = {
        "plugin": names.plugin,
        "dist": names.dist,
        "module": names.module,
        "task": names.task,
        "task_class": names.task_class,
        "model": names.model,
        "zoo_version": _zoo_version(),
    }
    for path_template, text in _TEMPLATES.items():
        path = root / _fill(path_template, values)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(_fill(text, values))
    _write_weights(root / names.module / "weights" / names.model / "model.safetensors")
    return root


def _refuse_existing_task(task: str) -> None:
    import warnings

    from .plugins import Zoo

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tasks = Zoo(strict=False).load().tasks
    if task in tasks:
        raise ZooError(
            f"task {task!r} is already provided by an installed plugin; the template creates a new task, so "
            "pass another --task. To add a model to an existing task, register only an architecture and a "
            "model (see docs/writing-plugins.md, 'Adding a model to an existing task')"
        )


def _zoo_version() -> str:
    from . import __version__

    return __version__


def _fill(text: str, values: dict[str, str]) -> str:
    for key, value in values.items():
        text = text.replace("{{" + key + "}}", value)
    return text


def _write_weights(path: Path) -> None:
    """The example model's two parameters, as safetensors (the only weights format the zoo loads)."""
    import numpy as np
    from safetensors.numpy import save_file

    path.parent.mkdir(parents=True, exist_ok=True)
    tensors = {"threshold_db": np.array([-60.0], dtype=np.float32), "slope": np.array([0.5], dtype=np.float32)}
    save_file(tensors, str(path), metadata={"format": "pt"})


# -- the templates: {{key}} is replaced; nothing else is special -------------
_PYPROJECT = """\
[build-system]
requires = ["setuptools>=69", "wheel"]
build-backend = "setuptools.build_meta"

[project]
name = "{{dist}}"
version = "0.1.0"
description = "Audio Zoo plugin: the {{task}} task and the {{model}} model."
readme = "README.md"
requires-python = ">=3.10"
license = "Apache-2.0"
dependencies = ["audio-zoo>={{zoo_version}}", "safetensors>=0.4", "numpy>=1.24"]

[project.optional-dependencies]
test = ["pytest>=8"]

# This table is how the zoo finds the plugin: NAME = "importable.module"
[project.entry-points."zoo.plugins"]
{{plugin}} = "{{module}}"

[tool.setuptools]
packages = ["{{module}}"]

[tool.setuptools.package-data]
{{module}} = ["weights/*/*.safetensors"]

[tool.pytest.ini_options]
testpaths = ["tests"]
"""

_INIT = '''\
"""Audio Zoo plugin '{{plugin}}': the ``{{task}}`` task and its example model ``{{model}}``.

The zoo finds this module through the ``zoo.plugins`` entry point in
pyproject.toml and calls the ``@zoo.hookimpl`` functions below, each with a
``register`` callback.
"""

from __future__ import annotations

from pathlib import Path

import zoo

from .model import EnergyClassifier, load_energy_classifier
from .task import {{task_class}}

__all__ = ["EnergyClassifier", "{{task_class}}"]

HERE = Path(__file__).parent

# A registry entry is data: the same keys as in the zoo's registry.yaml.
ENTRY = {
    "task": {{task_class}}.name,
    "architecture": "{{plugin}}-energy-classifier",
    "default": True,
    "description": "Example model: silence or sound, from the clip's mean power (two hand-set numbers)",
    "weights": {"bundled": "weights/{{model}}"},  # relative to base_dir below
    "sample_rate": 16000,
    "labels": ["silence", "sound"],
    "license": "Apache-2.0",
    "provenance": {
        "source": "written by `zoo new-plugin`; replace with where your weights come from",
        "recipe": "hand-set, no training: threshold_db=-60, slope=0.5",
    },
}


@zoo.hookimpl
def register_tasks(register):
    register({{task_class}}())


@zoo.hookimpl
def register_architectures(register):
    register("{{plugin}}-energy-classifier", load_energy_classifier, task={{task_class}}.name)


@zoo.hookimpl
def register_models(register):
    register("{{model}}", ENTRY, base_dir=HERE)
'''

_TASK = '''\
"""The ``{{task}}`` task: a clip in, a :class:`zoo.Classification` out.

The zoo's runner does the rest (decoding, batching, devices, errors); a task
only implements the steps of the Task contract::

    read -> preprocess -> collate -> forward -> postprocess
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
import zoo


class {{task_class}}(zoo.Task):
    """Label a clip with one of the card's ``labels`` (the example: silence or sound)."""

    name = "{{task}}"
    result_type = zoo.Classification  # or your own @dataclass(frozen=True) subclass of zoo.Result
    description = "Tell sound from silence (template task: replace with yours)"
    required_card_keys = ("labels",)

    # read() and preprocess() keep their defaults: the whole mono clip is one chunk.

    def forward(self, model: Any, batch: dict[str, torch.Tensor]) -> list[torch.Tensor]:
        probs = model.net(batch["inputs"], batch["lengths"])
        return list(probs.float().cpu())

    def postprocess(self, model: Any, item: Any, chunks: Sequence[zoo.Chunk], outputs: Sequence[Any]) -> Any:
        probs = outputs[0]
        labels = model.card.labels
        best = int(probs.argmax())
        return zoo.Classification(
            source=item.source,
            label=labels[best],
            score=float(probs[best]),
            scores={label: float(p) for label, p in zip(labels, probs, strict=True)},
        )
'''

_MODEL = '''\
"""The example network and its loader (weights are read from safetensors only)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
import zoo


class EnergyClassifier(torch.nn.Module):
    """``(waveforms (B, T), lengths (B,)) -> probabilities (B, 2)`` of silence and sound.

    P(sound) = sigmoid(slope * (level_db - threshold_db)), where level_db is the
    mean power of the valid samples of each row (padding is ignored).
    """

    def __init__(self, threshold_db: torch.Tensor, slope: torch.Tensor) -> None:
        super().__init__()
        self.register_buffer("threshold_db", threshold_db.float().reshape(()))
        self.register_buffer("slope", slope.float().reshape(()))

    def forward(self, waveforms: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        x = waveforms.float()
        valid = torch.arange(x.shape[-1], device=x.device)[None, :] < lengths[:, None]
        power = (x * x * valid).sum(-1) / lengths.clamp(min=1)
        level_db = 10 * torch.log10(power + 1e-10)
        sound = torch.sigmoid(self.slope * (level_db - self.threshold_db))
        return torch.stack([1 - sound, sound], dim=-1)


def load_energy_classifier(card: Any, weights_dir: Path, device: torch.device, dtype: torch.dtype) -> EnergyClassifier:
    """Build the network from ``model.safetensors`` in the resolved weights folder."""
    from safetensors.torch import load_file

    path = Path(weights_dir) / "model.safetensors"
    if not path.is_file():
        raise zoo.WeightsError(str(path), f"{card.name}: {path} is missing; reinstall the plugin")
    tensors = load_file(str(path))
    return EnergyClassifier(tensors["threshold_db"], tensors["slope"]).to(device).eval()
'''

_TEST = '''\
"""{{plugin}}: the zoo's conformance kit, and what the example model does."""

import numpy as np
import zoo
import zoo.testing


def test_plugin_conforms():
    """Every check of the zoo's conformance kit passes for this plugin's task and models."""
    zoo.testing.check_plugin("{{plugin}}")


def test_example_model_tells_sound_from_silence():
    model = zoo.load("{{model}}", device="cpu")
    rate = model.card.sample_rate
    tone = (0.3 * np.sin(2 * np.pi * 440 * np.arange(rate) / rate)).astype(np.float32)
    silence = np.zeros(rate, dtype=np.float32)
    loud, quiet = model([(tone, rate), (silence, rate)])
    assert (loud.label, quiet.label) == ("sound", "silence")
'''

_README = """\
# {{dist}}

An Audio Zoo plugin. It adds

- the task `{{task}}` (class `{{module}}.task.{{task_class}}`), and
- the model `{{model}}`, a two-number energy classifier ("silence" / "sound")
  whose weights ship in `{{module}}/weights/{{model}}/model.safetensors`.

It was generated by `zoo new-plugin {{plugin}}`; the example model is a
placeholder for yours.

## Use

```bash
pip install -e .                 # or: pip install {{dist}}
zoo plugins                      # lists '{{plugin}}'
zoo run {{model}} clip.wav
```

```python
import zoo

result = zoo.load("{{model}}")("clip.wav")
result.label, result.score
```

## Test

```bash
pip install -e ".[test]"
pytest
```

`tests/` calls `zoo.testing.check_plugin("{{plugin}}")`, the zoo's conformance
kit: strict loading, the registry entry (license, provenance), loading the
model, standard test signals, batch-versus-single consistency and bad inputs.

## Make it yours

1. Change the task in `{{module}}/task.py` (its `result_type`, `preprocess`,
   `forward`, `postprocess`).
2. Replace `EnergyClassifier` and `load_energy_classifier` in
   `{{module}}/model.py` with your network and loader; keep weights as
   safetensors (`weights: {bundled: ...}`, `{hf: ..., revision: ...}` or
   `{url: ..., sha256: ...}` in the entry).
3. Fill in `ENTRY` in `{{module}}/__init__.py`: license and provenance are
   required.
4. Publish: `python -m build` and `twine upload dist/*`; users then
   `pip install {{dist}}` and the zoo finds it.
"""

_TEMPLATES = {
    "pyproject.toml": _PYPROJECT,
    "README.md": _README,
    "{{module}}/__init__.py": _INIT,
    "{{module}}/task.py": _TASK,
    "{{module}}/model.py": _MODEL,
    "tests/test_{{module}}.py": _TEST,
}
