"""Remote state for a stack: S3 with native locking, or Terraform Cloud."""

from __future__ import annotations

from dataclasses import dataclass

from engine.core import (
    CloudBackend,
    NamedCloudWorkspace,
    S3Backend,
    S3BackendAssumeRoleConfig,
    TerraformStack,
)
from settings.schema import DeployRole


@dataclass(frozen=True)
class S3BackendProps:
    """One state object in an S3 bucket, encrypted and locked."""

    bucket: str
    region: str
    """The bucket's region."""
    key: str
    """The state object, `<prefix>/<env>/<stack>.tfstate`."""
    account_id: str
    """The only account the state may be read or written in (`allowed_account_ids`)."""
    role: DeployRole | None = None
    """Assumed to read and write the state; default none: the shell's credentials."""


@dataclass(frozen=True)
class CloudBackendProps:
    """One Terraform Cloud workspace, which keeps the state and runs the plans."""

    hostname: str
    """`app.terraform.io`, or a Terraform Enterprise host."""
    organization: str
    workspace: str


def s3_backend(stack: TerraformStack, props: S3BackendProps) -> S3Backend:
    """S3 state with encryption and S3-native locking (Terraform >= 1.10, no lock table)."""
    role = props.role
    # cdktf copies these settings into every terraform_remote_state that reads this stack,
    # so cross-stack reads assume the same role and check the same account.
    backend = S3Backend(
        stack,
        bucket=props.bucket,
        region=props.region,
        encrypt=True,
        key=props.key,
        allowed_account_ids=[props.account_id],
        assume_role=S3BackendAssumeRoleConfig(
            role_arn=role.role_arn, external_id=role.external_id, session_name=role.session_name
        )
        if role
        else None,
    )
    # cdktf 0.21's S3BackendConfig has no field for use_lockfile, so set it through the
    # escape hatch.
    backend.add_override("use_lockfile", True)
    return backend


def cloud_backend(stack: TerraformStack, props: CloudBackendProps) -> CloudBackend:
    """A Terraform Cloud workspace as the stack's backend."""
    return CloudBackend(
        stack,
        hostname=props.hostname,
        organization=props.organization,
        workspaces=NamedCloudWorkspace(props.workspace),
    )
