"""A service's own SQS job queue with a dead-letter queue: what a queue-driven worker consumes."""

from __future__ import annotations

import json
from dataclasses import dataclass

from constructs import Construct

from engine.aws.sqs_queue import SqsQueue
from engine.aws.sqs_queue_policy import SqsQueuePolicy
from modules.iam import policy_json
from settings.rules import (
    max_receive_count_problem,
    sqs_queue_name_problem,
    visibility_timeout_problem,
)

DEFAULT_VISIBILITY_TIMEOUT = 300
"""Seconds a received job stays hidden: longer than a worker should need per job."""
DEFAULT_RETENTION_SECONDS = 345600  # 4 days
DLQ_RETENTION_SECONDS = 1209600  # 14 days, the SQS maximum: time to inspect failures
DEFAULT_MAX_RECEIVE_COUNT = 5
LONG_POLL_SECONDS = 20


@dataclass(frozen=True)
class WorkQueueProps:
    """Queue name (`<env>-<service>-jobs`) and redrive settings."""

    name: str
    visibility_timeout_seconds: int = DEFAULT_VISIBILITY_TIMEOUT
    """Default 300 s."""
    message_retention_seconds: int = DEFAULT_RETENTION_SECONDS
    """Default 4 days (SQS's own default); the DLQ keeps 14."""
    max_receive_count: int = DEFAULT_MAX_RECEIVE_COUNT
    """Receives before a job moves to the DLQ; default 5."""


class WorkQueue(Construct):
    """Encrypted (SQS-managed SSE: producers need no key grant), TLS-only job queue + DLQ;
    exposes `.arn`, `.url`, `.name`."""

    def __init__(self, scope: Construct, id_: str, props: WorkQueueProps) -> None:
        super().__init__(scope, id_)
        if problem := (
            sqs_queue_name_problem(f"{props.name}-dlq")
            or visibility_timeout_problem(props.visibility_timeout_seconds)
            or max_receive_count_problem(props.max_receive_count)
        ):
            raise ValueError(f"work queue {props.name!r}: {problem}")
        self.dlq = SqsQueue(
            self,
            "DeadLetterQueue",
            name=f"{props.name}-dlq",
            message_retention_seconds=DLQ_RETENTION_SECONDS,
            sqs_managed_sse_enabled=True,
        )
        self.queue = SqsQueue(
            self,
            "Queue",
            name=props.name,
            visibility_timeout_seconds=props.visibility_timeout_seconds,
            message_retention_seconds=props.message_retention_seconds,
            receive_wait_time_seconds=LONG_POLL_SECONDS,
            redrive_policy=json.dumps(
                {"deadLetterTargetArn": self.dlq.arn, "maxReceiveCount": props.max_receive_count}
            ),
            sqs_managed_sse_enabled=True,
        )
        for construct_id, queue in (
            ("QueuePolicy", self.queue),
            ("DeadLetterQueuePolicy", self.dlq),
        ):
            SqsQueuePolicy(
                self,
                construct_id,
                queue_url=queue.url,
                policy=policy_json(
                    {
                        "Sid": "DenyInsecureTransport",
                        "Effect": "Deny",
                        "Principal": "*",
                        "Action": "sqs:*",  # a Deny on every action is the point here
                        "Resource": queue.arn,
                        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                    }
                ),
            )
        self.arn = self.queue.arn
        self.url = self.queue.url
        self.name = self.queue.name
        self.dlq_arn = self.dlq.arn
