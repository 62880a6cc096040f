"""The orphan-queue reaper against moto: STOPPED events, the sweep, the grace period, and
never a live task's queue or another cluster's."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from config_agent import contract
from reaper import handler as reaper_handler
from reaper.handler import Config, Reaper, stopped_task_arn

REGION = "eu-west-1"
GRACE = 600.0
AMI = "ami-12c6146b"


class World:
    """A cluster with real (moto) tasks, a topic per service, and agent queues like an agent's."""

    def __init__(self) -> None:
        self.sqs = boto3.client("sqs", region_name=REGION)
        self.sns = boto3.client("sns", region_name=REGION)
        self.ecs = boto3.client("ecs", region_name=REGION)
        self.ec2 = boto3.client("ec2", region_name=REGION)
        self.cluster = self._cluster("dev-platform-cluster")
        self.topic = self.sns.create_topic(Name="dev-web-config-events")["TopicArn"]
        self.prefix = contract.agent_queue_prefix("dev", "web")
        self.config = Config(self.cluster, (self.prefix,), (self.topic,), GRACE)

    def _cluster(self, name: str) -> str:
        arn = self.ecs.create_cluster(clusterName=name)["cluster"]["clusterArn"]
        instance = self.ec2.run_instances(ImageId=AMI, MinCount=1, MaxCount=1)["Instances"][0]
        document = json.dumps({"instanceId": instance["InstanceId"]})
        self.ecs.register_container_instance(cluster=name, instanceIdentityDocument=document)
        self.ecs.register_task_definition(
            family="web", containerDefinitions=[{"name": "app", "image": "app", "memory": 64}]
        )
        return arn

    def task(self, cluster: str | None = None) -> str:
        """A RUNNING task (moto) in `cluster` (default ours): its ARN."""
        resp = self.ecs.run_task(cluster=cluster or self.cluster, taskDefinition="web")
        return str(resp["tasks"][0]["taskArn"])

    def agent_queue(
        self, task_arn: str, prefix: str | None = None, tag_arn: str | None = None
    ) -> str:
        """What an agent creates: `<prefix><task id>`, tagged, subscribed to the topic."""
        name = (prefix or self.prefix) + task_arn.rsplit("/", 1)[-1]
        url = self.sqs.create_queue(
            QueueName=name,
            tags={
                contract.QUEUE_TAG_AGENT: "true",
                contract.QUEUE_TAG_TASK_ARN: tag_arn or task_arn,
            },
        )["QueueUrl"]
        arn = self.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])[
            "Attributes"
        ]["QueueArn"]
        self.sns.subscribe(
            TopicArn=self.topic,
            Protocol="sqs",
            Endpoint=arn,
            Attributes={"RawMessageDelivery": "true"},
        )
        return name

    def exists(self, name: str) -> bool:
        return any(
            u.endswith("/" + name)
            for u in self.sqs.list_queues(QueueNamePrefix=name).get("QueueUrls", [])
        )

    def subscribed(self) -> set[str]:
        subs = self.sns.list_subscriptions_by_topic(TopicArn=self.topic)["Subscriptions"]
        return {s["Endpoint"].rsplit(":", 1)[-1] for s in subs}

    def reaper(self, after_grace: bool = True) -> Reaper:
        """A reaper whose clock is past the grace period of every queue created so far."""
        import time

        now = time.time() + (GRACE + 5 if after_grace else 0)
        return Reaper(self.config, self.sqs, self.sns, self.ecs, now=now)


@pytest.fixture
def world(monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(name, "testing")
    for name in (
        "AWS_ENDPOINT_URL",
        "AWS_ENDPOINT_URL_SQS",
        "AWS_ENDPOINT_URL_SNS",
        "AWS_ENDPOINT_URL_ECS",
    ):
        monkeypatch.delenv(name, raising=False)
    # Real ECS task ids are 32 hex characters in a long ARN `task/<cluster>/<id>`; moto's are
    # dashed UUIDs unless told otherwise (mock_random is moto's one source of ids).
    import moto.ecs.models as ecs_models

    monkeypatch.setattr(ecs_models.mock_random, "uuid4", lambda: uuid.uuid4().hex)
    with mock_aws():
        world = World()
        world.ecs.put_account_setting(name="taskLongArnFormat", value="enabled")
        yield world


def test_sweep_removes_stopped_and_unknown_tasks_queues_but_never_a_live_one(world):
    live, stopped = world.task(), world.task()
    world.ecs.stop_task(cluster=world.cluster, task=stopped)
    unknown = f"{world.cluster.replace(':cluster/', ':task/')}/{uuid.uuid4().hex}"
    names = {
        k: world.agent_queue(arn)
        for k, arn in (("live", live), ("stopped", stopped), ("unknown", unknown))
    }
    report = world.reaper().sweep()
    assert sorted(report.removed) == sorted([names["stopped"], names["unknown"]])
    assert world.exists(names["live"]) and names["live"] in world.subscribed()
    for key in ("stopped", "unknown"):
        assert not world.exists(names[key]) and names[key] not in world.subscribed()


def test_sweep_keeps_queues_within_the_grace_period(world):
    # ECS reads are eventually consistent: one MISSING answer for a young queue is no proof.
    unknown = f"{world.cluster.replace(':cluster/', ':task/')}/{uuid.uuid4().hex}"
    name = world.agent_queue(unknown)
    report = world.reaper(after_grace=False).sweep()
    assert report.removed == [] and report.kept == [name] and world.exists(name)


def test_sweep_touches_only_this_clusters_tagged_agent_queues(world):
    other = world._cluster("other-cluster")
    foreign = world.task(other)
    world.ecs.stop_task(cluster=other, task=foreign)
    stopped = world.task()
    world.ecs.stop_task(cluster=world.cluster, task=stopped)
    keep = [
        world.agent_queue(foreign),  # another cluster's (stopped) task
        world.agent_queue(stopped, prefix="dev-api_cfg_"),  # a prefix the reaper does not own
        world.agent_queue(stopped, tag_arn="local"),  # tag names no task of this cluster
    ]
    untagged = world.prefix + uuid.uuid4().hex  # no agent tags at all
    world.sqs.create_queue(QueueName=untagged)
    report = world.reaper().sweep()
    assert report.removed == []
    assert all(world.exists(n) for n in [*keep, untagged])


def test_sweep_finds_an_unsubscribed_orphan_by_name_and_tag(world):
    """Item 4: a queue whose subscription is already gone is still found (ListQueues by
    prefix), not only queues the topic lists."""
    stopped = world.task()
    world.ecs.stop_task(cluster=world.cluster, task=stopped)
    name = world.agent_queue(stopped)
    for sub in world.sns.list_subscriptions_by_topic(TopicArn=world.topic)["Subscriptions"]:
        world.sns.unsubscribe(SubscriptionArn=sub["SubscriptionArn"])
    assert world.reaper().sweep().removed == [name] and not world.exists(name)


def test_sweep_removes_a_subscription_whose_queue_is_gone(world):
    stopped = world.task()
    name = world.agent_queue(stopped)
    world.sqs.delete_queue(QueueUrl=world.sqs.get_queue_url(QueueName=name)["QueueUrl"])
    report = world.reaper().sweep()
    assert report.unsubscribed == [name] and name not in world.subscribed()


def test_stopped_event_removes_that_tasks_queue_at_once(world):
    live, stopped = world.task(), world.task()
    names = world.agent_queue(live), world.agent_queue(stopped)
    world.ecs.stop_task(cluster=world.cluster, task=stopped)
    event = {
        "source": "aws.ecs",
        "detail-type": "ECS Task State Change",
        "detail": {"clusterArn": world.cluster, "taskArn": stopped, "lastStatus": "STOPPED"},
    }
    # No grace for the event: ECS itself says the task stopped.
    report = world.reaper(after_grace=False).stopped(stopped_task_arn(event, world.cluster))
    assert report.removed == [names[1]] and report.unsubscribed == [names[1]]
    assert world.exists(names[0]) and names[0] in world.subscribed()
    assert not world.exists(names[1])


def test_events_of_other_clusters_or_states_are_not_stop_events(world):
    base: dict[str, Any] = {
        "source": "aws.ecs",
        "detail-type": "ECS Task State Change",
        "detail": {"clusterArn": world.cluster, "taskArn": "t", "lastStatus": "STOPPED"},
    }
    assert stopped_task_arn(base, world.cluster) == "t"
    assert (
        stopped_task_arn(
            {**base, "detail": {**base["detail"], "lastStatus": "RUNNING"}}, world.cluster
        )
        is None
    )
    assert stopped_task_arn(base, world.cluster + "x") is None
    assert stopped_task_arn({"source": "aws.events"}, world.cluster) is None
    other = world.task(world._cluster("other"))
    name = world.agent_queue(other)
    assert world.reaper().stopped(other).removed == [] and world.exists(name)


def test_handler_reads_its_settings_from_the_contract_variables(world, monkeypatch):
    stopped = world.task()
    name = world.agent_queue(stopped)
    world.ecs.stop_task(cluster=world.cluster, task=stopped)
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv(contract.REAPER_CLUSTER_ARN, world.cluster)
    monkeypatch.setenv(contract.REAPER_QUEUE_PREFIXES, f"dev-api_cfg_,{world.prefix}")
    monkeypatch.setenv(contract.REAPER_TOPIC_ARNS, world.topic)
    monkeypatch.setenv(contract.REAPER_GRACE_SECONDS, "0")
    result = reaper_handler.handler({"source": "aws.events", "detail-type": "Scheduled Event"})
    assert result["trigger"] == "sweep" and result["removed"] == [name]


class _DeleteQueueFails:
    """The real (moto) SQS client, except that DeleteQueue is throttled."""

    def __init__(self, sqs: Any) -> None:
        self._sqs = sqs

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sqs, name)

    def delete_queue(self, **_: Any) -> None:
        from botocore.exceptions import ClientError

        raise ClientError({"Error": {"Code": "RequestThrottled"}}, "DeleteQueue")


def test_a_failed_delete_keeps_the_subscription_and_reports_the_failure(world):
    """Queue first, then subscription: a throttled DeleteQueue must not leave a queue without
    its subscription (the state that made agents deaf), and Lambda retries the invocation."""
    stopped = world.task()
    world.ecs.stop_task(cluster=world.cluster, task=stopped)
    name = world.agent_queue(stopped)
    reaper = Reaper(world.config, _DeleteQueueFails(world.sqs), world.sns, world.ecs)
    report = reaper.stopped(stopped)
    assert report.removed == [] and report.failed == [f"{name}:RequestThrottled"]
    assert world.exists(name) and name in world.subscribed()
