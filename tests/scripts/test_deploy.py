"""`make deploy`: the stacks in order, images before the preflight, the preflight before the
services; every AWS step as the deploy role in the env's region."""

from __future__ import annotations

import subprocess
from typing import Any

import boto3

from main import STACKS_IN_DEPLOY_ORDER
from scripts import deploy
from scripts.aws_session import deploy_session
from scripts.env_secrets import required_secrets
from tests.scripts.conftest import (
    ROLE_NAME,
    as_role,
    caller,
    create_config_stack,
    create_registry,
    push,
)


class Account:
    """Runs a deploy's commands: terraform and the synth are recorded (their role assumption is
    the provider's, tested in tests/stacks/test_backends.py); a `docker push` lands in moto's
    ECR with the credentials the command was given, so a push as anyone but the role fails."""

    def __init__(self, env, aws) -> None:
        self.env, self.aws = env, aws
        self.commands: list[list[str]] = []
        self.callers: list[str] = []

    def run(self, argv: list[str], cwd: Any = None, env: dict[str, str] | None = None):
        self.commands.append(argv)
        if argv[0] in ("sh", "docker"):
            session = boto3.Session(
                aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
                aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
                aws_session_token=env["AWS_SESSION_TOKEN"],
                region_name=env["AWS_REGION"],
            )
            self.callers.append(caller(session))
            if argv[:2] == ["docker", "push"]:
                repository, tag = argv[2].split("/", 1)[1].split(":")
                push(session, repository, tag)
        return subprocess.CompletedProcess(argv, 0)

    def applied(self) -> list[str]:
        return [
            c[1].split("/")[-1] for c in self.commands if c[:1] == ["terraform"] and "apply" in c
        ]

    def deploy(self) -> int:
        sessions = []

        def open_session():
            sessions.append(deploy_session(self.env, self.aws))
            return sessions[-1]

        status = deploy.execute(self.env, deploy.steps(self.env.name), open_session, self.run)
        self.callers += [caller(s) for s in sessions]
        return status


def _stacks_created(env, aws) -> None:
    create_config_stack(as_role(env, aws), required_secrets(env))
    create_registry(as_role(env, aws), env)


def test_a_dry_run_prints_every_step_in_order_with_region_and_role(env, capsys):
    assert deploy.main([env.name, "--dry-run"], table=(env,)) == 0
    lines = capsys.readouterr().out.splitlines()
    order = [line.split(". ", 1)[1].split(":")[0] for line in lines]
    assert order == [
        "synth",
        *[s for s in STACKS_IN_DEPLOY_ORDER[:-1] for _ in (1, 2)],
        "images",
        "preflight",
        "services",
        "services",
    ]
    assert all(f"region {env.region}, as role {env.deploy_role.role_arn}" in line for line in lines)


def test_preflight_stops_the_deploy_before_the_services(aws, env, capsys):
    _stacks_created(env, aws)
    account = Account(env, aws)
    assert account.deploy() == 1
    assert account.applied() == [f"{s}-dev" for s in STACKS_IN_DEPLOY_ORDER[:-1]]
    err = capsys.readouterr().err
    assert all(f"secret {name}: NO VALUE" in err for name in required_secrets(env))
    assert "image" not in err, "the images step pushed every image"
    assert "deploy: preflight failed; later steps not run" in err
    assert account.callers and all(
        f"assumed-role/{ROLE_NAME}/" in c and env.account_id in c for c in account.callers
    )


def test_with_every_secret_set_the_services_follow_and_a_second_deploy_pushes_nothing(aws, env):
    _stacks_created(env, aws)
    for name in required_secrets(env):
        as_role(env, aws).client("secretsmanager").put_secret_value(SecretId=name, SecretString="v")
    first = Account(env, aws)
    assert first.deploy() == 0
    assert first.applied() == [f"{s}-dev" for s in STACKS_IN_DEPLOY_ORDER]
    assert any(c[:2] == ["docker", "push"] for c in first.commands)
    again = Account(env, aws)
    assert again.deploy() == 0
    assert not [c for c in again.commands if c[0] in ("sh", "docker")], "tags are immutable"
