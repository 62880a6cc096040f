"""Pins that must agree across files stay in step."""

from __future__ import annotations

import re
from importlib import metadata
from pathlib import Path

import engine

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


def test_readme_and_every_stack_name_the_provider_the_python_package_wraps(synth):
    """cdktf.json lists no providers (that would demand `cdktf get`): README records the version
    users mirror for `make validate`, and each stack pins it in required_providers."""
    wrapped = _wrapped_provider_version()
    readme = (ROOT / "README.md").read_text()
    if engine.selected().name == engine.DEFAULT_ENGINE:  # README's validate steps: the default
        assert set(re.findall(r"hashicorp/aws\W{1,3}(\d+\.\d+\.\d+)", readme)) == {wrapped}
    for name in synth.stack_names:
        required = synth.stack(name).doc["terraform"]["required_providers"]["aws"]
        assert required["version"] == wrapped, name
