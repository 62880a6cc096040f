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
    assert caller(session) == (
        f"arn:aws:sts::{env.account_id}:assumed-role/{ROLE_NAME}/{env.deploy_role.session_name}"
    )


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


def test_each_entry_point_assumes_the_role_itself(aws, env, capsys):
    """Called as `make` calls them (no session handed in): the shell's credentials are moto's
    default account, so only a session of the role reaches the env's secrets, registry and
    cluster; with the shell's own credentials each would stop at the account check."""
    import io

    from scripts import env_secrets, preflight, verify
    from tests.scripts.conftest import as_role, create_config_stack

    create_config_stack(as_role(env, aws), env_secrets.required_secrets(env))
    assert (
        env_secrets.run(
            env_secrets._parser().parse_args([env.name, "--set", "web/api-key"]),
            io.StringIO("v"),
            table=(env,),
        )
        == 0
    )
    assert preflight.run(env.name, table=(env,)) == 1  # images absent: found, as the role
    assert verify.main([env.name], table=(env,)) == 1  # nothing deployed: found, as the role
    err = capsys.readouterr().err
    assert "not dev's" not in err and "secret /dev/web/api-key" not in err
    assert "image web:0.1.0: not in the registry" in err and "ClusterNotFound" in err
    shell = replace(env, deploy_role=None)
    assert preflight.run(env.name, table=(shell,)) == 2
    assert "credentials are for account 123456789012, not dev's" in capsys.readouterr().err
