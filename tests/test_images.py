"""The README's deploy order works: registry -> `make images` -> services.

The images the services stack pulls are exactly the ones `scripts/images.py` pushes, into
repositories the registry stack (applied earlier) creates.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from settings.environments import ENVIRONMENTS
from settings.images import registry_host
from settings.rules import instance_architecture
from tests.synth_helpers import remote_output

ROOT = Path(__file__).resolve().parent.parent
ENVS = {e.name: e for e in ENVIRONMENTS}


def _dry_run(env: str) -> list[str]:
    proc = subprocess.run([sys.executable, "scripts/images.py", env, "--dry-run"], cwd=ROOT,
                          capture_output=True, text=True, check=True)
    return proc.stdout.splitlines()


def _pulled_from_registry(synth, env: str) -> set[str]:
    """Every image URI the env's task definitions pull from its own registry stack."""
    settings = ENVS[env]
    services = synth.stack(f"services-{env}")
    registry = synth.stack(f"registry-{env}")
    names = {registry.ref("aws_ecr_repository", k, "repository_url"): v["name"]
             for k, v in registry.resources("aws_ecr_repository").items()}
    pulled = set()
    for task in services.resources("aws_ecs_task_definition").values():
        for container in json.loads(task["container_definitions"]):
            url, tag = container["image"].rsplit(":", 1)
            if url.startswith("${data.terraform_remote_state."):
                repository = names[remote_output(synth, services, url)]
                pulled.add(f"{registry_host(settings)}/{repository}:{tag}")
    return pulled


@pytest.mark.parametrize("env", ENVS)
def test_images_pushes_exactly_what_the_services_pull(synth, env):
    lines = _dry_run(env)
    assert lines[0].startswith(f"sh -c 'aws ecr get-login-password --region {ENVS[env].region}")
    pushed = {line.split()[-1] for line in lines if line.startswith("docker push ")}
    assert pushed and pushed == _pulled_from_registry(synth, env)
    builds = [line for line in lines if line.startswith("docker build ")]
    assert len(builds) == len(pushed)
    platform = {"x86_64": "linux/amd64", "arm64": "linux/arm64"}[
        instance_architecture(ENVS[env].cluster.instance_type)]
    for line in builds:
        dockerfile = re.search(r" -f (\S+) ", line).group(1)
        assert (ROOT / dockerfile).is_file(), f"{dockerfile} does not exist"
        assert f"--platform {platform} " in line


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
