"""The built-in task plugins of Audio Zoo, registered through the ``zoo.plugins`` entry point group."""
