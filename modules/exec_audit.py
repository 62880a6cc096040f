"""ECS Exec auditing: a KMS key for the sessions and an encrypted log group for what they ran.

`EcsCluster.enable_exec_auditing(audit)` points the cluster's `execute_command_configuration`
at both (logging OVERRIDE); each service with exec on gets `exec_statements`: what the SSM
agent inside its task needs to open encrypted, logged sessions, scoped to this key
and log group (ECS Developer Guide, "Monitor Amazon ECS containers with ECS Exec": IAM
permissions, KMS key and logging).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from constructs import Construct

from engine.aws.cloudwatch_log_group import CloudwatchLogGroup
from modules.iam import statement
from modules.kms_key import KEY_POLICY_RESOURCE, KmsKey, KmsKeyProps
from settings.naming import PARTITION
from settings.rules import retention_problem

EXEC_CHANNEL_ACTIONS = (
    "ssmmessages:CreateControlChannel",
    "ssmmessages:CreateDataChannel",
    "ssmmessages:OpenControlChannel",
    "ssmmessages:OpenDataChannel",
)
"""ECS Exec's Session Manager channels; these actions support no resource-level scoping."""
EXEC_LOG_ACTIONS = ("logs:CreateLogStream", "logs:DescribeLogStreams", "logs:PutLogEvents")


@dataclass(frozen=True)
class ExecAccess:
    """What a service's tasks need to know of the cluster's exec audit (tokens are fine)."""

    key_arn: str
    log_group_arn: str


@dataclass(frozen=True)
class ExecAuditProps:
    """Key alias, log group name and retention; account and region scope the key policy."""

    key_alias: str
    log_group_name: str
    account_id: str
    region: str
    retention_days: int = 365
    """Session logs are an audit trail: a year by default."""


def log_group_arn(region: str, account_id: str, name: str) -> str:
    return f"arn:{PARTITION}:logs:{region}:{account_id}:log-group:{name}"


class ExecAudit(Construct):
    """The exec key (rotated) and the KMS-encrypted session log group; exposes `.key_arn`,
    `.log_group_name`, `.log_group_arn`."""

    def __init__(self, scope: Construct, id_: str, props: ExecAuditProps) -> None:
        super().__init__(scope, id_)
        if problem := retention_problem(props.retention_days):
            raise ValueError(f"exec audit retention: {problem}")
        self._props = props
        self.log_group_arn = log_group_arn(props.region, props.account_id, props.log_group_name)
        # CloudWatch Logs encrypts the group's events with the key, for this group only
        # (CloudWatch Logs User Guide, "Encrypt log data in CloudWatch Logs using AWS KMS").
        self.key = KmsKey(
            self,
            "Key",
            KmsKeyProps(
                alias=props.key_alias,
                account_id=props.account_id,
                description="ECS Exec: session encryption and the session log group",
                service_statements=(
                    statement(
                        [
                            "kms:Encrypt",
                            "kms:Decrypt",
                            "kms:ReEncrypt*",
                            "kms:GenerateDataKey*",
                            "kms:DescribeKey",
                        ],
                        [KEY_POLICY_RESOURCE],
                        sid="CloudWatchLogsEncryptsExecLogs",
                        principal={"Service": f"logs.{props.region}.amazonaws.com"},
                        condition={
                            "ArnEquals": {"kms:EncryptionContext:aws:logs:arn": self.log_group_arn}
                        },
                    ),
                ),
            ),
        )
        self.log_group = CloudwatchLogGroup(
            self,
            "LogGroup",
            name=props.log_group_name,
            kms_key_id=self.key.arn,
            retention_in_days=props.retention_days,
        )
        self.key_arn = self.key.arn
        self.log_group_name = self.log_group.name


def exec_statements(key_arn: str, group_arn: str) -> list[dict[str, Any]]:
    """ssmmessages (no resource scoping exists), kms:Decrypt on the exec key, the session log
    group's streams; logs:DescribeLogGroups, which the agent calls first, is account-wide."""
    return [
        statement(EXEC_CHANNEL_ACTIONS, ["*"], sid="EcsExec"),
        statement(["kms:Decrypt"], [key_arn], sid="EcsExecDecryptSessions"),
        statement(EXEC_LOG_ACTIONS, [f"{group_arn}:*"], sid="EcsExecWriteSessionLog"),
        statement(["logs:DescribeLogGroups"], ["*"], sid="EcsExecFindSessionLog"),
    ]
