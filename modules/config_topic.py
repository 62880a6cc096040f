"""A service's config-event topic (SNS, SSE-KMS) and the DLQ its agents' queues redrive to.

SQS is point-to-point: one queue shared by N tasks hands each event to one task only. So the
pipeline publishes to one SNS topic per service, and every task's config agent creates its own
SQS queue `<queue_name_prefix><task id>` at startup, subscribes it to the topic with raw
delivery (the SQS body stays the EventBridge event) and deletes it on shutdown. Those queues are
not Terraform resources; this construct owns only what outlives tasks: the topic, its policy
and the shared DLQ. The DLQ collects both kinds of failed config event: messages the agents'
queues redrive after too many receives, and events EventBridge could not deliver to the topic.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass

from constructs import Construct

from config_agent import contract
from engine.aws.sns_topic import SnsTopic
from engine.aws.sns_topic_policy import SnsTopicPolicy
from engine.aws.sqs_queue import SqsQueue
from engine.aws.sqs_queue_policy import SqsQueuePolicy
from engine.aws.sqs_queue_redrive_allow_policy import SqsQueueRedriveAllowPolicy
from modules.iam import policy_json, statement
from modules.service_config import AgentQueues

DLQ_RETENTION_SECONDS = 1209600
"""14 days, SQS's maximum, so failed notifications can be inspected."""
KMS_DATA_KEY_REUSE_SECONDS = 300
SQS_NAME_MAX = contract.SQS_NAME_MAX
ECS_TASK_ID_LENGTH = contract.ECS_TASK_ID_LENGTH
_QUEUE_NAME = re.compile(r"^[A-Za-z0-9_-]+$")
_TOPIC_NAME = re.compile(r"^[A-Za-z0-9_-]{1,256}$")


@dataclass(frozen=True)
class ConfigTopicProps:
    """Topic and DLQ names, the env key, and how agents name and redrive their queues."""

    topic_name: str
    dlq_name: str
    queue_name_prefix: str
    """Agents name their queue `<prefix><ecs task id>`; the task role is scoped to `<prefix>*`."""
    kms_key_arn: str
    max_receive_count: int
    """Receives before an agent's queue moves a message to the DLQ (agents set the redrive)."""


class ConfigTopic(Construct):
    """SNS topic + DLQ; `allow_event_rules` adds the only publish and dead-letter permissions."""

    def __init__(self, scope: Construct, id_: str, props: ConfigTopicProps) -> None:
        super().__init__(scope, id_)
        if not _TOPIC_NAME.match(props.topic_name):
            raise ValueError(f"topic name {props.topic_name!r} must be 1-256 of A-Z a-z 0-9 _ -")
        longest = len(props.queue_name_prefix) + ECS_TASK_ID_LENGTH
        if not _QUEUE_NAME.match(props.queue_name_prefix) or longest > SQS_NAME_MAX:
            raise ValueError(
                f"queue name prefix {props.queue_name_prefix!r} must be A-Z a-z 0-9 _ - and at "
                f"most {SQS_NAME_MAX - ECS_TASK_ID_LENGTH} characters (prefix + a "
                f"{ECS_TASK_ID_LENGTH}-character task id must fit SQS's {SQS_NAME_MAX})"
            )
        if not 1 <= props.max_receive_count <= 1000:
            raise ValueError(f"maxReceiveCount {props.max_receive_count} must be 1-1000")
        self.topic = SnsTopic(
            self, "Topic", name=props.topic_name, kms_master_key_id=props.kms_key_arn
        )
        self.dlq = SqsQueue(
            self,
            "DeadLetterQueue",
            name=props.dlq_name,
            message_retention_seconds=DLQ_RETENTION_SECONDS,
            kms_master_key_id=props.kms_key_arn,
            kms_data_key_reuse_period_seconds=KMS_DATA_KEY_REUSE_SECONDS,
        )
        # The source queues are created by the agents at task start and named after the task
        # id, so their ARNs cannot be listed here ("byQueue" takes at most 10 exact ARNs, no
        # wildcards). "allowAll" admits any queue of this account (SQS never allows a
        # cross-account DLQ); the agent's own RedrivePolicy is what points its queue here.
        SqsQueueRedriveAllowPolicy(
            self,
            "DeadLetterRedriveAllow",
            queue_url=self.dlq.url,
            redrive_allow_policy=json.dumps({"redrivePermission": "allowAll"}),
        )
        self.arn = self.topic.arn
        self.dlq_arn = self.dlq.arn
        self.dlq_name = self.dlq.name
        self.queue_name_prefix = props.queue_name_prefix
        self.max_receive_count = props.max_receive_count
        self.agent_queues = AgentQueues(
            topic_arn=self.arn,
            dlq_arn=self.dlq_arn,
            queue_name_prefix=props.queue_name_prefix,
            max_receive_count=props.max_receive_count,
        )
        """What each config agent needs to create, subscribe and redrive its own queue."""
        self.policy: SnsTopicPolicy | None = None
        self.dlq_policy: SqsQueuePolicy | None = None

    def allow_event_rules(self, rule_arns: Sequence[str]) -> SnsTopicPolicy:
        """Let EventBridge publish to the topic, and dead-letter into the DLQ what it cannot
        deliver, on behalf of exactly these rules, over TLS only.

        No statement for the account: in-account principals (the agents' Subscribe, Terraform,
        an operator reading the DLQ) are authorized by their IAM policies alone, and the agents'
        queues move messages here by SQS's internal redrive, which no queue policy governs.
        """
        if self.policy is not None:
            raise RuntimeError("allow_event_rules may be called once per topic")
        if not rule_arns:
            raise ValueError("at least one rule ARN is required")
        self.policy = self._topic_policy(rule_arns)
        self.dlq_policy = self._dead_letter_policy(rule_arns)
        return self.policy

    def _topic_policy(self, rule_arns: Sequence[str]) -> SnsTopicPolicy:
        """These rules may publish, over TLS only."""
        allow_rules = statement(
            ["sns:Publish"],
            [self.topic.arn],
            sid="EventBridgeRulesPublish",
            principal={"Service": "events.amazonaws.com"},
            condition={"ArnEquals": {"aws:SourceArn": list(rule_arns)}},
        )
        deny_insecure = statement(
            ["sns:Publish"],
            [self.topic.arn],
            sid="DenyInsecureTransport",
            effect="Deny",
            principal={"AWS": "*"},
            condition={"Bool": {"aws:SecureTransport": "false"}},
        )
        return SnsTopicPolicy(
            self, "Policy", arn=self.topic.arn, policy=policy_json(allow_rules, deny_insecure)
        )

    def _dead_letter_policy(self, rule_arns: Sequence[str]) -> SqsQueuePolicy:
        """These rules and the topic's subscriptions may dead-letter into the DLQ, over TLS
        only."""
        dead_letters = statement(
            ["sqs:SendMessage"],
            [self.dlq.arn],
            sid="EventBridgeRulesDeadLetter",
            principal={"Service": "events.amazonaws.com"},
            condition={"ArnEquals": {"aws:SourceArn": list(rule_arns)}},
        )
        # The agents' subscriptions redrive here what SNS cannot deliver to their queue (e.g.
        # while a new queue's policy propagates); SNS sends as its service principal, on behalf
        # of this topic only (https://docs.aws.amazon.com/sns/latest/dg/
        # sns-configure-dead-letter-queue.html).
        topic_dead_letters = statement(
            ["sqs:SendMessage"],
            [self.dlq.arn],
            sid="TopicSubscriptionsDeadLetter",
            principal={"Service": "sns.amazonaws.com"},
            condition={"ArnEquals": {"aws:SourceArn": self.topic.arn}},
        )
        # A Deny on every action is the point here (statement() refuses wildcard actions).
        dlq_deny_insecure = {
            "Sid": "DenyInsecureTransport",
            "Effect": "Deny",
            "Principal": {"AWS": "*"},
            "Action": ["sqs:*"],
            "Resource": [self.dlq.arn],
            "Condition": {"Bool": {"aws:SecureTransport": "false"}},
        }
        return SqsQueuePolicy(
            self,
            "DeadLetterPolicy",
            queue_url=self.dlq.url,
            policy=policy_json(dead_letters, topic_dead_letters, dlq_deny_insecure),
        )
