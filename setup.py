"""Build hook: ship the top-level catalogue (registry.yaml) inside the zoo_plugins package.

Everything else is in pyproject.toml. ``registry.yaml`` stays at the top of the
repository as the one place to edit a built-in model card; the wheel carries a
copy as ``zoo_plugins/registry.yaml``, next to the checkpoints and example clips
the cards point at (see ``zoo_plugins.catalogue_path``).
"""

from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py


class BuildWithCatalogue(build_py):
    def run(self) -> None:
        super().run()
        target = Path(self.build_lib) / "zoo_plugins" / "registry.yaml"
        target.parent.mkdir(parents=True, exist_ok=True)
        self.copy_file(str(Path(__file__).parent / "registry.yaml"), str(target))


setup(cmdclass={"build_py": BuildWithCatalogue})
