"""A customer-managed KMS key with rotation on, an alias and an explicit key policy."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from constructs import Construct

from engine.aws.kms_alias import KmsAlias
from engine.aws.kms_key import KmsKey as AwsKmsKey
from modules.iam import policy_json, statement
from settings.naming import PARTITION
from settings.rules import between_problem

DEFAULT_DELETION_WINDOW_DAYS = 30
"""Longest window: a scheduled deletion of a key that encrypts secrets must be reversible."""
KEY_POLICY_RESOURCE = "*"
"""In a key policy, `*` means "this key"; the policy cannot name its own ARN."""


@dataclass(frozen=True)
class KmsKeyProps:
    """Alias, account and the statements granting AWS services use of the key."""

    alias: str
    """`alias/<name>`."""
    account_id: str
    description: str
    service_statements: Sequence[Mapping[str, Any]] = field(default_factory=tuple)
    """Grants to service principals; IAM principals of the account are governed by IAM.
    Default none."""
    deletion_window_days: int = DEFAULT_DELETION_WINDOW_DAYS
    """Default 30, the longest."""


KEY_ADMIN_ACTIONS = (
    "kms:Create*",
    "kms:Describe*",
    "kms:Enable*",
    "kms:List*",
    "kms:Put*",
    "kms:Update*",
    "kms:Revoke*",
    "kms:Disable*",
    "kms:Get*",
    "kms:Delete*",
    "kms:TagResource",
    "kms:UntagResource",
    "kms:ScheduleKeyDeletion",
    "kms:CancelKeyDeletion",
    "kms:RotateKeyOnDemand",
    "kms:RetireGrant",
)
"""Administration, as in the console's default policy; includes kms:PutKeyPolicy, so the
account can never lock itself out of the key."""
KEY_USE_ACTIONS = ("kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*")


def account_root_statement(account_id: str) -> dict[str, Any]:
    """The account administers and uses the key through IAM policies.

    A key-policy grant to the account root delegates to IAM: it grants nothing by itself, so
    every role still needs an IAM policy naming this key. Actions are listed rather than
    `kms:*` so IAM can never delegate anything outside administration and encryption.
    """
    return statement(
        [*KEY_ADMIN_ACTIONS, *KEY_USE_ACTIONS],
        [KEY_POLICY_RESOURCE],
        sid="AccountAdministersKeyViaIam",
        principal={"AWS": f"arn:{PARTITION}:iam::{account_id}:root"},
    )


class KmsKey(Construct):
    """Symmetric key, yearly automatic rotation, `alias/...`; exposes `.arn` and `.key_id`."""

    def __init__(self, scope: Construct, id_: str, props: KmsKeyProps) -> None:
        super().__init__(scope, id_)
        if not props.alias.startswith("alias/") or props.alias.startswith("alias/aws/"):
            raise ValueError(f"alias {props.alias!r} must start with 'alias/' (not 'alias/aws/')")
        # KMS ScheduleKeyDeletion: PendingWindowInDays 7-30.
        if problem := between_problem(props.deletion_window_days, 7, 30):
            raise ValueError(f"deletion window: {problem}")
        self.policy_document = policy_json(
            account_root_statement(props.account_id), *props.service_statements
        )
        self.key = AwsKmsKey(
            self,
            "Key",
            description=props.description,
            enable_key_rotation=True,
            deletion_window_in_days=props.deletion_window_days,
            policy=self.policy_document,
        )
        self.alias = KmsAlias(self, "Alias", name=props.alias, target_key_id=self.key.key_id)
        self.arn = self.key.arn
        self.key_id = self.key.key_id


def eventbridge_statement(account_id: str) -> dict[str, Any]:
    """EventBridge may publish into SSE-KMS topics and dead-letter into SSE-KMS queues.

    Both need exactly GenerateDataKey (encrypt the message) and Decrypt (SNS/SQS verify the data
    key); without them EventBridge's deliveries, and then its dead-lettering, fail. Scoped to
    this account's callers (`aws:SourceAccount`, sent with the rule's `aws:SourceArn`).
    """
    return statement(
        ["kms:GenerateDataKey", "kms:Decrypt"],
        [KEY_POLICY_RESOURCE],
        sid="EventBridgeEncryptsMessages",
        principal={"Service": "events.amazonaws.com"},
        condition={"StringEquals": {"aws:SourceAccount": account_id}},
    )


def sns_statement(account_id: str) -> dict[str, Any]:
    """SNS may deliver from this account's topics into SSE-KMS queues encrypted with the key.

    SNS, not the subscriber, encrypts each message it sends to an SSE-KMS queue, and decrypts
    what it reads from an SSE-KMS topic; without this grant deliveries fail silently.
    """
    return statement(
        ["kms:GenerateDataKey*", "kms:Decrypt"],
        [KEY_POLICY_RESOURCE],
        sid="SnsEncryptsQueueMessages",
        principal={"Service": "sns.amazonaws.com"},
        condition={"StringEquals": {"aws:SourceAccount": account_id}},
    )


def cloudtrail_statements(account_id: str, trail_arn: str) -> list[dict[str, Any]]:
    """CloudTrail may encrypt this trail's log files (and only this trail's) with the key."""
    source = {"aws:SourceArn": trail_arn}
    return [
        statement(
            ["kms:GenerateDataKey*"],
            [KEY_POLICY_RESOURCE],
            sid="CloudTrailEncryptsLogs",
            principal={"Service": "cloudtrail.amazonaws.com"},
            condition={
                "StringEquals": source,
                "StringLike": {
                    "kms:EncryptionContext:aws:cloudtrail:arn": (
                        f"arn:{PARTITION}:cloudtrail:*:{account_id}:trail/*"
                    )
                },
            },
        ),
        statement(
            ["kms:DescribeKey"],
            [KEY_POLICY_RESOURCE],
            sid="CloudTrailDescribesKey",
            principal={"Service": "cloudtrail.amazonaws.com"},
            condition={"StringEquals": source},
        ),
    ]


def via_services_statement(account_id: str, region: str, services: Sequence[str]) -> dict[str, Any]:
    """Principals of the account may use the key only through the named AWS services.

    They still need an IAM policy allowing kms:Decrypt etc. on this key (see the root
    statement); this statement documents and bounds the intended paths.
    """
    return statement(
        ["kms:Decrypt", "kms:GenerateDataKey", "kms:DescribeKey"],
        [KEY_POLICY_RESOURCE],
        sid="AccountUsesKeyViaServices",
        principal={"AWS": f"arn:{PARTITION}:iam::{account_id}:root"},
        condition={
            "StringEquals": {
                "kms:CallerAccount": account_id,
                # kms:ViaService is single-valued: a list here means "any of".
                "kms:ViaService": [f"{s}.{region}.amazonaws.com" for s in services],
            }
        },
    )
