"""Pins that must agree across files stay in step."""

from __future__ import annotations

import re
from importlib import metadata
from pathlib import Path

import engine
from settings.providers import AWS_PROVIDER_VERSION

ROOT = Path(__file__).resolve().parent.parent


def _pins(path: Path) -> dict[str, str]:
    pins = {}
    for line in path.read_text().splitlines():
        m = re.match(r"^([A-Za-z0-9_.\[\]-]+)==([^\s#]+)", line.strip())
        if m:
            pins[m.group(1).split("[")[0].lower()] = m.group(2)
    return pins


IMAGE_REQUIREMENTS = ("config_agent/requirements.txt", "samples/worker/requirements.txt")
"""What the images install (each Dockerfile COPYs one of these)."""


def test_image_requirements_use_the_repository_pins():
    repository = _pins(ROOT / "requirements.txt")
    for path in IMAGE_REQUIREMENTS:
        pins = _pins(ROOT / path)
        assert pins, path
        for name, version in pins.items():
            assert repository.get(name) == version, f"{path}: {name}"


def test_every_image_installs_a_checked_requirements_file():
    dockerfiles = [
        path
        for top in ROOT.iterdir()
        if top.is_dir() and not top.name.startswith(".")
        for path in top.rglob("Dockerfile")
    ]
    assert len(dockerfiles) >= 3
    for path in dockerfiles:
        for line in path.read_text().splitlines():
            if line.startswith("COPY") and "requirements" in line:
                assert line.split()[1] in IMAGE_REQUIREMENTS, f"{path}: {line}"


def test_requirements_are_exact_pins_and_installed_as_pinned():
    for name, version in _pins(ROOT / engine.selected().requirements).items():
        assert metadata.version(name) == version, name


def test_engines_share_every_pin_but_their_own_packages():
    """requirements-cdktn*.txt are requirements*.txt with the engine swapped, nothing else."""
    own = {dist for e in engine.ENGINES.values() for dist in (e.core_dist, e.provider_dist)}
    own.add("constructs")  # each engine's core bounds it differently (see requirements-cdktn.txt)
    for default, other in (
        ("requirements.txt", "requirements-cdktn.txt"),
        ("requirements-dev.txt", "requirements-cdktn-dev.txt"),
    ):
        a, b = _pins(ROOT / default), _pins(ROOT / other)
        assert {k: v for k, v in a.items() if k not in own} == {
            k: v for k, v in b.items() if k not in own
        }, other


def _wrapped_provider_version() -> str:
    import engine.aws.provider as provider  # the ~10 s import, shared per session

    wrapped = re.search(r"hashicorp/aws/(\d+\.\d+\.\d+)", provider.__doc__ or "") or re.search(
        r"hashicorp/aws/(\d+\.\d+\.\d+)", Path(provider.__file__).read_text()
    )
    assert wrapped, "cannot find the wrapped provider version"
    return wrapped.group(1)


def test_every_stack_pins_the_provider_make_provider_builds_on_either_engine(synth):
    """One release everywhere (settings/providers.py): each stack's required_providers, the
    README's `hashicorp/aws X.Y.Z` mentions, and what `make provider` builds. The engine's
    bindings wrap another release of the same major version; README's engine table names it."""
    wrapped = _wrapped_provider_version()
    readme = (ROOT / "README.md").read_text()
    assert set(re.findall(r"hashicorp/aws\W{1,3}(\d+\.\d+\.\d+)", readme)) == {AWS_PROVIDER_VERSION}
    assert wrapped.split(".")[0] == AWS_PROVIDER_VERSION.split(".")[0]
    row = next(line for line in readme.splitlines() if line.startswith("| bindings generated"))
    assert f"| {wrapped} |" in row
    for name in synth.stack_names:
        required = synth.stack(name).doc["terraform"]["required_providers"]["aws"]
        assert required["version"] == AWS_PROVIDER_VERSION, name
