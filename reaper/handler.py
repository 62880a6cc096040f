"""Lambda entry point `reaper.handler.handler`: reap on a STOPPED event, else sweep.

Never a live task's queue: a queue is deleted only when its `ecs-task-arn` tag names a task of
this function's cluster whose id is the queue's suffix, and ECS reports that task STOPPED, or
MISSING while the queue is older than the grace period (ECS reads are eventually consistent; a
task that has run that long is known to ECS). The queue is deleted before its subscription, so
a failure in between leaves a subscription without a queue (delivery fails, nothing is
silenced), which the next sweep removes.
"""

from __future__ import annotations

import json
import logging
import os
import re
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from config_agent import contract

LOG = logging.getLogger("reaper")
LOG.setLevel(logging.INFO)
TASK_ID = re.compile(rf"^[0-9a-f]{{{contract.ECS_TASK_ID_LENGTH}}}$")
DESCRIBE_BATCH = 100  # ecs:DescribeTasks takes at most 100 tasks per call
MISSING_ERRORS = ("AWS.SimpleQueueService.NonExistentQueue", "QueueDoesNotExist")


@dataclass(frozen=True)
class Config:
    """What the stack tells the function (variables named in config_agent.contract)."""

    cluster_arn: str
    prefixes: tuple[str, ...]
    topic_arns: tuple[str, ...]
    grace_seconds: float

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Config:
        def items(name: str) -> tuple[str, ...]:
            return tuple(p for p in env.get(name, "").split(",") if p)

        return cls(
            cluster_arn=env[contract.REAPER_CLUSTER_ARN],
            prefixes=items(contract.REAPER_QUEUE_PREFIXES),
            topic_arns=items(contract.REAPER_TOPIC_ARNS),
            grace_seconds=float(env.get(contract.REAPER_GRACE_SECONDS, "600")),
        )

    def task_arn(self, task_id: str) -> str:
        """`arn:...:task/<cluster name>/<id>`: the only ARN a queue's tag may name."""
        return f"{self.cluster_arn.replace(':cluster/', ':task/', 1)}/{task_id}"


@dataclass(frozen=True)
class Queue:
    name: str
    url: str
    arn: str
    task_id: str


@dataclass
class Report:
    removed: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)
    unsubscribed: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)


def _code(err: Exception) -> str:
    return str(getattr(err, "response", {}).get("Error", {}).get("Code", type(err).__name__))


class Reaper:
    """Decisions and calls, given boto3 clients for sqs, sns and ecs."""

    def __init__(
        self, config: Config, sqs: Any, sns: Any, ecs: Any, now: float | None = None
    ) -> None:
        self.config, self.sqs, self.sns, self.ecs = config, sqs, sns, ecs
        self.now = time.time() if now is None else now
        self.report = Report()

    # --- which queues -----------------------------------------------------------------------
    def _own(self, name: str) -> tuple[str, str] | None:
        """(prefix, task id) when `name` is an agent queue of one of our services."""
        for prefix in self.config.prefixes:
            task_id = name[len(prefix) :]
            if name.startswith(prefix) and TASK_ID.match(task_id):
                return prefix, task_id
        return None

    def _listed(self) -> Iterator[str]:
        for prefix in self.config.prefixes:
            for page in self.sqs.get_paginator("list_queues").paginate(QueueNamePrefix=prefix):
                yield from page.get("QueueUrls") or []

    def _candidate(self, url: str) -> Queue | None:
        """The queue, if it is an agent queue of a task of this cluster, past the grace."""
        name = url.rstrip("/").rsplit("/", 1)[-1]
        own = self._own(name)
        if own is None:
            return None
        tags = self.sqs.list_queue_tags(QueueUrl=url).get("Tags") or {}
        if tags.get(contract.QUEUE_TAG_AGENT) != "true" or tags.get(
            contract.QUEUE_TAG_TASK_ARN
        ) != self.config.task_arn(own[1]):
            return None  # another cluster's task, a local run, or not an agent queue at all
        attrs = self.sqs.get_queue_attributes(
            QueueUrl=url, AttributeNames=["CreatedTimestamp", "QueueArn"]
        )["Attributes"]
        if self.now - float(attrs["CreatedTimestamp"]) < self.config.grace_seconds:
            self.report.kept.append(name)
            return None
        return Queue(name, url, attrs["QueueArn"], own[1])

    def gone(self, task_ids: list[str]) -> set[str]:
        """Ids ECS reports STOPPED or does not know (MISSING, or absent from the answer)."""
        gone: set[str] = set()
        for i in range(0, len(task_ids), DESCRIBE_BATCH):
            batch = task_ids[i : i + DESCRIBE_BATCH]
            resp = self.ecs.describe_tasks(
                cluster=self.config.cluster_arn, tasks=[self.config.task_arn(t) for t in batch]
            )
            alive = {
                str(t.get("taskArn", "")).rsplit("/", 1)[-1]
                for t in resp.get("tasks") or []
                if t.get("lastStatus") != "STOPPED"
            }
            alive |= {
                str(f.get("arn", "")).rsplit("/", 1)[-1]
                for f in resp.get("failures") or []
                if f.get("reason") != "MISSING"
            }
            gone |= set(batch) - alive
        return gone

    # --- removing ----------------------------------------------------------------------------
    def _subscriptions(self) -> Iterator[tuple[str, str]]:
        """(subscription ARN, endpoint queue name) of SQS subscriptions on our topics."""
        for topic in self.config.topic_arns:
            paginator = self.sns.get_paginator("list_subscriptions_by_topic")
            for page in paginator.paginate(TopicArn=topic):
                for sub in page.get("Subscriptions") or []:
                    arn = str(sub.get("SubscriptionArn") or "")
                    if sub.get("Protocol") == "sqs" and arn.startswith("arn:"):
                        yield arn, str(sub.get("Endpoint") or "").rsplit(":", 1)[-1]

    def _unsubscribe(self, names: set[str]) -> None:
        for arn, name in list(self._subscriptions()):
            if name in names and self._own(name) is not None:
                try:
                    self.sns.unsubscribe(SubscriptionArn=arn)
                    self.report.unsubscribed.append(name)
                except Exception as err:  # noqa: BLE001 - one failure must not stop the rest
                    self.report.failed.append(f"{name}:{_code(err)}")

    def remove(self, queues: list[Queue]) -> None:
        """Delete each queue first, then its subscriptions."""
        deleted: set[str] = set()
        for queue in queues:
            try:
                self.sqs.delete_queue(QueueUrl=queue.url)
            except Exception as err:  # noqa: BLE001
                if _code(err) not in MISSING_ERRORS:
                    self.report.failed.append(f"{queue.name}:{_code(err)}")
                    continue
            deleted.add(queue.name)
            self.report.removed.append(queue.name)
        if deleted:
            self._unsubscribe(deleted)

    def _exists(self, name: str) -> bool:
        try:
            self.sqs.get_queue_url(QueueName=name)
            return True
        except Exception as err:
            if _code(err) in MISSING_ERRORS:
                return False
            raise

    # --- entry points ----------------------------------------------------------------------
    def sweep(self) -> Report:
        """Every agent queue of a gone task of this cluster, and subscriptions left dangling."""
        candidates = [q for q in map(self._candidate, self._listed()) if q is not None]
        gone = self.gone(sorted({q.task_id for q in candidates}))
        self.remove([q for q in candidates if q.task_id in gone])
        dangling = {
            name
            for _, name in self._subscriptions()
            if self._own(name) is not None and not self._exists(name)
        }
        if dangling:
            self._unsubscribe(dangling)
        return self.report

    def stopped(self, task_arn: str) -> Report:
        """ECS reported `task_arn` STOPPED: remove its queues (any service of ours)."""
        task_id = task_arn.rsplit("/", 1)[-1]
        if task_arn != self.config.task_arn(task_id) or not TASK_ID.match(task_id):
            return self.report  # another cluster's task (the rule filters; this double-checks)
        queues = []
        for prefix in self.config.prefixes:
            name = prefix + task_id
            try:
                url = self.sqs.get_queue_url(QueueName=name)["QueueUrl"]
            except Exception as err:
                if _code(err) in MISSING_ERRORS:
                    continue
                raise
            tags = self.sqs.list_queue_tags(QueueUrl=url).get("Tags") or {}
            if tags.get(contract.QUEUE_TAG_TASK_ARN) == task_arn:
                queues.append(Queue(name, url, "", task_id))
        self.remove(queues)
        return self.report


def stopped_task_arn(event: Mapping[str, Any], cluster_arn: str) -> str | None:
    """The task ARN of an "ECS Task State Change" STOPPED event of `cluster_arn`, else None."""
    detail = event.get("detail") or {}
    if (
        event.get("source") == "aws.ecs"
        and event.get("detail-type") == "ECS Task State Change"
        and detail.get("lastStatus") == "STOPPED"
        and detail.get("clusterArn") == cluster_arn
    ):
        return str(detail.get("taskArn") or "") or None
    return None


def handler(event: Mapping[str, Any], context: object = None) -> dict[str, Any]:
    """STOPPED event: that task's queues; anything else (the schedule): a full sweep."""
    import boto3  # in the Lambda runtime; imported here so the module loads without it

    config = Config.from_env(os.environ)
    reaper = Reaper(config, boto3.client("sqs"), boto3.client("sns"), boto3.client("ecs"))
    task_arn = stopped_task_arn(event, config.cluster_arn)
    report = reaper.stopped(task_arn) if task_arn else reaper.sweep()
    result = {"trigger": "stopped" if task_arn else "sweep", **report.__dict__}
    LOG.info(json.dumps(result, sort_keys=True))
    if report.failed:
        # Raise so that Lambda retries and, after the retries, sends the event to the DLQ.
        raise RuntimeError(f"{len(report.failed)} removals failed: {report.failed[:5]}")
    return result
