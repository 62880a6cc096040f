"""Fan-out mode: this agent's own SQS queue, subscribed to the service's SNS topic.

SQS is point-to-point, so one queue shared by N tasks wakes only one of them per event. In
fan-out mode the config pipeline publishes to an SNS topic per service and every agent
creates its own queue `<prefix><task id>`, subscribes it (raw delivery: the SQS body is the
EventBridge event, exactly as with a shared queue), consumes it as usual and removes both on
shutdown. A task that dies without SIGTERM leaves a subscribed queue behind; `Janitor` removes
such orphans when a later agent of the service starts.
"""

from __future__ import annotations

import json
import logging
import os
import re
import threading
import time
import urllib.request
from dataclasses import dataclass
from typing import Any, Iterator

from .aws import Aws, AwsError
from .logs import log
from .settings import Settings

LOG = logging.getLogger("config_agent.fanout")
_TASK_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_METADATA_TIMEOUT_S = 1.0
RETENTION_SECONDS = 3600       # events older than a restart are useless: startup fetches all
KMS_REUSE_SECONDS = 300
DESCRIBE_BATCH = 100           # ecs:DescribeTasks accepts at most 100 tasks per call
JANITOR_MAX_QUEUES = 1000      # bound the work of one janitor run


@dataclass(frozen=True)
class TaskIdentity:
    task_id: str
    task_arn: str | None = None   # None when not running on ECS (local runs, tests)
    cluster: str | None = None    # cluster ARN from the task metadata

    @property
    def on_ecs(self) -> bool:
        return self.task_arn is not None and self.cluster is not None


def task_identity(metadata_uri: str, attempts: int = 3) -> TaskIdentity:
    """The ECS task id from the task metadata endpoint v4, or a random local id."""
    if metadata_uri:
        for attempt in range(attempts):
            try:
                with urllib.request.urlopen(  # noqa: S310 - link-local ECS endpoint
                        metadata_uri.rstrip("/") + "/task", timeout=_METADATA_TIMEOUT_S) as resp:
                    doc = json.loads(resp.read(1_000_000))
                arn, cluster = str(doc.get("TaskARN") or ""), str(doc.get("Cluster") or "")
                task_id = arn.rsplit("/", 1)[-1]
                if arn.startswith("arn:") and cluster and _TASK_ID.match(task_id):
                    return TaskIdentity(task_id, arn, cluster)
                log(LOG, logging.WARNING, "task metadata lacks TaskARN/Cluster; running as local")
                break
            except (OSError, ValueError) as exc:
                if attempt + 1 == attempts:
                    log(LOG, logging.WARNING, "task metadata unavailable; running as local",
                        error=type(exc).__name__)
                else:
                    time.sleep(0.2)
    return TaskIdentity(os.urandom(6).hex())


def queue_arn_for(topic_arn: str, name: str) -> str:
    """The queue is created next to the topic: same partition, region and account."""
    _, partition, _, region, account, _ = topic_arn.split(":", 5)
    return f"arn:{partition}:sqs:{region}:{account}:{name}"


def queue_policy(queue_arn: str, topic_arn: str) -> str:
    return json.dumps({
        "Version": "2012-10-17",
        "Statement": [{
            "Sid": "AllowServiceTopicOnly",
            "Effect": "Allow",
            "Principal": {"Service": "sns.amazonaws.com"},
            "Action": "sqs:SendMessage",
            "Resource": queue_arn,
            "Condition": {"ArnEquals": {"aws:SourceArn": topic_arn}},
        }],
    }, separators=(",", ":"))


def queue_attributes(settings: Settings, queue_arn: str) -> dict[str, str]:
    attrs = {
        "ReceiveMessageWaitTimeSeconds": str(settings.wait_time_seconds),
        "VisibilityTimeout": str(settings.visibility_timeout),
        "MessageRetentionPeriod": str(RETENTION_SECONDS),
        "RedrivePolicy": json.dumps({"deadLetterTargetArn": settings.dlq_arn,
                                     "maxReceiveCount": settings.max_receive_count},
                                    separators=(",", ":")),
        "Policy": queue_policy(queue_arn, settings.topic_arn),
    }
    if settings.queue_kms_key:
        attrs["KmsMasterKeyId"] = settings.queue_kms_key
        attrs["KmsDataKeyReusePeriodSeconds"] = str(KMS_REUSE_SECONDS)
    else:
        attrs["SqsManagedSseEnabled"] = "true"
    return attrs


class OwnQueue:
    """Create + subscribe at startup, unsubscribe + delete at shutdown."""

    def __init__(self, settings: Settings, aws: Aws, identity: TaskIdentity) -> None:
        self.settings = settings
        self.aws = aws
        self.identity = identity
        self.name = settings.queue_prefix + identity.task_id
        self.arn = queue_arn_for(settings.topic_arn, self.name)
        self.url: str | None = None
        self.subscription_arn: str | None = None
        self._lock = threading.Lock()
        self._closed = False

    def setup(self) -> str:
        """Idempotent: a restarted container in the same task reuses queue and subscription."""
        with self._lock:
            if self._closed:
                raise AwsError("CreateQueue", "ShuttingDown", retryable=False)
            attrs = queue_attributes(self.settings, self.arn)
            tags = {"config-agent": "true", "ecs-task-arn": self.identity.task_arn or "local"}
            if self.url is None:
                try:
                    resp = self.aws.call("sqs", "create_queue", QueueName=self.name,
                                         Attributes=attrs, tags=tags)
                    self.url = str(resp["QueueUrl"])
                except AwsError as err:
                    if err.code not in ("QueueAlreadyExists", "QueueNameExists"):
                        raise
                    # Same name, other attributes (settings changed between restarts).
                    url = str(self.aws.call("sqs", "get_queue_url",
                                            QueueName=self.name)["QueueUrl"])
                    self.aws.call("sqs", "set_queue_attributes", QueueUrl=url, Attributes=attrs)
                    self.aws.call("sqs", "tag_queue", QueueUrl=url, Tags=tags)
                    self.url = url
            if self.subscription_arn is None:
                resp = self.aws.call(
                    "sns", "subscribe", TopicArn=self.settings.topic_arn, Protocol="sqs",
                    Endpoint=self.arn, Attributes={"RawMessageDelivery": "true"},
                    ReturnSubscriptionArn=True)
                self.subscription_arn = str(resp["SubscriptionArn"])
            log(LOG, logging.INFO, "own queue subscribed to the topic", queue=self.name,
                subscription=self.subscription_arn)
            return self.url

    def forget(self) -> None:
        """The queue vanished (deleted by someone else): the next setup() recreates it."""
        with self._lock:
            self.url = None
            self.subscription_arn = None

    def cleanup(self) -> None:
        """Unsubscribe first (SNS stops delivering), then delete the queue. Never raises."""
        with self._lock:
            self._closed = True
            if self.subscription_arn:
                try:
                    self.aws.call("sns", "unsubscribe", retries=1,
                                  SubscriptionArn=self.subscription_arn)
                    self.subscription_arn = None
                except AwsError as err:
                    log(LOG, logging.WARNING, "unsubscribing failed", code=err.code)
            if self.url:
                try:
                    self.aws.call("sqs", "delete_queue", retries=1, QueueUrl=self.url)
                    self.url = None
                except AwsError as err:
                    log(LOG, logging.WARNING, "deleting own queue failed", code=err.code)
            if self.subscription_arn is None and self.url is None:
                log(LOG, logging.INFO, "own queue unsubscribed and deleted", queue=self.name)


class Janitor:
    """Remove queues (and their subscriptions) left behind by tasks that no longer run.

    Best effort and bounded: one pass at startup, in the background, only on ECS (the cluster
    is needed to ask ECS whether a task still exists). A task reported MISSING or STOPPED
    cannot consume its queue any more; RUNNING/PENDING/... tasks are left alone.
    """

    def __init__(self, settings: Settings, aws: Aws, identity: TaskIdentity,
                 stop: threading.Event) -> None:
        self.settings = settings
        self.aws = aws
        self.identity = identity
        self.stop = stop
        self.own_name = settings.queue_prefix + identity.task_id
        self.removed: list[str] = []  # queue names, for logs and tests

    def _call(self, service: str, operation: str, **params: Any) -> dict[str, Any]:
        return self.aws.call(service, operation, retries=2, health=False, **params)

    def _candidates(self) -> Iterator[tuple[str, str, str]]:
        """(subscription ARN, queue name, task id) of other agents' queues on our topic."""
        token: str | None = None
        prefix = self.settings.queue_prefix
        seen = 0
        while not self.stop.is_set():
            params: dict[str, Any] = {"TopicArn": self.settings.topic_arn}
            if token:
                params["NextToken"] = token
            resp = self._call("sns", "list_subscriptions_by_topic", **params)
            for sub in resp.get("Subscriptions") or []:
                endpoint = str(sub.get("Endpoint") or "")
                if sub.get("Protocol") != "sqs" or not endpoint.startswith("arn:"):
                    continue
                name = endpoint.rsplit(":", 1)[-1]
                task_id = name[len(prefix):]
                if (not name.startswith(prefix) or name == self.own_name
                        or not _TASK_ID.match(task_id)):
                    continue
                seen += 1
                if seen > JANITOR_MAX_QUEUES:
                    return
                yield str(sub.get("SubscriptionArn") or ""), name, task_id
            token = resp.get("NextToken")
            if not token:
                return

    def gone_tasks(self, task_ids: list[str]) -> set[str]:
        """Task ids that ECS reports MISSING or STOPPED.

        ECS answers every requested task either in `tasks` or in `failures`; a task in
        neither (moto does that for unknown ids) is treated as MISSING. A task is kept when
        ECS lists it with any other status or reports another failure reason for it.
        """
        gone: set[str] = set()
        for i in range(0, len(task_ids), DESCRIBE_BATCH):
            batch = task_ids[i:i + DESCRIBE_BATCH]
            resp = self._call("ecs", "describe_tasks", cluster=self.identity.cluster,
                              tasks=batch)
            alive: set[str] = set()
            for failure in resp.get("failures") or []:
                if failure.get("reason") != "MISSING":
                    alive.add(str(failure.get("arn") or "").rsplit("/", 1)[-1])
            for task in resp.get("tasks") or []:
                if task.get("lastStatus") != "STOPPED":
                    alive.add(str(task.get("taskArn") or "").rsplit("/", 1)[-1])
            gone.update(set(batch) - alive)
        return gone

    def run(self) -> None:
        if not self.identity.on_ecs:
            return
        try:
            candidates = list(self._candidates())
            if not candidates:
                return
            gone = self.gone_tasks(sorted({task_id for _, _, task_id in candidates}))
            for sub_arn, name, task_id in candidates:
                if self.stop.is_set():
                    return
                if task_id in gone:
                    self._remove(sub_arn, name, task_id)
            log(LOG, logging.INFO, "orphan queue check done", checked=len(candidates),
                removed=len(self.removed))
        except AwsError as err:
            log(LOG, logging.WARNING, "orphan queue check failed", code=err.code,
                operation=err.operation)
        except Exception as exc:  # noqa: BLE001 - housekeeping must never hurt the agent
            log(LOG, logging.WARNING, "orphan queue check failed", error=type(exc).__name__)

    def _remove(self, sub_arn: str, name: str, task_id: str) -> None:
        try:
            if sub_arn.startswith("arn:"):  # "PendingConfirmation" has no ARN yet
                self._call("sns", "unsubscribe", SubscriptionArn=sub_arn)
            try:
                url = self._call("sqs", "get_queue_url", QueueName=name)["QueueUrl"]
                self._call("sqs", "delete_queue", QueueUrl=url)
            except AwsError as err:
                if not err.missing:
                    raise
            self.removed.append(name)
            log(LOG, logging.INFO, "removed orphaned queue of a stopped task", queue=name,
                task_id=task_id)
        except AwsError as err:
            log(LOG, logging.WARNING, "removing orphaned queue failed", queue=name,
                code=err.code)
