"""The one place that chooses the CDK engine: cdktf 0.21 (default) or CDK Terrain (cdktn).

Everything else imports the engine through this package, never `cdktf`, `cdktn` or a provider
package directly (tests/test_engine_imports.py enforces it):

    from engine.core import App, TerraformStack   # cdktf's or cdktn's core module
    from engine.aws.vpc import Vpc                # the AWS provider bindings' `vpc` submodule

`ECS_ENGINE=cdktn` selects CDK Terrain (`make synth ENGINE=cdktn` sets it and runs the
interpreter of `.venv-cdktn`, built from requirements-cdktn.txt). Nothing is imported until a
name under `engine.core` or `engine.aws` is: importing this package is cheap.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

ENGINE_VARIABLE = "ECS_ENGINE"
"""Environment variable naming the engine; unset means DEFAULT_ENGINE."""

PLAIN_VARIABLE = "ECS_ENGINE_PLAIN"
"""`1` turns both speed-ups off: import the provider package whole and let the interpreter
tear down normally. The reference path that tests compare the fast one against, byte for byte."""

DEFAULT_ENGINE = "cdktf"
ROOT = Path(__file__).resolve().parent.parent


class EngineError(RuntimeError):
    """The selected engine is not installed as pinned, or its packages changed layout."""


@dataclass(frozen=True)
class Engine:
    """One toolchain: its core module, its AWS provider bindings and where its pins live."""

    name: str
    core: str  # Python module of the construct library (App, TerraformStack, ...)
    core_dist: str  # its distribution name, as pinned in `requirements`
    provider: str  # Python package of the prebuilt hashicorp/aws bindings
    provider_dist: str
    assembly: str  # the jsii assembly that provider's `_jsii` subpackage loads
    requirements: str  # exact pins, relative to the repository root
    venv: str  # the virtualenv `make` builds from `requirements`

    def pins(self) -> dict[str, str]:
        """{distribution name: pinned version} read from this engine's requirements file."""
        pins = {}
        for line in (ROOT / self.requirements).read_text().splitlines():
            name, sep, version = line.split("#", 1)[0].strip().partition("==")
            if sep:
                pins[name.split("[")[0].strip().lower()] = version.strip()
        return pins


ENGINES = {
    "cdktf": Engine(
        name="cdktf",
        core="cdktf",
        core_dist="cdktf",
        provider="cdktf_cdktf_provider_aws",
        provider_dist="cdktf-cdktf-provider-aws",
        assembly="@cdktf/provider-aws",
        requirements="requirements.txt",
        venv=".venv",
    ),
    "cdktn": Engine(
        name="cdktn",
        core="cdktn",
        core_dist="cdktn",
        provider="cdktn_provider_aws",
        provider_dist="cdktn-provider-aws",
        assembly="@cdktn/provider-aws",
        requirements="requirements-cdktn.txt",
        venv=".venv-cdktn",
    ),
}


def selected() -> Engine:
    """The engine named by ECS_ENGINE (cdktf when unset); one clear error for any other value."""
    name = os.environ.get(ENGINE_VARIABLE, "").strip() or DEFAULT_ENGINE
    try:
        return ENGINES[name]
    except KeyError:
        raise EngineError(
            f"{ENGINE_VARIABLE}={name!r} is not an engine; choose one of "
            f"{', '.join(sorted(ENGINES))}"
        ) from None


def plain() -> bool:
    """True when ECS_ENGINE_PLAIN=1 asks for the unoptimized reference path."""
    return os.environ.get(PLAIN_VARIABLE, "").strip() == "1"


from engine import _aliases  # noqa: E402  (installs the import hook; needs the names above)

_aliases.install()
