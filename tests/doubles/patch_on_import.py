"""TEST DOUBLE helper: run a patch on a module right after it is first imported, not at start-up.

The test doubles' ``sitecustomize`` modules run at interpreter start-up, before
a workflow step pins the CPU code path of torch and numpy
(:mod:`analog_tl.cpu_isa`); importing those libraries there would make the step
refuse to run. :func:`patch_on_import` defers a double's patch until the step
itself imports the module to patch. Never used outside the tests.
"""

from __future__ import annotations

import importlib.machinery
import sys
from collections.abc import Callable
from types import ModuleType


class _PatchOnImport:
    """A ``sys.meta_path`` finder that lets ``target`` load as usual, then calls ``patch(module)``."""

    def __init__(self, target: str, patch: Callable[[ModuleType], None]) -> None:
        self.target, self.patch = target, patch

    def find_spec(self, name, path, target=None):  # noqa: ANN001, ANN201 - importlib's finder protocol
        if name != self.target:
            return None
        spec = importlib.machinery.PathFinder.find_spec(name, path)
        if spec is None or spec.loader is None:
            return spec
        exec_module = spec.loader.exec_module

        def exec_and_patch(module: ModuleType) -> None:
            exec_module(module)
            self.patch(module)

        spec.loader.exec_module = exec_and_patch
        return spec


def patch_on_import(target: str, patch: Callable[[ModuleType], None]) -> None:
    """Call ``patch(module)`` once the module named ``target`` (dotted) has been imported and executed."""
    sys.meta_path.insert(0, _PatchOnImport(target, patch))
