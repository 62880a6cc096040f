"""What every environment stack shares: name, AWS provider, remote state."""

from __future__ import annotations

from constructs import Construct

from engine.aws.provider import (
    AwsProvider,
    AwsProviderAssumeRole,
    AwsProviderDefaultTags,
)
from engine.core import TerraformStack
from modules.state_backend import (
    CloudBackendProps,
    S3BackendProps,
    cloud_backend,
    s3_backend,
)
from settings.naming import stack_name, state_key
from settings.providers import AWS_PROVIDER_VERSION
from settings.schema import EnvironmentSettings, S3State

REQUIRED_TERRAFORM = ">= 1.10"
"""S3-native state locking (`use_lockfile`) needs Terraform 1.10 or newer."""


class EnvironmentStack(TerraformStack):
    """A stack named `<kind>-<env>`, pinned to the env's account and region."""

    kind: str
    """The stack kind (`network`, `cluster`, ...), set by each subclass: `<kind>-<env>`."""

    def __init__(self, scope: Construct, env: EnvironmentSettings) -> None:
        super().__init__(scope, stack_name(self.kind, env.name))
        self.env = env
        role = env.deploy_role
        AwsProvider(
            self,
            "aws",
            region=env.region,
            allowed_account_ids=[env.account_id],
            default_tags=[AwsProviderDefaultTags(tags=env.default_tags)],
            assume_role=[
                AwsProviderAssumeRole(
                    role_arn=role.role_arn,
                    external_id=role.external_id,
                    session_name=role.session_name,
                )
            ]
            if role
            else None,
        )
        self._backend(env)
        self.add_override("terraform.required_version", REQUIRED_TERRAFORM)
        # the release `make provider` builds and `make validate` checks, not the bindings' own
        self.add_override("terraform.required_providers.aws.version", AWS_PROVIDER_VERSION)

    def _backend(self, env: EnvironmentSettings) -> None:
        """The env's state: S3 at `<prefix>/<env>/<stack>.tfstate`, or the Terraform Cloud
        workspace `<prefix>-<stack>-<env>`."""
        state = env.state
        if isinstance(state, S3State):
            s3_backend(
                self,
                S3BackendProps(
                    bucket=state.bucket,
                    region=state.region,
                    account_id=env.account_id,
                    key=state_key(state.key_prefix, env.name, self.kind),
                    role=env.deploy_role,
                ),
            )
        else:
            cloud_backend(
                self,
                CloudBackendProps(
                    organization=state.organization,
                    hostname=state.hostname,
                    workspace=f"{state.workspace_prefix}-{self.kind}-{env.name}",
                ),
            )
