"""`make bootstrap ENV=x`: create the env's S3 state bucket and deploy role (`bootstrap-<env>`,
stacks/bootstrap.py), then keep the bootstrap stack's own state in that bucket. Idempotent.

    python scripts/bootstrap.py dev             # as an administrator of dev's account
    python scripts/bootstrap.py dev --dry-run   # the phase it would run, and its commands
    BOOTSTRAP_TRUST=arn:aws:iam::999999999999:role/ci python scripts/bootstrap.py dev

Phases, chosen from what exists (the shell's credentials, in the state bucket's region):
- create:  no bucket yet: apply with a local state file (bootstrap-state/<env>.tfstate), then
           `terraform init -migrate-state` into `<prefix>/bootstrap/<env>.tfstate`, and delete
           the local file once the object is in the bucket;
- migrate: the local file is there but not the object (a create stopped half-way): migrate;
- update:  the object is there: plan against the bucket, apply only when the plan has changes
           (`-detailed-exitcode`), so a second run changes nothing;
- adopt:   the bucket exists without a bootstrap state (made by hand): stop, naming the
           `terraform import` to run.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a file: scripts/ is on the path, not the root
    sys.path.insert(0, str(ROOT))

from botocore.exceptions import BotoCoreError, ClientError  # noqa: E402

from scripts import interpreter  # noqa: E402
from settings import naming  # noqa: E402
from settings.environments import ENVIRONMENTS, select  # noqa: E402
from settings.schema import S3State  # noqa: E402
from settings.validation import SettingsError  # noqa: E402

if TYPE_CHECKING:
    from settings.schema import EnvironmentSettings

OUTDIR = "cdktf.bootstrap.out"
"""Apart from cdktf.out, which every `make synth` prunes to the env stacks."""
LOCAL_STATE_DIR = "bootstrap-state"
TRUST_VARIABLE = "BOOTSTRAP_TRUST"
"""Comma-separated principal ARNs that may assume the deploy role (default: the account)."""
Runner = Callable[..., "subprocess.CompletedProcess[Any]"]


def state_key(env: EnvironmentSettings) -> str:
    """The bootstrap stack's state object (stacks/bootstrap.py owns the rule)."""
    assert isinstance(env.state, S3State)
    return naming.state_key(env.state.key_prefix, "bootstrap", env.name)


def local_state(env: EnvironmentSettings) -> Path:
    return ROOT / LOCAL_STATE_DIR / f"{env.name}.tfstate"


def phase(s3: Any, env: EnvironmentSettings) -> str:
    """create | migrate | update | adopt, from the bucket, its state object and the local file."""
    assert isinstance(env.state, S3State)
    try:
        s3.head_object(Bucket=env.state.bucket, Key=state_key(env))
        return "update"
    except ClientError as err:
        if err.response["Error"]["Code"] not in ("404", "NoSuchKey", "NoSuchBucket"):
            raise
    if local_state(env).is_file():
        return "migrate"
    try:
        s3.head_bucket(Bucket=env.state.bucket)
    except ClientError as err:
        if err.response["Error"]["Code"] in ("404", "NoSuchBucket"):
            return "create"
        raise  # 403: the name is taken by another account, or no permission: say so
    return "adopt"


def commands(env: EnvironmentSettings, step: str) -> list[list[str]]:
    """The commands of one phase, in order (synth runs this script with --synth)."""
    me = [interpreter(), "scripts/bootstrap.py", env.name, "--synth"]
    chdir = f"-chdir={OUTDIR}/stacks/bootstrap-{env.name}"
    apply = ["terraform", chdir, "apply", "-input=false", "-auto-approve"]
    to_s3 = [
        [*me, "s3"],
        ["terraform", chdir, "init", "-input=false", "-migrate-state", "-force-copy"],
    ]
    if step == "create":
        return [[*me, "local"], ["terraform", chdir, "init", "-input=false"], apply, *to_s3]
    if step == "migrate":
        return to_s3
    if step == "update":
        return [
            [*me, "s3"],
            ["terraform", chdir, "init", "-input=false"],
            ["terraform", chdir, "plan", "-input=false", "-detailed-exitcode", "-out=tfplan"],
        ]
    raise ValueError(step)


def adopt_hint(env: EnvironmentSettings) -> str:
    assert isinstance(env.state, S3State)
    return (
        f"bootstrap: bucket {env.state.bucket} exists but holds no {state_key(env)}: import "
        f"it once (python scripts/bootstrap.py {env.name} --synth local; terraform "
        f"-chdir={OUTDIR}/stacks/bootstrap-{env.name} init; ... import "
        f"aws_s3_bucket.State_Bucket_<id> {env.state.bucket}), then rerun"
    )


def run_phase(env: EnvironmentSettings, step: str, run: Runner) -> int:
    """Run a phase's commands; an update applies only a plan with changes (exit code 2)."""
    environment = {**os.environ, "CHECKPOINT_DISABLE": "1"}
    for argv in commands(env, step):
        print(f"+ {' '.join(argv)}", flush=True)
        status = run(argv, cwd=ROOT, env=environment).returncode
        if argv[2:3] == ["plan"] and status in (0, 2):
            if status == 0:
                print(f"bootstrap-{env.name}: no changes")
                return 0
            return run(
                ["terraform", argv[1], "apply", "-input=false", "tfplan"], cwd=ROOT, env=environment
            ).returncode
        if status != 0:
            print(f"bootstrap: failed: {' '.join(argv)}", file=sys.stderr)
            return 1
    return 0


def forget_local_state(s3: Any, env: EnvironmentSettings) -> None:
    """Delete the local state file, but only once its copy is in the bucket."""
    if phase(s3, env) != "update":
        raise RuntimeError(
            f"{state_key(env)} is not in the bucket after the migration; {local_state(env)} is kept"
        )
    for path in local_state(env).parent.glob(f"{env.name}.tfstate*"):
        path.unlink()


def synth(
    env: EnvironmentSettings, backend: Literal["local", "s3"], outdir: Path = ROOT / OUTDIR
) -> int:
    """Synthesize bootstrap-<env> alone into `outdir` (in this process: it imports cdktf)."""
    from engine.core import App
    from stacks.bootstrap import BootstrapStack

    trusted = tuple(a for a in os.environ.get(TRUST_VARIABLE, "").split(",") if a)
    app = App(outdir=str(outdir))
    BootstrapStack(app, env, backend, local_state=str(local_state(env)), trusted=trusted)
    app.synth()
    return 0


def bootstrap(env: EnvironmentSettings, s3: Any, run: Runner, dry_run: bool = False) -> int:
    """Run (or print) the phase the account is in."""
    step = phase(s3, env)
    if step == "adopt":
        print(adopt_hint(env), file=sys.stderr)
        return 1
    print(f"bootstrap-{env.name}: {step}")
    if dry_run:
        print("\n".join(" ".join(argv) for argv in commands(env, step)))
        return 0
    status = run_phase(env, step, run)
    if status == 0 and step in ("create", "migrate"):
        forget_local_state(s3, env)
        assert isinstance(env.state, S3State)
        print(f"bootstrap-{env.name}: state now in s3://{env.state.bucket}/{state_key(env)}")
    return status


def main(
    argv: list[str] | None = None,
    run: Runner = subprocess.run,
    session: Any = None,
    table: tuple[EnvironmentSettings, ...] = ENVIRONMENTS,
) -> int:
    """`make bootstrap`: one line and exit 2 on bad input or the wrong account."""
    from dataclasses import replace

    from scripts.aws_session import AccountMismatch, aws_problem, deploy_session

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("env", help="environment name, e.g. dev")
    parser.add_argument("--dry-run", action="store_true", help="print the phase and commands")
    parser.add_argument("--synth", choices=("local", "s3"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    try:
        (env,) = select(args.env, table)
        if not isinstance(env.state, S3State):
            raise SettingsError(
                f"{env.name} keeps its state in Terraform Cloud: no bucket to "
                "create; see README 'First deploy with Terraform Cloud'"
            )
        if args.synth:
            return synth(env, args.synth)
        # As the account's administrator: the deploy role does not exist yet.
        shell = deploy_session(replace(env, deploy_role=None, region=env.state.region), session)
        return bootstrap(env, shell.client("s3"), run, args.dry_run)
    except (SettingsError, AccountMismatch, RuntimeError) as exc:
        print(f"bootstrap: {exc}", file=sys.stderr)
        return 2
    except (ClientError, BotoCoreError) as exc:
        print(f"bootstrap: {aws_problem(exc)}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    from engine.lifecycle import run_and_exit

    run_and_exit(main)
