"""The README's deploy order works: registry -> `make images` -> services; releases cause no drift.

The images the services stack pulls are exactly the ones `scripts/images.py` pushes, into
repositories the registry stack (applied earlier) creates, at the tag a release writes to each
image's SSM parameter (which Terraform creates once and then leaves alone).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from main import load_table
from settings.images import registry_host
from tests.synth_helpers import remote_output
from tests.tables import SAMPLE as ENVIRONMENTS

ROOT = Path(__file__).resolve().parent.parent
ENVS = {e.name: e for e in ENVIRONMENTS}
USER_ENVS = {e.name: e for e in load_table()}
"""scripts/images.py works on the user's table: its dry runs are checked against that synth."""


def _dry_run(env: str, *args: str) -> list[str]:
    proc = subprocess.run(
        [sys.executable, "scripts/images.py", env, "--dry-run", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    return proc.stdout.splitlines()


def _released_tags(synth, env: str) -> dict[str, str]:
    """{release parameter name: the tag the registry stack creates it with}."""
    return {
        p["name"]: p["insecure_value"]
        for p in synth.stack(f"registry-{env}").resources("aws_ssm_parameter").values()
    }


def _pulled_from_registry(synth, settings) -> dict[str, set[str]]:
    """{image URI: Docker platforms of the tasks that pull it} for the env's own images, the
    tag being the value the services stack reads from the image's release parameter."""
    env = settings.name
    services = synth.stack(f"services-{env}")
    registry = synth.stack(f"registry-{env}")
    names = {
        registry.ref("aws_ecr_repository", k, "repository_url"): v["name"]
        for k, v in registry.resources("aws_ecr_repository").items()
    }
    read = {
        services.ref("data.aws_ssm_parameter", k, "insecure_value"): v["name"]
        for k, v in services.data("aws_ssm_parameter").items()
    }
    released = _released_tags(synth, env)
    pulled: dict[str, set[str]] = {}
    for task in services.resources("aws_ecs_task_definition").values():
        platform = {"X86_64": "linux/amd64", "ARM64": "linux/arm64"}[
            task["runtime_platform"]["cpu_architecture"]
        ]
        for container in json.loads(task["container_definitions"]):
            url, tag = container["image"].rsplit(":", 1)
            if url.startswith("${data.terraform_remote_state."):
                repository = names[remote_output(synth, services, url)]
                assert read[tag] == f"/{env}/{repository}/image-tag", container["name"]
                uri = f"{registry_host(settings)}/{repository}:{released[read[tag]]}"
                pulled.setdefault(uri, set()).add(platform)
    return pulled


@pytest.mark.parametrize("env", USER_ENVS)
def test_images_pushes_exactly_what_the_services_pull(table_synth, env):
    lines = _dry_run(env)
    region = USER_ENVS[env].region
    assert lines[0].startswith(f"sh -c 'aws ecr get-login-password --region {region}")
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
    assert built and built == _pulled_from_registry(table_synth, USER_ENVS[env])


def test_an_image_shared_by_x86_and_arm64_tasks_is_built_for_both(monkeypatch):
    """The config agent runs beside every service: with an arm64 service it must be
    multi-architecture, while each service image matches its own tasks."""
    from settings import images
    from settings.schema import GravitonCapacity

    dev = ENVS["dev"]
    mixed = replace(
        dev,
        cluster=replace(dev.cluster, graviton=GravitonCapacity()),
        services=(dev.services[0], dev.services[1].with_(architecture="arm64")),
    )
    builds = {b.repository: b.platforms for b in images.built_images(mixed)}
    assert builds == {
        "config-agent": ("linux/amd64", "linux/arm64"),
        "web": ("linux/amd64",),
        "worker": ("linux/arm64",),
    }


@pytest.mark.parametrize("env", ENVS)
def test_every_default_service_image_comes_from_the_registry(synth, env):
    """The shipped services run the project's own sample images, not stock ones."""
    registry = synth.stack(f"registry-{env}")
    repositories = {v["name"] for v in registry.resources("aws_ecr_repository").values()}
    assert repositories == {"config-agent", *(s.name for s in ENVS[env].services)}


@pytest.mark.parametrize("env", ENVS)
def test_release_parameters_start_at_the_first_tag_and_terraform_never_resets_them(synth, env):
    registry = synth.stack(f"registry-{env}")
    parameters = registry.resources("aws_ssm_parameter")
    repositories = {v["name"] for v in registry.resources("aws_ecr_repository").values()}
    assert {p["name"] for p in parameters.values()} == {
        f"/{env}/{r}/image-tag" for r in repositories
    }
    for parameter in parameters.values():
        assert parameter["type"] == "String"
        assert parameter["insecure_value"] == ENVS[env].services_settings.image_tag
        assert parameter["lifecycle"]["ignore_changes"] == ["insecure_value"]
    # The services stack reads every one of them (and nothing else) at plan time.
    read = synth.stack(f"services-{env}").data("aws_ssm_parameter")
    assert sorted(d["name"] for d in read.values()) == sorted(
        p["name"] for p in parameters.values()
    )


@pytest.mark.parametrize("env", USER_ENVS)
def test_a_release_pushes_the_new_tag_then_writes_it_to_every_release_parameter(table_synth, env):
    lines = _dry_run(env, "--tag", "2.0.1", "--release")
    writes = [line for line in lines if line.startswith("aws ssm put-parameter")]
    assert writes == lines[-len(writes) :], "parameters change only after every push"
    assert {line.split()[line.split().index("--name") + 1] for line in writes} == set(
        _released_tags(table_synth, env)
    )
    for line in writes:
        words = line.split()
        assert words[words.index("--value") + 1] == "2.0.1"
        assert words[words.index("--region") + 1] == USER_ENVS[env].region
        assert "--overwrite" in words
    pushed = {line.split()[-1] for line in lines if line.startswith("docker push")}
    assert pushed and all(uri.endswith(":2.0.1") for uri in pushed)
    # Without --release nothing is written: the first deploy's push.
    assert not [line for line in _dry_run(env) if "put-parameter" in line]


def test_a_rollback_checks_every_image_exists_then_writes_the_parameters(table_synth):
    env = list(USER_ENVS)[-1]
    lines = _dry_run(env, "--tag", "0.1.0", "--release", "--no-build")
    checks = [line for line in lines if line.startswith("aws ecr describe-images")]
    assert lines[: len(checks)] == checks and not [line for line in lines if "docker" in line]
    repositories = {
        v["name"]
        for v in table_synth.stack(f"registry-{env}").resources("aws_ecr_repository").values()
    }
    assert {line.split()[line.split().index("--repository-name") + 1] for line in checks} == (
        repositories
    )
    assert all(line.endswith("--image-ids imageTag=0.1.0") for line in checks)
    assert len(lines) == 2 * len(checks), "one parameter write per checked image"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--release"], "images: --release needs --tag"),
        (["--no-build"], "images: --no-build only makes sense with --release"),
        (["--tag=-rc1", "--release"], "images: --tag: '-rc1' is not an image tag"),
    ],
)
def test_bad_release_arguments_are_one_clear_line(args, message):
    proc = subprocess.run(
        [sys.executable, "scripts/images.py", "dev", "--dry-run", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2
    (line,) = proc.stderr.strip().splitlines()
    assert line.startswith(message)


def test_bad_env_is_one_clear_line():
    proc = subprocess.run(
        [sys.executable, "scripts/images.py", "qa", "--dry-run"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        "invalid settings: unknown environment(s) qa selected; known: dev, staging, prod"
    ]


def test_without_credentials_images_says_so_before_any_docker_command(tmp_path):
    """It used to run `docker login`, fail there, and blame an existing tag."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(
        AWS_SHARED_CREDENTIALS_FILE=str(tmp_path / "none"),
        AWS_CONFIG_FILE=str(tmp_path / "none"),
        AWS_EC2_METADATA_DISABLED="true",
    )
    proc = subprocess.run(
        [sys.executable, "scripts/images.py", "dev"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2
    assert proc.stdout == "" and "docker" not in proc.stderr
    assert proc.stderr.startswith("images: no AWS credentials") and "tag" not in proc.stderr


def test_make_images_has_a_dry_run():
    # Run as from a shell: under `make test` the inherited MAKEFLAGS/MAKELEVEL add
    # "make[1]: Leaving directory" lines.
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MAKELEVEL", "MFLAGS")}
    proc = subprocess.run(
        ["make", "-n", "images", "ENV=dev", "DRY_RUN=1"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.stdout.splitlines()[-1].endswith("scripts/images.py dev --dry-run")
