"""An S3 bucket that is private, encrypted, versioned and TLS-only: for logs and trails."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from constructs import Construct

from engine.aws.s3_bucket import S3Bucket
from engine.aws.s3_bucket_lifecycle_configuration import (
    S3BucketLifecycleConfiguration,
    S3BucketLifecycleConfigurationRule,
    S3BucketLifecycleConfigurationRuleAbortIncompleteMultipartUpload,
    S3BucketLifecycleConfigurationRuleExpiration,
    S3BucketLifecycleConfigurationRuleFilter,
    S3BucketLifecycleConfigurationRuleNoncurrentVersionExpiration,
)
from engine.aws.s3_bucket_ownership_controls import S3BucketOwnershipControls
from engine.aws.s3_bucket_policy import S3BucketPolicy
from engine.aws.s3_bucket_public_access_block import S3BucketPublicAccessBlock
from engine.aws.s3_bucket_server_side_encryption_configuration import (
    S3BucketServerSideEncryptionConfigurationA,
    S3BucketServerSideEncryptionConfigurationRuleA,
)
from engine.aws.s3_bucket_versioning import S3BucketVersioningA
from modules.iam import policy_json

DEFAULT_EXPIRATION_DAYS = 365
"""Objects (logs) expire after a year unless a bucket asks otherwise."""


@dataclass(frozen=True)
class SecureBucketProps:
    """Bucket name, encryption key and extra policy statements (service delivery grants)."""

    bucket_name: str
    kms_key_arn: str | None = None
    """SSE-KMS with this key; SSE-S3 (AES256) when None (some log deliveries need SSE-S3)."""
    policy_statements: Sequence[Mapping[str, Any]] = field(default_factory=tuple)
    """Added to the TLS-only statement; default none."""
    expiration_days: int | None = DEFAULT_EXPIRATION_DAYS
    """Default a year; None keeps current objects (Terraform state) and expires only noncurrent
    versions."""


class SecureBucket(Construct):
    """Private bucket: public access blocked, owner-enforced, versioned, encrypted, TLS-only."""

    def __init__(self, scope: Construct, id_: str, props: SecureBucketProps) -> None:
        super().__init__(scope, id_)
        if not 3 <= len(props.bucket_name) <= 63:
            raise ValueError(f"bucket name {props.bucket_name!r} must be 3-63 characters")
        self.bucket = S3Bucket(self, "Bucket", bucket=props.bucket_name, force_destroy=False)
        self.arn = self.bucket.arn
        self.name = self.bucket.bucket
        self._block_public_access()
        self._encryption(props.kms_key_arn)
        self._lifecycle(props.expiration_days)
        self.policy = self._policy(props.policy_statements)

    def _block_public_access(self) -> None:
        """No public access, no ACLs (the bucket owner owns every object), versioned."""
        S3BucketPublicAccessBlock(
            self,
            "PublicAccessBlock",
            bucket=self.bucket.id,
            block_public_acls=True,
            block_public_policy=True,
            ignore_public_acls=True,
            restrict_public_buckets=True,
        )
        S3BucketOwnershipControls(
            self,
            "Ownership",
            bucket=self.bucket.id,
            rule={"object_ownership": "BucketOwnerEnforced"},
        )
        S3BucketVersioningA(
            self,
            "Versioning",
            bucket=self.bucket.id,
            versioning_configuration={"status": "Enabled"},
        )

    def _encryption(self, kms_key_arn: str | None) -> None:
        sse: dict[str, Any] = (
            {"sse_algorithm": "aws:kms", "kms_master_key_id": kms_key_arn}
            if kms_key_arn
            else {"sse_algorithm": "AES256"}
        )
        S3BucketServerSideEncryptionConfigurationA(
            self,
            "Encryption",
            bucket=self.bucket.id,
            rule=[
                S3BucketServerSideEncryptionConfigurationRuleA(
                    apply_server_side_encryption_by_default=sse,
                    bucket_key_enabled=bool(kms_key_arn),
                )
            ],
        )

    def _lifecycle(self, expiration_days: int | None) -> None:
        S3BucketLifecycleConfiguration(
            self,
            "Lifecycle",
            bucket=self.bucket.id,
            rule=[
                S3BucketLifecycleConfigurationRule(
                    # Nested blocks are lists of structs: jsii cannot deserialize lists of dicts.
                    id="expire-logs" if expiration_days else "expire-old-versions",
                    status="Enabled",
                    filter=[S3BucketLifecycleConfigurationRuleFilter(prefix="")],
                    expiration=[S3BucketLifecycleConfigurationRuleExpiration(days=expiration_days)]
                    if expiration_days
                    else None,
                    noncurrent_version_expiration=[
                        S3BucketLifecycleConfigurationRuleNoncurrentVersionExpiration(
                            noncurrent_days=30
                        )
                    ],
                    abort_incomplete_multipart_upload=[
                        S3BucketLifecycleConfigurationRuleAbortIncompleteMultipartUpload(
                            days_after_initiation=7
                        )
                    ],
                )
            ],
        )

    def _policy(self, statements: Sequence[Mapping[str, Any]]) -> S3BucketPolicy:
        deny_insecure = {
            "Sid": "DenyInsecureTransport",
            "Effect": "Deny",
            "Principal": "*",
            "Action": "s3:*",  # a Deny on every action is the point here
            "Resource": [self.bucket.arn, f"{self.bucket.arn}/*"],
            "Condition": {"Bool": {"aws:SecureTransport": "false"}},
        }
        return S3BucketPolicy(
            self,
            "Policy",
            bucket=self.bucket.id,
            policy=policy_json(deny_insecure, *statements),
        )
