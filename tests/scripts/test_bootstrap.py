"""`make bootstrap`: which phase an account is in, the state's move into the bucket, and a second
run that changes nothing (moto for S3; terraform's effects played by the runner below)."""

from __future__ import annotations

import subprocess
from dataclasses import replace
from typing import Any

import boto3
import pytest

from scripts import bootstrap
from settings.schema import TerraformCloudState


@pytest.fixture
def admin(aws, env) -> boto3.Session:
    """An administrator's shell credentials in the env's account (the role does not exist)."""
    creds = aws.client("sts").assume_role(
        RoleArn=f"arn:aws:iam::{env.account_id}:role/admin", RoleSessionName="admin"
    )["Credentials"]
    return boto3.Session(
        aws_access_key_id=creds["AccessKeyId"],
        aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["SessionToken"],
        region_name=env.region,
    )


@pytest.fixture(autouse=True)
def local_dir(tmp_path, monkeypatch):
    monkeypatch.setattr(bootstrap, "ROOT", tmp_path)
    return tmp_path


class Terraform:
    """What terraform would do to the account: apply creates the bucket (and writes the local
    state file), -migrate-state copies that state into the bucket, plan reports no changes
    once everything exists."""

    def __init__(self, env, admin) -> None:
        self.env, self.s3 = env, admin.client("s3", region_name=env.state.region)
        self.commands: list[list[str]] = []
        self.drift = False

    def __call__(self, argv: list[str], cwd: Any = None, env: Any = None):
        self.commands.append(argv)
        words = set(argv)
        state = self.env.state
        if "apply" in words and "-auto-approve" in words:
            self.s3.create_bucket(
                Bucket=state.bucket, CreateBucketConfiguration={"LocationConstraint": state.region}
            )
            bootstrap.local_state(self.env).parent.mkdir(exist_ok=True)
            bootstrap.local_state(self.env).write_text("{}")
        if "-migrate-state" in words:
            self.s3.put_object(
                Bucket=state.bucket,
                Key=bootstrap.state_key(self.env),
                Body=bootstrap.local_state(self.env).read_bytes(),
            )
        # plan -detailed-exitcode: 2 when the account differs from the code, else 0.
        return subprocess.CompletedProcess(argv, 2 if "plan" in words and self.drift else 0)

    def verbs(self) -> list[str]:
        return [a[-1] if "--synth" in a else a[2] for a in self.commands]


def _main(env, admin, run, *argv: str) -> int:
    return bootstrap.main([env.name, *argv], run, admin, (env,))


def test_an_empty_account_is_created_then_the_state_moves_into_the_bucket(env, admin, capsys):
    terraform = Terraform(env, admin)
    assert _main(env, admin, terraform) == 0
    assert terraform.verbs() == ["local", "init", "apply", "s3", "init"]
    assert "-migrate-state" in terraform.commands[-1]
    assert not bootstrap.local_state(env).exists(), "the local copy goes once the bucket has it"
    assert f"state now in s3://{env.state.bucket}/ecs-cdktf/bootstrap/dev.tfstate" in (
        capsys.readouterr().out
    )


def test_a_second_run_plans_against_the_bucket_and_applies_nothing(env, admin, capsys):
    _main(env, admin, Terraform(env, admin))
    again = Terraform(env, admin)
    assert _main(env, admin, again) == 0
    assert again.verbs() == ["s3", "init", "plan"]
    assert "-detailed-exitcode" in again.commands[-1]
    assert "bootstrap-dev: no changes" in capsys.readouterr().out


def test_an_update_with_changes_applies_the_plan_it_showed(env, admin):
    _main(env, admin, Terraform(env, admin))
    changed = Terraform(env, admin)
    changed.drift = True
    assert _main(env, admin, changed) == 0
    assert changed.verbs() == ["s3", "init", "plan", "apply"]
    assert changed.commands[-1][-1] == "tfplan"


def test_a_create_stopped_before_the_migration_resumes_with_it(env, admin):
    first = Terraform(env, admin)
    first.__call__(["terraform", "x", "apply", "-input=false", "-auto-approve"])
    resumed = Terraform(env, admin)
    assert _main(env, admin, resumed) == 0
    assert resumed.verbs() == ["s3", "init"]


def test_a_dry_run_names_the_phase_and_changes_nothing(env, admin, capsys):
    terraform = Terraform(env, admin)
    assert _main(env, admin, terraform, "--dry-run") == 0
    assert terraform.commands == []
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "bootstrap-dev: create" and "init -input=false -migrate-state" in out[-1]


def test_a_bucket_made_by_hand_is_not_overwritten(env, admin, capsys):
    admin.client("s3", region_name=env.state.region).create_bucket(
        Bucket=env.state.bucket, CreateBucketConfiguration={"LocationConstraint": env.state.region}
    )
    terraform = Terraform(env, admin)
    assert _main(env, admin, terraform) == 1
    assert terraform.commands == [] and "import" in capsys.readouterr().err


def test_another_account_and_terraform_cloud_are_one_line_each(env, aws, admin, capsys):
    assert bootstrap.main([env.name], Terraform(env, admin), aws, (env,)) == 2
    cloud = replace(env, deploy_role=None, state=TerraformCloudState(organization="acme"))
    assert bootstrap.main([env.name], Terraform(env, admin), admin, (cloud,)) == 2
    err = capsys.readouterr().err.splitlines()
    assert "not dev's 111111111111" in err[0] and "Terraform Cloud" in err[1]
