"""Deploy one env end to end, in order: network -> cluster -> config -> registry -> images ->
preflight -> services.

    python scripts/deploy.py dev             # make deploy ENV=dev
    python scripts/deploy.py dev --dry-run   # make deploy ENV=dev DRY_RUN=1: the steps only

Each stack is `terraform init` + `terraform apply -auto-approve` of its synthesized directory
(no question asked: this is the pipeline's command; `make plan STACK=.. ENV=..` shows a plan
first). Terraform assumes the env's `deploy_role` itself (provider, S3 backend and remote-state
reads are configured with it); the image push and the preflight run with a session of that same
role in the env's region (`scripts/aws_session.py`). Images already in the registry at the
released tag are not pushed again (tags are immutable), so a second deploy pushes nothing. The
preflight stops the deploy before `services-<env>` when a secret has no value or an image is
missing, naming each.
"""

from __future__ import annotations

import argparse
import os
import shlex
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a file: scripts/ is on the path, not the root
    sys.path.insert(0, str(ROOT))

from botocore.exceptions import BotoCoreError, ClientError  # noqa: E402

from main import STACKS_IN_DEPLOY_ORDER  # noqa: E402  (no cdktf import: fast)
from scripts import images, interpreter, preflight  # noqa: E402
from scripts.aws_session import (  # noqa: E402
    AccountMismatch,
    aws_problem,
    cli_environment,
    deploy_session,
)
from settings.environments import ENVIRONMENTS, ENVS_VARIABLE, select  # noqa: E402
from settings.naming import stack_name  # noqa: E402
from settings.validation import SettingsError  # noqa: E402

if TYPE_CHECKING:
    from settings.schema import EnvironmentSettings

BEFORE_IMAGES = tuple(s for s in STACKS_IN_DEPLOY_ORDER if s != "services")
"""The stacks applied before any image is pushed (the registry among them)."""
Runner = Callable[..., "subprocess.CompletedProcess[Any]"]


@dataclass(frozen=True)
class Step:
    """One step of a deploy: a command, the image push, or the preflight."""

    name: str
    argv: tuple[str, ...] = ()
    """The command; empty for the in-process steps (`images`, `preflight`)."""


def stack_steps(env_name: str, stack: str) -> list[Step]:
    """init + apply of one synthesized stack."""
    chdir = f"-chdir=cdktf.out/stacks/{stack_name(stack, env_name)}"
    return [
        Step(f"{stack}: init", ("terraform", chdir, "init", "-input=false")),
        Step(f"{stack}: apply", ("terraform", chdir, "apply", "-input=false", "-auto-approve")),
    ]


def steps(env_name: str) -> list[Step]:
    """Every step of a deploy of `env_name`, in order."""
    synth = Step("synth", (interpreter(), "main.py"))
    ordered = [
        synth,
        *(s for stack in BEFORE_IMAGES for s in stack_steps(env_name, stack)),
        Step("images"),
        Step("preflight"),
        *stack_steps(env_name, "services"),
    ]
    return ordered


def identity(env: EnvironmentSettings) -> str:
    """Who a step acts as, for the dry run."""
    role = env.deploy_role
    who = f"role {role.role_arn}" if role else "the shell's credentials"
    return f"account {env.account_id}, region {env.region}, as {who}"


def describe(env: EnvironmentSettings, step: Step) -> str:
    """The dry-run line of a step."""
    if step.name == "images":
        return (
            f"images: push the images registry-{env.name} lacks at their released tag: "
            f"python scripts/images.py {env.name} --only <missing> [{identity(env)}]"
        )
    if step.name == "preflight":
        return (
            f"preflight: every secret has a value, every image tag exists: python "
            f"scripts/preflight.py {env.name} [{identity(env)}]"
        )
    return f"{step.name}: {shlex.join(step.argv)} [{identity(env)}]"


def push_missing(env: EnvironmentSettings, session: Any, run: Runner) -> int:
    """Build and push only the images absent from the registry, grouped by tag."""
    by_tag: dict[str, list[str]] = {}
    for repository, tag in preflight.missing_images(session, env):
        by_tag.setdefault(tag, []).append(repository)
    if not by_tag:
        print(f"images: every image of {env.name} is in the registry; nothing to push")
    for tag, repositories in by_tag.items():
        plan = images.commands(env.name, tag, only=tuple(repositories))
        if images.execute(plan, cli_environment(session), run=run) != 0:
            return 1
    return 0


def missing_tools() -> str | None:
    """Every tool a deploy runs, checked before the first apply: one line, else None."""
    if shutil.which("terraform") is None:
        return "terraform not found on PATH (Terraform >= 1.10)"
    return images.missing_tools()


def execute(
    env: EnvironmentSettings, plan: list[Step], open_session: Callable[[], Any], run: Runner
) -> int:
    """Run `plan` in order; stop at the first failure with one line naming the step. The role
    is assumed when first needed (after the slow stacks, so its 1-hour session is fresh)."""
    environment = {**os.environ, ENVS_VARIABLE: env.name}
    session = None
    for step in plan:
        if step.argv:
            print(f"+ {shlex.join(step.argv)}", flush=True)
            status = run(list(step.argv), cwd=ROOT, env=environment).returncode
        else:
            session = session or open_session()
            status = (
                push_missing(env, session, run)
                if step.name == "images"
                else preflight.report(env, preflight.problems(session, env))
            )
        if status != 0:
            print(f"deploy: {step.name} failed; later steps not run", file=sys.stderr)
            return 1
    print(f"deployed {env.name}; check it with: make verify ENV={env.name}")
    return 0


def main(
    argv: list[str] | None = None,
    run: Runner = subprocess.run,
    session: Any = None,
    table: tuple[EnvironmentSettings, ...] = ENVIRONMENTS,
) -> int:
    """`make deploy`: every step in order, or (`--dry-run`) the list of steps."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("env", help="environment name, e.g. dev")
    parser.add_argument("--dry-run", action="store_true", help="print the steps only")
    args = parser.parse_args(argv)
    try:
        (env,) = select(args.env, table)
        plan = steps(env.name)
        if args.dry_run:
            for number, step in enumerate(plan, 1):
                print(f"{number:2}. {describe(env, step)}")
            return 0
        if problem := missing_tools():
            print(f"deploy: {problem}", file=sys.stderr)
            return 2
        return execute(env, plan, lambda: session or deploy_session(env), run)
    except (SettingsError, AccountMismatch) as exc:
        print(f"deploy: {exc}", file=sys.stderr)
        return 2
    except (ClientError, BotoCoreError) as exc:
        print(f"deploy: {aws_problem(exc)}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
