"""Remote state for a stack: S3 with native locking, or Terraform Cloud."""

from __future__ import annotations

from engine.core import (
    CloudBackend,
    NamedCloudWorkspace,
    S3Backend,
    S3BackendAssumeRoleConfig,
    TerraformStack,
)

from settings.naming import state_key
from settings.schema import EnvironmentSettings, S3State, TerraformCloudState


def configure_backend(stack: TerraformStack, env: EnvironmentSettings, stack_kind: str) -> None:
    """Attach the env's backend to `stack`; the state key is `<prefix>/<env>/<stack>.tfstate`."""
    state = env.state
    if isinstance(state, S3State):
        role = env.deploy_role
        # cdktf copies these settings into every terraform_remote_state that reads this
        # stack, so cross-stack reads assume the same role and check the same account.
        backend = S3Backend(
            stack, bucket=state.bucket, region=state.region, encrypt=True,
            key=state_key(state.key_prefix, env.name, stack_kind),
            allowed_account_ids=[env.account_id],
            assume_role=S3BackendAssumeRoleConfig(
                role_arn=role.role_arn, external_id=role.external_id,
                session_name=role.session_name) if role else None)
        # S3-native locking (Terraform >= 1.10). cdktf 0.21's S3BackendConfig has no field for
        # it, so set it through the escape hatch; no DynamoDB lock table is needed.
        backend.add_override("use_lockfile", True)
    elif isinstance(state, TerraformCloudState):
        CloudBackend(stack, hostname=state.hostname, organization=state.organization,
                     workspaces=NamedCloudWorkspace(
                         f"{state.workspace_prefix}-{stack_kind}-{env.name}"))
    else:  # pragma: no cover - validate() rejects this first
        raise TypeError(f"unsupported state settings {state!r}")
