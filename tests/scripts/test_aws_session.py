"""Deploy-time scripts act in the env's account and region, as its deploy role."""

from __future__ import annotations

from dataclasses import replace

import boto3
import pytest

from scripts.aws_session import AccountMismatch, cli_environment, deploy_session
from tests.scripts.conftest import ROLE_NAME, caller


def test_the_session_is_the_deploy_role_in_the_env_region(aws, env):
    session = deploy_session(env, aws)
    assert session.region_name == env.region != aws.region_name
    assert caller(session) == (f"arn:aws:sts::{env.account_id}:assumed-role/{ROLE_NAME}/"
                               f"{env.deploy_role.session_name}")


def test_credentials_that_reach_another_account_are_refused(aws, env):
    """Without a role the shell's credentials are used, and here they are moto's default
    account's: as with the provider's allowed_account_ids, nothing runs there."""
    with pytest.raises(AccountMismatch, match=env.account_id):
        deploy_session(replace(env, deploy_role=None), aws)


def test_commands_get_the_role_credentials_and_region(aws, env, monkeypatch):
    variables = cli_environment(deploy_session(env, aws))
    assert variables["AWS_REGION"] == variables["AWS_DEFAULT_REGION"] == env.region
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.setenv(name, variables[name])
    assert f"assumed-role/{ROLE_NAME}/" in caller(boto3.Session())
