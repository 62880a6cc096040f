"""Build and push the images an environment builds itself to its ECR repositories.

Run after `registry-<env>` is applied and before `services-<env>`:

    python scripts/images.py dev            # docker login, build, push every image of dev
    python scripts/images.py dev --dry-run  # print the commands only

Which images, from which Dockerfile, for which platform, to which repository and tag all come
from the settings (`settings/images.py`), the same source the registry and services stacks use.
Needs docker (with buildx for a foreign or multi-architecture platform) and the AWS CLI with
credentials for the env's account. Tags are immutable: pushing an existing tag fails; bump
`services_settings.image_tag`.
"""

from __future__ import annotations

import argparse
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from settings.environments import select  # noqa: E402
from settings.images import built_images, registry_host  # noqa: E402
from settings.validation import SettingsError  # noqa: E402


def image_uri(host: str, repository: str, tag: str) -> str:
    """`<registry host>/<repository>:<tag>`, the URI the task definitions pull."""
    return f"{host}/{repository}:{tag}"


def commands(env_name: str) -> list[list[str]]:
    """Every command, in order: log in to the env's registry, then build and push each image."""
    (env,) = select(env_name)
    host, tag = registry_host(env), env.services_settings.image_tag
    steps = [["sh", "-c", f"aws ecr get-login-password --region {shlex.quote(env.region)} | "
                          f"docker login --username AWS --password-stdin {shlex.quote(host)}"]]
    for build in built_images(env):
        uri = image_uri(host, build.repository, tag)
        platforms = ",".join(build.platforms)
        if len(build.platforms) == 1:
            steps.append(["docker", "build", "--platform", platforms, "-f", build.dockerfile,
                          "-t", uri, "."])
            steps.append(["docker", "push", uri])
        else:  # one multi-architecture image (manifest list): buildx builds and pushes it
            steps.append(["docker", "buildx", "build", "--platform", platforms, "-f",
                          build.dockerfile, "-t", uri, "--push", "."])
    return steps


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("env", help="environment name, e.g. dev")
    parser.add_argument("--dry-run", action="store_true", help="print the commands only")
    args = parser.parse_args(argv)
    try:
        steps = commands(args.env)
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
            print(f"images: failed: {shlex.join(step)} (an existing tag cannot be pushed again: "
                  "bump services_settings.image_tag)", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
