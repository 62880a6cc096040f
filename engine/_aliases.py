"""Import hook: `engine.core` and `engine.aws.<submodule>` ARE the selected engine's modules."""

from __future__ import annotations

import importlib.abc
import importlib.util
import sys
from collections.abc import Sequence
from importlib.machinery import ModuleSpec
from types import ModuleType

CORE = "engine.core"
AWS_PREFIX = "engine.aws."


def _target(fullname: str) -> bool:
    rest = fullname[len(AWS_PREFIX) :]
    return fullname == CORE or (fullname.startswith(AWS_PREFIX) and bool(rest) and "." not in rest)


class _Finder(importlib.abc.MetaPathFinder):
    def find_spec(
        self, fullname: str, path: Sequence[str] | None = None, target: ModuleType | None = None
    ) -> ModuleSpec | None:
        return importlib.util.spec_from_loader(fullname, _Alias()) if _target(fullname) else None


class _Alias(importlib.abc.Loader):
    def create_module(self, spec: ModuleSpec) -> None:
        return None

    def exec_module(self, module: ModuleType) -> None:
        # importlib hands back whatever sys.modules holds under the name once exec_module
        # returns, so the alias is the engine's own module object: the same classes, no second
        # copy of generated code, no type registered twice with jsii.
        from engine import loader

        name = module.__name__
        real = loader.core() if name == CORE else loader.provider_submodule(name[len(AWS_PREFIX) :])
        sys.modules[name] = real


def install() -> None:
    """Put the finder first on sys.meta_path, once."""
    if not any(isinstance(finder, _Finder) for finder in sys.meta_path):
        sys.meta_path.insert(0, _Finder())
