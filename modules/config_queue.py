"""A service's config-event queue: SSE-KMS, long polling, a DLQ, and an EventBridge-only policy."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Sequence

from cdktf_cdktf_provider_aws.sqs_queue import SqsQueue
from cdktf_cdktf_provider_aws.sqs_queue_policy import SqsQueuePolicy
from cdktf_cdktf_provider_aws.sqs_queue_redrive_allow_policy import SqsQueueRedriveAllowPolicy
from constructs import Construct

from modules.iam import policy_json, statement

RECEIVE_WAIT_SECONDS = 20
"""Long polling at SQS's maximum: the agent's receive returns as soon as a message lands."""
VISIBILITY_TIMEOUT_SECONDS = 30
"""Time for the agent to refetch config/secrets before an unacknowledged message reappears."""
DLQ_RETENTION_SECONDS = 1209600
"""14 days, SQS's maximum, so failed notifications can be inspected."""
KMS_DATA_KEY_REUSE_SECONDS = 300


@dataclass(frozen=True)
class ConfigQueueProps:
    """Queue names, key and redrive/retention settings from the env table."""

    name: str
    dlq_name: str
    kms_key_arn: str
    max_receive_count: int
    message_retention_seconds: int
    receive_wait_seconds: int = RECEIVE_WAIT_SECONDS
    visibility_timeout_seconds: int = VISIBILITY_TIMEOUT_SECONDS


class ConfigQueue(Construct):
    """Queue + DLQ (redrive both ways); `allow_event_rules` adds the only write permission."""

    def __init__(self, scope: Construct, id_: str, props: ConfigQueueProps) -> None:
        super().__init__(scope, id_)
        if not 1 <= props.max_receive_count <= 1000:
            raise ValueError(f"maxReceiveCount {props.max_receive_count} must be 1-1000")
        if not 60 <= props.message_retention_seconds <= DLQ_RETENTION_SECONDS:
            raise ValueError(f"retention {props.message_retention_seconds}s must be 60-1209600")
        if not 0 <= props.receive_wait_seconds <= 20:
            raise ValueError(f"receive wait {props.receive_wait_seconds}s must be 0-20")
        encryption: dict[str, Any] = {
            "kms_master_key_id": props.kms_key_arn,
            "kms_data_key_reuse_period_seconds": KMS_DATA_KEY_REUSE_SECONDS}
        self.dlq = SqsQueue(self, "DeadLetterQueue", name=props.dlq_name,
                            message_retention_seconds=DLQ_RETENTION_SECONDS, **encryption)
        self.queue = SqsQueue(
            self, "Queue", name=props.name,
            message_retention_seconds=props.message_retention_seconds,
            receive_wait_time_seconds=props.receive_wait_seconds,
            visibility_timeout_seconds=props.visibility_timeout_seconds,
            redrive_policy=json.dumps({"deadLetterTargetArn": self.dlq.arn,
                                       "maxReceiveCount": props.max_receive_count}),
            **encryption)
        # Only this queue may use the DLQ (a separate resource: the queue already points at it).
        SqsQueueRedriveAllowPolicy(
            self, "DeadLetterRedriveAllow", queue_url=self.dlq.url,
            redrive_allow_policy=json.dumps({"redrivePermission": "byQueue",
                                             "sourceQueueArns": [self.queue.arn]}))
        self.arn = self.queue.arn
        self.url = self.queue.url
        self.dlq_arn = self.dlq.arn
        self.policy: SqsQueuePolicy | None = None

    def allow_event_rules(self, rule_arns: Sequence[str]) -> SqsQueuePolicy:
        """Let EventBridge send to the queue on behalf of exactly these rules, over TLS only."""
        if self.policy is not None:
            raise RuntimeError("allow_event_rules may be called once per queue")
        if not rule_arns:
            raise ValueError("at least one rule ARN is required")
        deny_insecure = {
            "Sid": "DenyInsecureTransport", "Effect": "Deny", "Principal": "*",
            "Action": "sqs:*",  # a Deny on every action is the point here
            "Resource": self.queue.arn,
            "Condition": {"Bool": {"aws:SecureTransport": "false"}},
        }
        allow_rules = statement(["sqs:SendMessage"], [self.queue.arn],
                                sid="EventBridgeRulesSend",
                                principal={"Service": "events.amazonaws.com"},
                                condition={"ArnEquals": {"aws:SourceArn": list(rule_arns)}})
        self.policy = SqsQueuePolicy(self, "Policy", queue_url=self.queue.url,
                                     policy=policy_json(allow_rules, deny_insecure))
        return self.policy
