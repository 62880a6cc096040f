"""Load the selected engine: its core module, and only the provider submodules asked for.

Why: `cdktf_cdktf_provider_aws/__init__.py` imports all ~2,200 generated resource modules up
front (~7 s, and ~4 s more to free them at exit) although a submodule needs only the package's
`_jsii` subpackage, which loads the jsii assembly. So the package module is created from its
spec WITHOUT running `__init__.py`, `_jsii` is imported (loading the assembly) and checked to be
the pinned one, then each submodule is imported on request. Node does the same on its side:
loading the assembly requires every resource's JS module (2-4 s), so jsii's node process starts
with engine/lazy_exports.js preloaded, which makes the provider's JS exports load on first use.
Any deviation from the verified layout raises EngineError (or a node error) naming what
changed: never a silent slow path or a half-loaded package. CDK Terrain's Python package is
already lazy (PEP 562); it goes through the same path so that both engines are loaded, checked
and timed alike. ECS_ENGINE_PLAIN=1 turns all of this off.
"""

from __future__ import annotations

import atexit
import importlib
import importlib.util
import json
import os
import sys
import tempfile
from importlib import metadata
from pathlib import Path
from types import ModuleType

from engine import PLAIN_VARIABLE, Engine, EngineError, plain, selected


def check_installed(engine: Engine) -> None:
    """The engine's core and provider distributions are installed at their pinned versions."""
    pins = engine.pins()
    for dist in (engine.core_dist, engine.provider_dist):
        pinned = pins.get(dist)
        if pinned is None:
            raise EngineError(f"{engine.requirements} does not pin {dist}")
        try:
            installed = metadata.version(dist)
        except metadata.PackageNotFoundError:
            raise EngineError(
                f"engine {engine.name!r} needs {dist}=={pinned}, which is not installed for "
                f"{sys.executable}; use {engine.venv}/bin/python (`make venv` builds it from "
                f"{engine.requirements}; `make synth ENGINE={engine.name}` does both)"
            ) from None
        if installed != pinned:
            raise EngineError(
                f"{dist} {installed} is installed but {engine.requirements} pins "
                f"{pinned}: rebuild {engine.venv} from it"
            )


LAZY_EXPORTS_JS = Path(__file__).with_name("lazy_exports.js")
_lazy_report: str | None = None  # file the preload lists each package it made lazy in


def core() -> ModuleType:
    """cdktf or cdktn, checked against its pin; jsii's node process starts with the preload."""
    global _lazy_report
    engine = selected()
    check_installed(engine)
    if engine.core in sys.modules or plain():
        return importlib.import_module(engine.core)
    fd, _lazy_report = tempfile.mkstemp(prefix="ecs-engine-lazy-exports-")
    os.close(fd)
    atexit.register(Path(_lazy_report).unlink, missing_ok=True)
    preload = {
        "NODE_OPTIONS": f"{os.environ.get('NODE_OPTIONS', '')} --require "
        f'"{LAZY_EXPORTS_JS}"'.strip(),
        "ECS_ENGINE_LAZY_EXPORTS": json.dumps([engine.assembly]),
        "ECS_ENGINE_LAZY_REPORT": _lazy_report,
    }
    saved = {name: os.environ.get(name) for name in preload}
    os.environ.update(preload)  # read once, when importing the core starts the node process
    try:
        return importlib.import_module(engine.core)
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def provider_submodule(name: str) -> ModuleType:
    """One submodule of the provider bindings (e.g. `vpc`), without the package's __init__."""
    engine = selected()
    package = provider_package(engine)
    path = Path(package.__path__[0]) / name / "__init__.py"
    if not name.isidentifier() or not path.is_file():
        raise ModuleNotFoundError(
            f"{engine.provider_dist} has no submodule {name!r} (engine.aws.{name})",
            name=f"engine.aws.{name}",
        )
    return importlib.import_module(f"{engine.provider}.{name}")


def provider_package(engine: Engine) -> ModuleType:
    """The provider's package module with its jsii assembly loaded; imported whole if plain."""
    if engine.provider in sys.modules:
        return sys.modules[engine.provider]
    check_installed(engine)
    if plain():
        return importlib.import_module(engine.provider)
    core()  # first, so that jsii's node process starts with the lazy-exports preload
    spec = importlib.util.find_spec(engine.provider)
    if spec is None or not spec.submodule_search_locations:
        raise _layout(engine, "it is not a package")
    if not (Path(spec.submodule_search_locations[0]) / "_jsii" / "__init__.py").is_file():
        raise _layout(engine, "it has no `_jsii` subpackage (the jsii assembly loader)")
    package = importlib.util.module_from_spec(spec)  # __path__ and __file__ set; nothing run
    sys.modules[engine.provider] = package
    try:
        _check_assembly(engine, importlib.import_module(f"{engine.provider}._jsii"))
        _check_lazy_exports(engine)
    except BaseException:
        sys.modules.pop(engine.provider, None)
        sys.modules.pop(f"{engine.provider}._jsii", None)
        raise
    return package


def _check_assembly(engine: Engine, jsii_module: ModuleType) -> None:
    assembly = getattr(jsii_module, "__jsii_assembly__", None)
    pinned = engine.pins()[engine.provider_dist]
    found = (getattr(assembly, "name", None), getattr(assembly, "version", None))
    if found != (engine.assembly, pinned):
        raise _layout(
            engine,
            f"its `_jsii` subpackage loaded assembly {found}, expected {(engine.assembly, pinned)}",
        )


def _check_lazy_exports(engine: Engine) -> None:
    """The preload made the provider's JS exports lazy (else node loaded all of them)."""
    listed = Path(_lazy_report).read_text().split() if _lazy_report else []
    if engine.assembly not in listed:
        raise _layout(
            engine,
            "jsii's node process loaded it without engine/lazy_exports.js "
            "(was the jsii kernel started before engine.core was imported, "
            "or did jsii change where it installs packages?)",
        )


def _layout(engine: Engine, what: str) -> EngineError:
    return EngineError(
        f"{engine.provider_dist}: {what}. engine/loader.py loads the provider without its "
        f"__init__.py and was verified against the layout of the pinned version; check the new "
        f"layout and update the loader, or set {PLAIN_VARIABLE}=1 to import the package whole "
        f"(slower)"
    )
