"""Build and push the images an environment builds itself to its ECR repositories; release them.

First deploy, after `registry-<env>` is applied and before `services-<env>`:

    python scripts/images.py dev            # docker login, build, push every image of dev
    python scripts/images.py dev --dry-run  # print the commands only

A release (from CI or a laptop), then `terraform apply` of `services-<env>`:

    python scripts/images.py dev --tag 0.2.0 --release
    python scripts/images.py dev --tag 0.1.0 --release --no-build   # roll back to a pushed tag

builds and pushes every image at the new tag and only then writes the tag to each image's SSM
release parameter, which the services stack reads at plan time: the plan shows the new task
definitions and Terraform deploys them, so nothing changes behind Terraform's back.

Which images, from which Dockerfile, for which platform, to which repository and parameter all
come from the settings (`settings/images.py`), the same source the registry and services stacks
use. Needs docker (with buildx for a foreign or multi-architecture platform) and the AWS CLI.
Every command runs in the env's region as its `deploy_role` (assumed with the shell's
credentials; `scripts/aws_session.py`), or as the shell's credentials when it names none; no
usable credentials is one line before any command. Tags are immutable: pushing an existing tag
fails.
"""

from __future__ import annotations

import argparse
import shlex
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a file: scripts/ is on the path, not the root
    sys.path.insert(0, str(ROOT))

from botocore.exceptions import BotoCoreError, ClientError  # noqa: E402

from scripts.aws_session import (  # noqa: E402
    AccountMismatch,
    aws_problem,
    cli_environment,
    deploy_session,
)
from settings.environments import select  # noqa: E402
from settings.images import ImageBuild, built_images, registry_host  # noqa: E402
from settings.rules import image_tag_problem  # noqa: E402
from settings.validation import SettingsError  # noqa: E402


def image_uri(host: str, repository: str, tag: str) -> str:
    """`<registry host>/<repository>:<tag>`, the URI the task definitions pull."""
    return f"{host}/{repository}:{tag}"


def commands(
    env_name: str,
    tag: str | None = None,
    release: bool = False,
    build: bool = True,
    only: tuple[str, ...] | None = None,
) -> list[list[str]]:
    """Every command, in order: log in to the env's registry, build and push each image at `tag`
    (default: the env's first `image_tag`), then, for a release, point each image's release
    parameter at `tag` (after every push succeeded, so no service is told to pull a missing
    image). Without `build` (a rollback to a tag pushed before) each image is first checked to
    exist in ECR instead. `only` limits it to those repositories."""
    (env,) = select(env_name)
    host = registry_host(env)
    tag = env.services_settings.image_tag if tag is None else tag
    if problem := image_tag_problem(tag):
        raise ValueError(problem)
    if not build and not release:
        raise ValueError("nothing to do without building or releasing")
    images = _selected(built_images(env), only, env_name)
    if build:
        steps = [_login(env.region, host)]
        for image in images:
            steps.extend(_build_and_push(image, image_uri(host, image.repository, tag)))
    else:
        steps = _existence_checks(env.region, images, tag)
    if release:
        steps.extend(_release_steps(env.region, images, tag))
    return steps


def _selected(
    images: tuple[ImageBuild, ...], only: tuple[str, ...] | None, env_name: str
) -> tuple[ImageBuild, ...]:
    """`images` limited to the repositories in `only` (all when None); one it lacks is an error."""
    if only is None:
        return images
    unknown = sorted(set(only) - {image.repository for image in images})
    if unknown:
        raise ValueError(f"--only: {', '.join(unknown)} not built by {env_name}")
    return tuple(image for image in images if image.repository in only)


def _login(region: str, host: str) -> list[str]:
    """Docker logs in to the env's registry with an ECR token."""
    login = (
        f"aws ecr get-login-password --region {shlex.quote(region)} "
        f"| docker login --username AWS --password-stdin "
        f"{shlex.quote(host)}"
    )
    return ["sh", "-c", login]


def _existence_checks(region: str, images: tuple[ImageBuild, ...], tag: str) -> list[list[str]]:
    """Fail unless each image exists in ECR at `tag` (a rollback builds nothing)."""
    return [
        [
            "aws",
            "ecr",
            "describe-images",
            "--region",
            region,
            "--repository-name",
            image.repository,
            "--image-ids",
            f"imageTag={tag}",
        ]
        for image in images
    ]


def _release_steps(region: str, images: tuple[ImageBuild, ...], tag: str) -> list[list[str]]:
    """Point each image's release parameter at `tag`."""
    return [
        [
            "aws",
            "ssm",
            "put-parameter",
            "--region",
            region,
            "--name",
            image.tag_parameter,
            "--value",
            tag,
            "--overwrite",
        ]
        for image in images
    ]


def _build_and_push(image: ImageBuild, uri: str) -> list[list[str]]:
    platforms = ",".join(image.platforms)
    if len(image.platforms) == 1:
        return [
            ["docker", "build", "--platform", platforms, "-f", image.dockerfile, "-t", uri, "."],
            ["docker", "push", uri],
        ]
    # One multi-architecture image (manifest list): buildx builds and pushes it.
    return [
        [
            "docker",
            "buildx",
            "build",
            "--platform",
            platforms,
            "-f",
            image.dockerfile,
            "-t",
            uri,
            "--push",
            ".",
        ]
    ]


def _hint(step: list[str], no_build: bool) -> str:
    """What most likely made `step` fail."""
    if step[0] == "sh":
        return (
            "docker login to ECR failed: are docker and the AWS CLI working, and do the "
            "credentials reach the registry's account?"
        )
    if step[:3] == ["aws", "ecr", "describe-images"]:
        return "is the tag in every repository?" if no_build else "see the output above"
    if "push" in step or "--push" in step:
        return (
            "an existing tag cannot be pushed again: choose a new --tag, or release a "
            "pushed one with --no-build"
        )
    if step[:2] == ["aws", "ssm"]:
        return "could not write the release parameter: is registry-<env> applied?"
    return "see the output above"


def missing_tools() -> str | None:
    """The tools the push needs that are not on PATH, as one line, else None."""
    missing = [tool for tool in ("docker", "aws") if shutil.which(tool) is None]
    if missing:
        return f"{' and '.join(missing)} not found on PATH (needed to build and push)"
    return None


def execute(
    steps: list[list[str]],
    environment: dict[str, str],
    no_build: bool = False,
    run: Callable[..., subprocess.CompletedProcess[Any]] = subprocess.run,
) -> int:
    """Run `steps` in order with `environment` (the deploy role's credentials and region);
    stop at the first failure with one line and its likely cause."""
    for step in steps:
        print(f"+ {shlex.join(step)}", flush=True)
        if run(step, cwd=ROOT, env=environment).returncode != 0:
            print(f"images: failed: {shlex.join(step)} ({_hint(step, no_build)})", file=sys.stderr)
            return 1
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("env", help="environment name, e.g. dev")
    parser.add_argument(
        "--tag",
        help="image tag to build and push (default: the env's "
        "services_settings.image_tag, for the first deploy)",
    )
    parser.add_argument(
        "--release",
        action="store_true",
        help="after pushing, write --tag to each image's release parameter; "
        "then apply services-<env>",
    )
    parser.add_argument(
        "--no-build",
        action="store_true",
        help="with --release: release a tag pushed before (a rollback); each "
        "image is checked to exist first",
    )
    parser.add_argument("--only", help="comma-separated repositories: only these images")
    parser.add_argument("--dry-run", action="store_true", help="print the commands only")
    return parser


def _usage_problem(args: argparse.Namespace) -> str | None:
    if args.release and args.tag is None:
        return "--release needs --tag"
    if args.no_build and not args.release:
        return "--no-build only makes sense with --release"
    if args.tag is not None and (problem := image_tag_problem(args.tag)):
        return f"--tag: {problem}"
    return None


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if problem := _usage_problem(args):
        print(f"images: {problem}", file=sys.stderr)
        return 2
    only = tuple(args.only.split(",")) if args.only else None
    try:
        steps = commands(args.env, args.tag, args.release, build=not args.no_build, only=only)
        if args.dry_run:
            print("\n".join(shlex.join(step) for step in steps))
            return 0
        (env,) = select(args.env)
        environment = cli_environment(deploy_session(env))
        if problem := missing_tools():
            raise ValueError(problem)
    except SettingsError as exc:
        print(f"invalid settings: {exc}", file=sys.stderr)
        return 2
    except (ValueError, AccountMismatch) as exc:
        print(f"images: {exc}", file=sys.stderr)
        return 2
    except (BotoCoreError, ClientError) as exc:
        # Checked before any docker command: no credentials used to end in a failed login
        # reported as "an existing tag cannot be pushed again".
        print(f"images: {aws_problem(exc)}", file=sys.stderr)
        return 2
    status = execute(steps, environment, args.no_build)
    if status == 0 and args.release:
        print(
            f"released {args.tag}: now `terraform -chdir=cdktf.out/stacks/services-{args.env} "
            "apply` deploys it",
            flush=True,
        )
    return status


if __name__ == "__main__":
    sys.exit(main())
