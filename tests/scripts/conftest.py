"""An env with a deploy role, and moto holding what its stacks would have created."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import boto3
import pytest
from moto import mock_aws

from settings.images import built_images
from settings.schema import DeployRole, EnvironmentSettings
from tests.tables import SAMPLE as ENVIRONMENTS

ROLE_NAME = "ecs-cdktf-deploy"
MANIFEST_TYPE = "application/vnd.docker.distribution.manifest.v2+json"


@pytest.fixture
def env() -> EnvironmentSettings:
    """The sample dev env, deploying through a role in its own account."""
    dev = ENVIRONMENTS[0]
    role = DeployRole(
        role_arn=f"arn:aws:iam::{dev.account_id}:role/{ROLE_NAME}",
        external_id="pipeline-7",
        session_name="deploy-test",
    )
    return replace(dev, deploy_role=role)


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[boto3.Session]:
    """moto in this process; the shell's credentials are moto's default account, not the env's:
    only the deploy role reaches the env's account."""
    for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws():
        yield boto3.Session(region_name="us-east-1")


def as_role(env: EnvironmentSettings, base: boto3.Session) -> boto3.Session:
    """Test-side access to the env's account (what Terraform, as the role, created there)."""
    assert env.deploy_role is not None
    creds = base.client("sts").assume_role(
        RoleArn=env.deploy_role.role_arn, RoleSessionName="fixture"
    )["Credentials"]
    return boto3.Session(
        aws_access_key_id=creds["AccessKeyId"],
        aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["SessionToken"],
        region_name=env.region,
    )


def create_config_stack(session: boto3.Session, names: list[str]) -> None:
    """The secrets as the config stack leaves them: created, no value."""
    for name in names:
        session.client("secretsmanager").create_secret(Name=name)


def create_registry(session: boto3.Session, env: EnvironmentSettings) -> None:
    """Repositories and release parameters as the registry stack leaves them."""
    for image in built_images(env):
        session.client("ecr").create_repository(repositoryName=image.repository)
        session.client("ssm").put_parameter(
            Name=image.tag_parameter, Type="String", Value=env.services_settings.image_tag
        )


def push(session: boto3.Session, repository: str, tag: str) -> None:
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": MANIFEST_TYPE,
            "config": {
                "mediaType": "application/vnd.docker.container.image.v1+json",
                "size": 2,
                "digest": f"sha256:{hashlib.sha256(repository.encode()).hexdigest()}",
            },
            "layers": [],
        }
    )
    session.client("ecr").put_image(
        repositoryName=repository,
        imageManifest=manifest,
        imageTag=tag,
        imageManifestMediaType=MANIFEST_TYPE,
    )


def caller(session: Any) -> str:
    """The ARN STS sees for `session`."""
    return session.client("sts").get_caller_identity()["Arn"]
