"""Pins that must agree across files stay in step."""

from __future__ import annotations

import re
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _pins(path: Path) -> dict[str, str]:
    pins = {}
    for line in path.read_text().splitlines():
        m = re.match(r"^([A-Za-z0-9_.\[\]-]+)==([^\s#]+)", line.strip())
        if m:
            pins[m.group(1).split("[")[0].lower()] = m.group(2)
    return pins


def test_agent_image_uses_the_repository_boto3_pin():
    assert _pins(ROOT / "config_agent" / "requirements.txt")["boto3"] == \
        _pins(ROOT / "requirements.txt")["boto3"]


def test_requirements_are_exact_pins_and_installed_as_pinned():
    for name, version in _pins(ROOT / "requirements.txt").items():
        assert metadata.version(name) == version, name


def _wrapped_provider_version() -> str:
    import cdktf_cdktf_provider_aws.provider as provider  # the ~10 s import, shared per session

    wrapped = re.search(r"hashicorp/aws/(\d+\.\d+\.\d+)", provider.__doc__ or "") or re.search(
        r"hashicorp/aws/(\d+\.\d+\.\d+)", Path(provider.__file__).read_text())
    assert wrapped, "cannot find the wrapped provider version"
    return wrapped.group(1)


def test_readme_and_every_stack_name_the_provider_the_python_package_wraps(synth):
    """cdktf.json lists no providers (that would demand `cdktf get`): README records the version
    users mirror for `make validate`, and each stack pins it in required_providers."""
    wrapped = _wrapped_provider_version()
    readme = (ROOT / "README.md").read_text()
    assert set(re.findall(r"hashicorp/aws\W{1,3}(\d+\.\d+\.\d+)", readme)) == {wrapped}
    for name in synth.stack_names:
        required = synth.stack(name).doc["terraform"]["required_providers"]["aws"]
        assert required["version"] == wrapped, name
