"""Before `services-<env>` is applied: every secret its tasks read has a value, and every image
they pull exists. Each missing item is one line; `make deploy` stops before the services.

    python scripts/preflight.py dev

A task whose secret has no value, or whose image tag is absent, never starts: ECS retries it
until the deployment circuit breaker rolls the first deploy back, minutes later. Checking first
names the cause at once. Runs in the env's region as its `deploy_role`.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a file: scripts/ is on the path, not the root
    sys.path.insert(0, str(ROOT))

from botocore.exceptions import BotoCoreError, ClientError  # noqa: E402

from scripts.aws_session import AccountMismatch, aws_problem, deploy_session  # noqa: E402
from scripts.env_secrets import HAS_VALUE, required_secrets, secret_states  # noqa: E402
from settings.environments import ENVIRONMENTS, select  # noqa: E402
from settings.images import built_images  # noqa: E402
from settings.validation import SettingsError  # noqa: E402

if TYPE_CHECKING:
    from settings.schema import EnvironmentSettings

ABSENT = ("ImageNotFoundException", "RepositoryNotFoundException")


def released_tag(ssm: Any, env: EnvironmentSettings, parameter: str) -> str:
    """The tag the services stack will read from an image's release parameter (the registry
    stack creates it at `services_settings.image_tag`; a release overwrites it)."""
    try:
        tag: str = ssm.get_parameter(Name=parameter)["Parameter"]["Value"]
        return tag
    except ClientError as err:
        if err.response["Error"]["Code"] != "ParameterNotFound":
            raise
        return env.services_settings.image_tag


def missing_images(session: Any, env: EnvironmentSettings) -> list[tuple[str, str]]:
    """(repository, tag) of every image the env builds that its registry lacks at the tag the
    services will pull. Prebuilt images (`ServiceSpec(image=...)`) live elsewhere: not checked."""
    ecr, ssm = session.client("ecr"), session.client("ssm")
    missing = []
    for image in built_images(env):
        tag = released_tag(ssm, env, image.tag_parameter)
        try:
            ecr.describe_images(repositoryName=image.repository, imageIds=[{"imageTag": tag}])
        except ClientError as err:
            if err.response["Error"]["Code"] not in ABSENT:
                raise
            missing.append((image.repository, tag))
    return missing


def problems(session: Any, env: EnvironmentSettings) -> list[str]:
    """One line per secret without a value and per image not in the registry."""
    states = secret_states(session.client("secretsmanager"), required_secrets(env))
    lines = [
        f"secret {name}: {state} (make secrets ENV={env.name} "
        f"SET={name.split('/', 2)[2]} < value-file)"
        for name, state in states.items()
        if state != HAS_VALUE
    ]
    lines += [
        f"image {repository}:{tag}: not in the registry (make images ENV={env.name})"
        for repository, tag in missing_images(session, env)
    ]
    return lines


def run(
    env_name: str, session: Any = None, table: tuple[EnvironmentSettings, ...] = ENVIRONMENTS
) -> int:
    """Print every problem on stderr; 0 when there is none, 1 when there are, 2 on bad input."""
    try:
        (env,) = select(env_name, table)
        found = problems(session or deploy_session(env), env)
    except (SettingsError, AccountMismatch) as exc:
        print(f"preflight: {exc}", file=sys.stderr)
        return 2
    except (ClientError, BotoCoreError) as exc:
        print(f"preflight: {aws_problem(exc)}", file=sys.stderr)
        return 1
    return report(env, found)


def report(env: EnvironmentSettings, found: list[str]) -> int:
    """Each problem on stderr: 1 when there are any, else 0."""
    for line in found:
        print(f"preflight: {line}", file=sys.stderr)
    if found:
        print(
            f"preflight: {len(found)} problem(s): services-{env.name} not applied", file=sys.stderr
        )
        return 1
    print(f"preflight: every secret of {env.name} has a value and every image is pushed")
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 2:
        print("usage: python scripts/preflight.py ENV", file=sys.stderr)
        sys.exit(2)
    sys.exit(run(sys.argv[1]))
