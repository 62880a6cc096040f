"""One boto3 session per env: its region, its account, and its `deploy_role` when it names one.

Every deploy-time script (`secrets`, `preflight`, `verify`, and the AWS CLI steps of
`deploy`/`images`) goes through `deploy_session`, so "one pipeline for every account" holds for
them as it does for Terraform (whose provider and S3 backend assume the same role):
https://docs.aws.amazon.com/STS/latest/APIReference/API_AssumeRole.html
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import boto3
from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

if TYPE_CHECKING:
    from settings.schema import EnvironmentSettings


class AccountMismatch(Exception):
    """The credentials reach another account than the env's (as `allowed_account_ids`)."""


def deploy_session(env: EnvironmentSettings, base: boto3.Session | None = None) -> boto3.Session:
    """A session in `env.region` as `env.deploy_role` (assumed with the shell's credentials), or
    as the shell's credentials when the env names no role; refuses any account but the env's."""
    base = base or boto3.Session(region_name=env.region)
    role = env.deploy_role
    if role is None:
        session = base
    else:
        request = {"RoleArn": role.role_arn, "RoleSessionName": role.session_name}
        if role.external_id is not None:
            request["ExternalId"] = role.external_id
        creds = base.client("sts", region_name=env.region).assume_role(**request)["Credentials"]
        session = boto3.Session(
            aws_access_key_id=creds["AccessKeyId"],
            aws_secret_access_key=creds["SecretAccessKey"],
            aws_session_token=creds["SessionToken"],
            region_name=env.region,
        )
    account = session.client("sts").get_caller_identity()["Account"]
    if account != env.account_id:
        raise AccountMismatch(
            f"credentials are for account {account}, not {env.name}'s "
            f"{env.account_id}: use that account's credentials or deploy_role"
        )
    return session


def cli_environment(session: boto3.Session) -> dict[str, str]:
    """os.environ with `session`'s credentials and region, for the AWS CLI and docker login
    steps (the AWS CLI reads these variables before any profile)."""
    creds = session.get_credentials().get_frozen_credentials()
    env = {k: v for k, v in os.environ.items() if k not in ("AWS_PROFILE", "AWS_SESSION_TOKEN")}
    env.update(
        AWS_ACCESS_KEY_ID=creds.access_key,
        AWS_SECRET_ACCESS_KEY=creds.secret_key,
        AWS_REGION=session.region_name,
        AWS_DEFAULT_REGION=session.region_name,
    )
    if creds.token:
        env["AWS_SESSION_TOKEN"] = creds.token
    return env


def aws_problem(exc: BotoCoreError | ClientError) -> str:
    """One line for an AWS failure: missing credentials said as such, else AWS's message."""
    if isinstance(exc, NoCredentialsError):
        return (
            "no AWS credentials: set AWS_PROFILE or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY "
            "(check with `aws sts get-caller-identity`); the env's deploy_role, when it "
            "names one, is assumed from them"
        )
    return f"AWS refused: {exc}"
