"""Fan-out mode: this agent's own SQS queue, subscribed to the service's SNS topic.

SQS is point-to-point, so one queue shared by N tasks wakes only one of them per event. In
fan-out mode the config pipeline publishes to an SNS topic per service and every agent
creates its own queue `<prefix><task id>`, subscribes it (raw delivery: the SQS body is the
EventBridge event, exactly as with a shared queue) and consumes it as usual. The agent never
deletes a queue or a subscription: its task role cannot (least privilege, issue 27). The
config stack's reaper (reaper/handler.py) removes both when ECS reports the task STOPPED, and
its periodic sweep finds any it missed. The agent checks its own subscription periodically
(`OwnQueue.subscribed`) and resubscribes when it is gone.
"""

from __future__ import annotations

import json
import logging
import re
import secrets
import threading
import time
import urllib.request
from dataclasses import dataclass

from . import contract
from .aws import Aws, AwsError
from .logs import log
from .settings import Settings

LOG = logging.getLogger("config_agent.fanout")
TASK_ID = re.compile(rf"^[0-9a-f]{{{contract.ECS_TASK_ID_LENGTH}}}$")
"""An ECS task id: the last part of a (long-format) task ARN, 32 lowercase hex characters."""
_METADATA_TIMEOUT_S = 1.0
METADATA_ATTEMPTS = 8  # ~10 s with backoff before giving up and exiting non-zero
RETENTION_SECONDS = 3600  # events older than a restart are useless: startup fetches all
KMS_REUSE_SECONDS = 300


class IdentityError(RuntimeError):
    """On ECS the task metadata gave no valid task id: the agent must not invent one (a
    random id names a queue no task owns, which the reaper would rightly remove)."""


@dataclass(frozen=True)
class TaskIdentity:
    task_id: str
    task_arn: str | None = None  # None when not running on ECS (local runs, tests)
    cluster: str | None = None  # cluster ARN from the task metadata

    @property
    def on_ecs(self) -> bool:
        return self.task_arn is not None and self.cluster is not None


def task_identity(
    metadata_uri: str, attempts: int = METADATA_ATTEMPTS, delay: float = 0.2
) -> TaskIdentity:
    """The ECS task id from the task metadata endpoint v4; a random id only off ECS.

    With `metadata_uri` set (ECS sets ECS_CONTAINER_METADATA_URI_V4) the endpoint is retried
    with backoff and IdentityError raised if it never gives a valid id, so that ECS restarts
    the container instead of the agent running under an id no task owns.
    """
    if not metadata_uri:
        return TaskIdentity(secrets.token_hex(contract.ECS_TASK_ID_LENGTH // 2))
    problem = "no answer"
    for attempt in range(attempts):
        if attempt:
            time.sleep(min(2.0, delay * 2 ** (attempt - 1)))
        try:
            with urllib.request.urlopen(
                metadata_uri.rstrip("/") + "/task", timeout=_METADATA_TIMEOUT_S
            ) as resp:
                doc = json.loads(resp.read(1_000_000))
        except (OSError, ValueError) as exc:
            problem = type(exc).__name__
            continue
        arn = str(doc.get("TaskARN") or "") if isinstance(doc, dict) else ""
        cluster = str(doc.get("Cluster") or "") if isinstance(doc, dict) else ""
        task_id = arn.rsplit("/", 1)[-1]
        if arn.startswith("arn:") and cluster and TASK_ID.match(task_id):
            return TaskIdentity(task_id, arn, cluster)
        problem = "no valid TaskARN/Cluster"
    log(LOG, logging.CRITICAL, "task metadata gives no task id; exiting", error=problem)
    raise IdentityError(problem)


def queue_arn_for(topic_arn: str, name: str) -> str:
    """The queue is created next to the topic: same partition, region and account."""
    _, partition, _, region, account, _ = topic_arn.split(":", 5)
    return f"arn:{partition}:sqs:{region}:{account}:{name}"


def queue_policy(queue_arn: str, topic_arn: str) -> str:
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "AllowServiceTopicOnly",
                    "Effect": "Allow",
                    "Principal": {"Service": "sns.amazonaws.com"},
                    "Action": "sqs:SendMessage",
                    "Resource": queue_arn,
                    "Condition": {"ArnEquals": {"aws:SourceArn": topic_arn}},
                }
            ],
        },
        separators=(",", ":"),
    )


def queue_attributes(settings: Settings, queue_arn: str) -> dict[str, str]:
    attrs = {
        "ReceiveMessageWaitTimeSeconds": str(settings.wait_time_seconds),
        "VisibilityTimeout": str(settings.visibility_timeout),
        "MessageRetentionPeriod": str(RETENTION_SECONDS),
        "RedrivePolicy": json.dumps(
            {
                "deadLetterTargetArn": settings.dlq_arn,
                "maxReceiveCount": settings.max_receive_count,
            },
            separators=(",", ":"),
        ),
        "Policy": queue_policy(queue_arn, settings.topic_arn),
    }
    if settings.queue_kms_key:
        attrs["KmsMasterKeyId"] = settings.queue_kms_key
        attrs["KmsDataKeyReusePeriodSeconds"] = str(KMS_REUSE_SECONDS)
    else:
        attrs["SqsManagedSseEnabled"] = "true"
    return attrs


def subscription_attributes(settings: Settings) -> dict[str, str]:
    """Raw delivery, and a redrive policy: what SNS cannot deliver (e.g. while the queue's
    policy propagates) goes to the service DLQ instead of being dropped.
    https://docs.aws.amazon.com/sns/latest/dg/sns-configure-dead-letter-queue.html"""
    return {
        "RawMessageDelivery": "true",
        "RedrivePolicy": json.dumps(
            {"deadLetterTargetArn": settings.dlq_arn}, separators=(",", ":")
        ),
    }


class OwnQueue:
    """Create + subscribe at startup; check the subscription still exists. Never deletes:
    the reaper removes queue and subscription once ECS reports the task STOPPED."""

    def __init__(self, settings: Settings, aws: Aws, identity: TaskIdentity) -> None:
        self.settings = settings
        self.aws = aws
        self.identity = identity
        self.name = settings.queue_prefix + identity.task_id
        self.arn = queue_arn_for(settings.topic_arn, self.name)
        self.url: str | None = None
        self.subscription_arn: str | None = None
        self.subscribed_at = 0.0  # time.monotonic() of the last Subscribe
        self._lock = threading.Lock()

    def _create(self) -> str:
        attrs = queue_attributes(self.settings, self.arn)
        tags = {
            contract.QUEUE_TAG_AGENT: "true",
            contract.QUEUE_TAG_TASK_ARN: self.identity.task_arn or "local",
        }
        try:
            resp = self.aws.call(
                "sqs", "create_queue", QueueName=self.name, Attributes=attrs, tags=tags
            )
            return str(resp["QueueUrl"])
        except AwsError as err:
            if err.code not in ("QueueAlreadyExists", "QueueNameExists"):
                raise
        # Same name, other attributes (settings changed between restarts).
        url = str(self.aws.call("sqs", "get_queue_url", QueueName=self.name)["QueueUrl"])
        self.aws.call("sqs", "set_queue_attributes", QueueUrl=url, Attributes=attrs)
        self.aws.call("sqs", "tag_queue", QueueUrl=url, Tags=tags)
        return url

    def setup(self) -> str:
        """Idempotent: a restarted container in the same task reuses queue and subscription."""
        with self._lock:
            if self.url is None:
                self.url = self._create()
            if self.subscription_arn is None:
                resp = self.aws.call(
                    "sns",
                    "subscribe",
                    TopicArn=self.settings.topic_arn,
                    Protocol="sqs",
                    Endpoint=self.arn,
                    Attributes=subscription_attributes(self.settings),
                    ReturnSubscriptionArn=True,
                )
                self.subscription_arn = str(resp["SubscriptionArn"])
                self.subscribed_at = time.monotonic()
            log(
                LOG,
                logging.INFO,
                "own queue subscribed to the topic",
                queue=self.name,
                subscription=self.subscription_arn,
            )
            return self.url

    def subscribed(self) -> bool:
        """Whether the topic still lists a subscription of our queue (raises AwsError).

        ListSubscriptionsByTopic, not GetSubscriptionAttributes: only the former can be scoped
        to the topic in IAM (the Service Authorization Reference lists no resource type for
        the latter), and it also finds a subscription someone else re-created for our queue.
        """
        token: str | None = None
        while True:
            params = {
                "TopicArn": self.settings.topic_arn,
                **({"NextToken": token} if token else {}),
            }
            resp = self.aws.call(
                "sns", "list_subscriptions_by_topic", retries=1, health=False, **params
            )
            for sub in resp.get("Subscriptions") or []:
                if sub.get("Endpoint") == self.arn and sub.get("Protocol") == "sqs":
                    return True
            token = resp.get("NextToken")
            if not token:
                return False

    def forget(self, queue: bool = True) -> None:
        """The subscription (and, with `queue`, the queue) vanished: setup() recreates it."""
        with self._lock:
            if queue:
                self.url = None
            self.subscription_arn = None
