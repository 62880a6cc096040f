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
use. Needs docker (with buildx for a foreign or multi-architecture platform) and the AWS CLI with
credentials for the env's account. Tags are immutable: pushing an existing tag fails.
"""

from __future__ import annotations

import argparse
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a file: scripts/ is on the path, not the root
    sys.path.insert(0, str(ROOT))

from settings.environments import select  # noqa: E402
from settings.images import ImageBuild, built_images, registry_host  # noqa: E402
from settings.rules import image_tag_problem  # noqa: E402
from settings.validation import SettingsError  # noqa: E402


def image_uri(host: str, repository: str, tag: str) -> str:
    """`<registry host>/<repository>:<tag>`, the URI the task definitions pull."""
    return f"{host}/{repository}:{tag}"


def commands(env_name: str, tag: str | None = None, release: bool = False,
             build: bool = True) -> list[list[str]]:
    """Every command, in order: log in to the env's registry, build and push each image at `tag`
    (default: the env's first `image_tag`), then, for a release, point each image's release
    parameter at `tag` (after every push succeeded, so no service is told to pull a missing
    image). Without `build` (a rollback to a tag pushed before) each image is first checked to
    exist in ECR instead."""
    (env,) = select(env_name)
    host = registry_host(env)
    tag = env.services_settings.image_tag if tag is None else tag
    if problem := image_tag_problem(tag):
        raise ValueError(problem)
    if not build and not release:
        raise ValueError("nothing to do without building or releasing")
    images = built_images(env)
    if build:
        steps = [["sh", "-c", f"aws ecr get-login-password --region {shlex.quote(env.region)} "
                              f"| docker login --username AWS --password-stdin "
                              f"{shlex.quote(host)}"]]
        for image in images:
            steps.extend(_build_and_push(image, image_uri(host, image.repository, tag)))
    else:
        steps = [["aws", "ecr", "describe-images", "--region", env.region, "--repository-name",
                  image.repository, "--image-ids", f"imageTag={tag}"] for image in images]
    if release:
        steps.extend(["aws", "ssm", "put-parameter", "--region", env.region, "--name",
                      image.tag_parameter, "--value", tag, "--overwrite"] for image in images)
    return steps


def _build_and_push(image: ImageBuild, uri: str) -> list[list[str]]:
    platforms = ",".join(image.platforms)
    if len(image.platforms) == 1:
        return [["docker", "build", "--platform", platforms, "-f", image.dockerfile, "-t", uri,
                 "."], ["docker", "push", uri]]
    # One multi-architecture image (manifest list): buildx builds and pushes it.
    return [["docker", "buildx", "build", "--platform", platforms, "-f", image.dockerfile,
             "-t", uri, "--push", "."]]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("env", help="environment name, e.g. dev")
    parser.add_argument("--tag", help="image tag to build and push (default: the env's "
                                      "services_settings.image_tag, for the first deploy)")
    parser.add_argument("--release", action="store_true",
                        help="after pushing, write --tag to each image's release parameter; "
                             "then apply services-<env>")
    parser.add_argument("--no-build", action="store_true",
                        help="with --release: release a tag pushed before (a rollback); each "
                             "image is checked to exist first")
    parser.add_argument("--dry-run", action="store_true", help="print the commands only")
    args = parser.parse_args(argv)
    if args.release and args.tag is None:
        print("images: --release needs --tag", file=sys.stderr)
        return 2
    if args.no_build and not args.release:
        print("images: --no-build only makes sense with --release", file=sys.stderr)
        return 2
    if args.tag is not None and (problem := image_tag_problem(args.tag)):
        print(f"images: --tag: {problem}", file=sys.stderr)
        return 2
    try:
        steps = commands(args.env, args.tag, args.release, build=not args.no_build)
    except SettingsError as exc:
        print(f"invalid settings: {exc}", file=sys.stderr)
        return 2
    if args.dry_run:
        for step in steps:
            print(shlex.join(step))
        return 0
    missing = [tool for tool in ("docker", "aws") if shutil.which(tool) is None]
    if missing:
        print(f"images: {' and '.join(missing)} not found on PATH (needed to build and push)",
              file=sys.stderr)
        return 2
    for step in steps:
        print(f"+ {shlex.join(step)}", flush=True)
        if subprocess.run(step, cwd=ROOT).returncode != 0:
            hint = ("is the tag in every repository?" if args.no_build else
                    "an existing tag cannot be pushed again: choose a new --tag, or release a "
                    "pushed one with --no-build")
            print(f"images: failed: {shlex.join(step)} ({hint})", file=sys.stderr)
            return 1
    if args.release:
        print(f"released {args.tag}: now `terraform -chdir=cdktf.out/stacks/services-{args.env} "
              "apply` deploys it", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
