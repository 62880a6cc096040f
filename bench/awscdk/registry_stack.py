"""Registry stack: one ECR repository per image the env builds, and its release parameter."""

from __future__ import annotations

from aws_cdk import aws_ecr as ecr
from aws_cdk import aws_ssm as ssm
from constructs import Construct

from bench.awscdk.base import EnvStack, pascal
from bench.awscdk.envs import EnvPlan


class RegistryStack(EnvStack):
    """Immutable-tag, scanned, KMS-encrypted repositories (`self.repositories[name]`)."""

    kind = "registry"

    def __init__(self, scope: Construct, env: EnvPlan) -> None:
        super().__init__(scope, env)
        self.repositories: dict[str, ecr.Repository] = {}
        for repo in env.repositories:
            cid = pascal(repo.name)
            self.repositories[repo.name] = ecr.Repository(
                self,
                f"Repository{cid}",
                repository_name=repo.name,
                image_tag_mutability=ecr.TagMutability.IMMUTABLE,
                image_scan_on_push=True,
                encryption=ecr.RepositoryEncryption.KMS,
            )
            ssm.StringParameter(
                self,
                f"ReleasedTag{cid}",
                parameter_name=repo.tag_parameter,
                string_value=env.image_tag,
            )
