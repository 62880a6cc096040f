"""`bootstrap-<env>`: what must exist before any env stack can plan: the S3 state bucket and the
deploy role. Applied once per env by an administrator of its account (`make bootstrap`), with
the shell's credentials, not the deploy role it creates.

Its own state: first in a local file (the bucket does not exist yet), then migrated into the
bucket it created, under `<prefix>/bootstrap/<env>.tfstate`, outside the `<prefix>/<env>/` keys
the deploy role may write (so the role cannot edit the record of its own policy).
`scripts/bootstrap.py` runs both phases and, afterwards, plans against the bucket (no changes).

Encryption: SSE-S3, not SSE-KMS. The S3 backend's `encrypt = true` (every stack here) sends
`x-amz-server-side-encryption: AES256` on each write unless it also names a `kms_key_id`, so a
KMS default on the bucket would not apply to state objects anyway; a customer key would then
have to be named in every backend and every remote-state read, and its key policy admit each
reader. Access is held by IAM (only the env's deploy role, on its own keys), the TLS-only bucket
policy and the public access block; versions are kept for rollback, noncurrent ones expire.
https://developer.hashicorp.com/terraform/language/backend/s3#encrypt
"""

from __future__ import annotations

from typing import Literal

from constructs import Construct

from engine.aws.provider import AwsProvider, AwsProviderDefaultTags
from engine.core import LocalBackend, S3Backend, TerraformOutput, TerraformStack
from modules.checkov_skips import skip_checks
from modules.deploy_policy import deploy_scope
from modules.deploy_role import PipelineRole, PipelineRoleProps
from modules.secure_bucket import SecureBucket, SecureBucketProps
from settings.naming import PARTITION, stack_name, state_key
from settings.schema import EnvironmentSettings, S3State

REQUIRED_TERRAFORM = ">= 1.10"

STATE_BUCKET_SKIPS = {
    "CKV_AWS_145": "SSE-S3 by design: the S3 backend writes state with AES256 unless every "
    "backend names a KMS key (see stacks/bootstrap.py)",
    "CKV_AWS_144": "state stays in the env's region; a replica would be one more copy of the "
    "state to guard",
    "CKV_AWS_18": "access logging would need a second bucket per account; CloudTrail data "
    "events are the audit trail when needed",
    "CKV2_AWS_62": "nothing consumes bucket notifications for state objects",
}
Backend = Literal["local", "s3"]


def bootstrap_state_key(state: S3State, env: str) -> str:
    """`<prefix>/bootstrap/<env>.tfstate`: outside the deploy role's `<prefix>/<env>/` keys."""
    return state_key(state.key_prefix, "bootstrap", env)


class BootstrapStack(TerraformStack):
    """The env's state bucket and deploy role, with local or S3 state."""

    def __init__(
        self,
        scope: Construct,
        env: EnvironmentSettings,
        backend: Backend,
        local_state: str,
        trusted: tuple[str, ...] = (),
    ) -> None:
        super().__init__(scope, stack_name("bootstrap", env.name))
        if not isinstance(env.state, S3State):
            raise ValueError(
                f"{env.name} keeps its state in Terraform Cloud: nothing to "
                "bootstrap here (README 'First deploy with Terraform Cloud')"
            )
        state = env.state
        AwsProvider(
            self,
            "aws",
            region=state.region,
            allowed_account_ids=[env.account_id],
            default_tags=[AwsProviderDefaultTags(tags=env.default_tags)],
        )
        if backend == "local":
            LocalBackend(self, path=local_state)
        else:
            S3Backend(
                self,
                bucket=state.bucket,
                region=state.region,
                encrypt=True,
                key=bootstrap_state_key(state, env.name),
                allowed_account_ids=[env.account_id],
            ).add_override("use_lockfile", True)
        self.add_override("terraform.required_version", REQUIRED_TERRAFORM)
        bucket = SecureBucket(
            self, "State", SecureBucketProps(bucket_name=state.bucket, expiration_days=None)
        )
        skip_checks(bucket.bucket, STATE_BUCKET_SKIPS)
        TerraformOutput(self, "state_bucket", value=bucket.name)
        if env.deploy_role is not None:
            role = env.deploy_role
            *path, name = role.role_arn.split(":role/", 1)[1].split("/")
            pipeline = PipelineRole(
                self,
                "DeployRole",
                PipelineRoleProps(
                    name=name,
                    path="/" + "".join(f"{p}/" for p in path),
                    trusted=trusted or (f"arn:{PARTITION}:iam::{env.account_id}:root",),
                    external_id=role.external_id,
                    scope=deploy_scope(env),
                ),
            )
            TerraformOutput(self, "deploy_role_arn", value=pipeline.arn)
