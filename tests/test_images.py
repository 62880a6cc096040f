"""The README's deploy order works: registry -> `make images` -> services.

The images the services stack pulls are exactly the ones `scripts/images.py` pushes, into
repositories the registry stack (applied earlier) creates.
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from settings.environments import ENVIRONMENTS
from settings.images import registry_host
from tests.synth_helpers import remote_output

ROOT = Path(__file__).resolve().parent.parent
ENVS = {e.name: e for e in ENVIRONMENTS}


def _dry_run(env: str) -> list[str]:
    proc = subprocess.run([sys.executable, "scripts/images.py", env, "--dry-run"], cwd=ROOT,
                          capture_output=True, text=True, check=True)
    return proc.stdout.splitlines()


def _pulled_from_registry(synth, env: str) -> dict[str, set[str]]:
    """{image URI: Docker platforms of the tasks that pull it} for the env's own images."""
    settings = ENVS[env]
    services = synth.stack(f"services-{env}")
    registry = synth.stack(f"registry-{env}")
    names = {registry.ref("aws_ecr_repository", k, "repository_url"): v["name"]
             for k, v in registry.resources("aws_ecr_repository").items()}
    pulled: dict[str, set[str]] = {}
    for task in services.resources("aws_ecs_task_definition").values():
        platform = {"X86_64": "linux/amd64", "ARM64": "linux/arm64"}[
            task["runtime_platform"]["cpu_architecture"]]
        for container in json.loads(task["container_definitions"]):
            url, tag = container["image"].rsplit(":", 1)
            if url.startswith("${data.terraform_remote_state."):
                repository = names[remote_output(synth, services, url)]
                uri = f"{registry_host(settings)}/{repository}:{tag}"
                pulled.setdefault(uri, set()).add(platform)
    return pulled


@pytest.mark.parametrize("env", ENVS)
def test_images_pushes_exactly_what_the_services_pull(synth, env):
    lines = _dry_run(env)
    assert lines[0].startswith(f"sh -c 'aws ecr get-login-password --region {ENVS[env].region}")
    built: dict[str, set[str]] = {}
    for line in lines[1:]:
        words = line.split()
        if words[:2] == ["docker", "build"] or words[:3] == ["docker", "buildx", "build"]:
            dockerfile = words[words.index("-f") + 1]
            assert (ROOT / dockerfile).is_file(), f"{dockerfile} does not exist"
            uri = words[words.index("-t") + 1]
            built[uri] = set(words[words.index("--platform") + 1].split(","))
            multi = len(built[uri]) > 1
            # A multi-architecture image is built and pushed by buildx in one step.
            assert ("--push" in words) is multi and (words[1] == "buildx") is multi
            if not multi:
                assert f"docker push {uri}" in lines
    assert built and built == _pulled_from_registry(synth, env)


def test_an_image_shared_by_x86_and_arm64_tasks_is_built_for_both(monkeypatch):
    """The config agent runs beside every service: with an arm64 service it must be
    multi-architecture, while each service image matches its own tasks."""
    from settings import images
    from settings.schema import GravitonCapacity

    dev = ENVS["dev"]
    mixed = replace(dev, cluster=replace(dev.cluster, graviton=GravitonCapacity()),
                    services=(dev.services[0], dev.services[1].with_(architecture="arm64")))
    builds = {b.repository: b.platforms for b in images.built_images(mixed)}
    assert builds == {"config-agent": ("linux/amd64", "linux/arm64"),
                      "web": ("linux/amd64",), "worker": ("linux/arm64",)}


@pytest.mark.parametrize("env", ENVS)
def test_every_default_service_image_comes_from_the_registry(synth, env):
    """The shipped services run the project's own sample images, not stock ones."""
    registry = synth.stack(f"registry-{env}")
    repositories = {v["name"] for v in registry.resources("aws_ecr_repository").values()}
    assert repositories == {"config-agent", *(s.name for s in ENVS[env].services)}


def test_bad_env_is_one_clear_line():
    proc = subprocess.run([sys.executable, "scripts/images.py", "qa", "--dry-run"], cwd=ROOT,
                          capture_output=True, text=True)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        "invalid settings: unknown environment(s) qa selected; known: dev, staging, prod"]
