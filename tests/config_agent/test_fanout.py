"""Fan-out mode: every agent has its own queue on the service's SNS topic (moto on loopback)."""

from __future__ import annotations

import json
import threading
import uuid
from http.server import BaseHTTPRequestHandler
from typing import Any, Iterator

import pytest
from botocore.exceptions import ClientError

from config_agent.aws import AwsError
from config_agent.fanout import (Janitor, TaskIdentity, queue_arn_for, queue_attributes,
                                 task_identity)
from config_agent.settings import Settings, SettingsError
from devtools import events as ev
from devtools.emulators import LoopbackHTTPServer
from devtools.wait import wait_for
from tests.config_agent.conftest import secret_json

TOPIC = "arn:aws:sns:eu-west-1:111111111111:dev-web-config"
DLQ = "arn:aws:sqs:eu-west-1:111111111111:dev-web-cfg-dlq"
BASE = {"CONFIG_AGENT_TOPIC_ARN": TOPIC, "CONFIG_AGENT_QUEUE_PREFIX": "dev-web-cfg-",
        "CONFIG_AGENT_DLQ_ARN": DLQ, "CONFIG_AGENT_TOKEN": "tok-123",
        "CONFIG_AGENT_SECRET_IDS": "a"}


def _subscriptions(aws, topic: str) -> dict[str, dict[str, Any]]:
    subs = aws.sns.list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"]
    return {s["Endpoint"].rsplit(":", 1)[-1]: s for s in subs}


def _queue_exists(aws, name: str) -> bool:
    try:
        aws.sqs.get_queue_url(QueueName=name)
        return True
    except ClientError:
        return False


# --- settings ---------------------------------------------------------------------------------

def test_fanout_settings():
    s = Settings.from_env(BASE)
    assert s.fanout and s.queue_url == "" and s.max_receive_count == 5
    assert s.topic_region == "eu-west-1" and s.queue_kms_key == ""
    s = Settings.from_env({**BASE, "CONFIG_AGENT_MAX_RECEIVE_COUNT": "3",
                           "CONFIG_AGENT_QUEUE_KMS_KEY": "alias/cfg",
                           "ECS_CONTAINER_METADATA_URI_V4": "http://169.254.170.2/v4/x"})
    assert (s.max_receive_count, s.queue_kms_key) == (3, "alias/cfg")
    assert s.ecs_metadata_uri == "http://169.254.170.2/v4/x"
    assert "a" * 48 == Settings.from_env(
        {**BASE, "CONFIG_AGENT_QUEUE_PREFIX": "a" * 48}).queue_prefix


@pytest.mark.parametrize("extra, needle", [
    ({"CONFIG_AGENT_QUEUE_URL": "https://sqs.eu-west-1.amazonaws.com/1/q"},
     "only one of CONFIG_AGENT_TOPIC_ARN and CONFIG_AGENT_QUEUE_URL"),
    ({"CONFIG_AGENT_TOPIC_ARN": ""},
     "CONFIG_AGENT_TOPIC_ARN or CONFIG_AGENT_QUEUE_URL is required"),
    ({"CONFIG_AGENT_TOPIC_ARN": "arn:aws:sqs:eu-west-1:111111111111:x"}, "TOPIC_ARN"),
    ({"CONFIG_AGENT_TOPIC_ARN": TOPIC + ".fifo"}, "non-FIFO"),
    ({"CONFIG_AGENT_QUEUE_PREFIX": ""}, "QUEUE_PREFIX is required"),
    ({"CONFIG_AGENT_QUEUE_PREFIX": "dev.web"}, "QUEUE_PREFIX must be"),
    ({"CONFIG_AGENT_QUEUE_PREFIX": "a" * 49}, "QUEUE_PREFIX must be 1-48"),
    ({"CONFIG_AGENT_DLQ_ARN": ""}, "DLQ_ARN is required"),
    ({"CONFIG_AGENT_DLQ_ARN": "https://sqs/x"}, "DLQ_ARN must be an SQS queue ARN"),
    ({"CONFIG_AGENT_DLQ_ARN": DLQ.replace("eu-west-1", "us-east-1")}, "same partition, region"),
    ({"CONFIG_AGENT_MAX_RECEIVE_COUNT": "0"}, "MAX_RECEIVE_COUNT"),
    ({"CONFIG_AGENT_QUEUE_KMS_KEY": "bad key"}, "QUEUE_KMS_KEY"),
])
def test_fanout_settings_errors_name_the_variable(extra, needle):
    with pytest.raises(SettingsError) as info:
        Settings.from_env({**BASE, **extra})
    assert needle in str(info.value)


def test_queue_url_mode_rejects_fanout_only_variables():
    env = {k: v for k, v in BASE.items() if k != "CONFIG_AGENT_TOPIC_ARN"}
    env["CONFIG_AGENT_QUEUE_URL"] = "https://sqs.eu-west-1.amazonaws.com/111111111111/q"
    with pytest.raises(SettingsError, match="QUEUE_PREFIX is only used with"):
        Settings.from_env(env)


def test_queue_attributes_sse_and_policy():
    s = Settings.from_env({**BASE, "CONFIG_AGENT_WAIT_TIME_SECONDS": "15"})
    arn = queue_arn_for(TOPIC, "dev-web-cfg-abc")
    assert arn == "arn:aws:sqs:eu-west-1:111111111111:dev-web-cfg-abc"
    attrs = queue_attributes(s, arn)
    assert attrs["SqsManagedSseEnabled"] == "true" and "KmsMasterKeyId" not in attrs
    assert (attrs["ReceiveMessageWaitTimeSeconds"], attrs["VisibilityTimeout"],
            attrs["MessageRetentionPeriod"]) == ("15", "30", "3600")
    assert json.loads(attrs["RedrivePolicy"]) == {"deadLetterTargetArn": DLQ,
                                                  "maxReceiveCount": 5}
    (stmt,) = json.loads(attrs["Policy"])["Statement"]
    assert stmt["Principal"] == {"Service": "sns.amazonaws.com"}
    assert stmt["Action"] == "sqs:SendMessage" and stmt["Resource"] == arn
    assert stmt["Condition"] == {"ArnEquals": {"aws:SourceArn": TOPIC}}
    kms = queue_attributes(Settings.from_env({**BASE, "CONFIG_AGENT_QUEUE_KMS_KEY": "k-1"}), arn)
    assert (kms["KmsMasterKeyId"], kms["KmsDataKeyReusePeriodSeconds"]) == ("k-1", "300")
    assert "SqsManagedSseEnabled" not in kms


# --- task identity ----------------------------------------------------------------------------

class _Metadata:
    """A fake ECS task metadata endpoint v4 on loopback."""

    def __init__(self, task_arn: str, cluster: str) -> None:
        doc = json.dumps({"TaskARN": task_arn, "Cluster": cluster}).encode()

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                body, status = (doc, 200) if self.path.endswith("/task") else (b"{}", 404)
                self.send_response(status)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = LoopbackHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.uri = f"http://127.0.0.1:{self.server.server_address[1]}/v4/container-1"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def metadata() -> Iterator[Any]:
    servers: list[_Metadata] = []

    def _make(task_arn: str, cluster: str) -> _Metadata:
        servers.append(_Metadata(task_arn, cluster))
        return servers[-1]

    yield _make
    for server in servers:
        server.close()


def test_task_identity_from_metadata_or_local(metadata):
    arn = "arn:aws:ecs:eu-west-1:111111111111:task/dev/0123456789abcdef0123456789abcdef"
    server = metadata(arn, "arn:aws:ecs:eu-west-1:111111111111:cluster/dev")
    ident = task_identity(server.uri)
    assert ident == TaskIdentity("0123456789abcdef0123456789abcdef", arn,
                                 "arn:aws:ecs:eu-west-1:111111111111:cluster/dev")
    assert ident.on_ecs
    local = task_identity("")
    assert len(local.task_id) == 12 and int(local.task_id, 16) >= 0 and not local.on_ecs
    assert task_identity("http://127.0.0.1:1/v4/x", attempts=1).task_arn is None


# --- end to end -------------------------------------------------------------------------------

def test_one_event_on_the_topic_refreshes_every_agent(aws, make_agent):
    topic = aws.topic()
    sec = aws.secret("fan-before")
    prefix = f"cfg-{uuid.uuid4().hex[:6]}-"
    agents = [make_agent(topic=topic, prefix=prefix, CONFIG_AGENT_SECRET_IDS=sec["Name"])
              for _ in range(2)]
    names = [a.own_queue.name for a in agents]
    assert names[0] != names[1] and all(n.startswith(prefix) for n in names)
    subs = _subscriptions(aws, topic.arn)
    assert set(subs) == set(names)
    for agent in agents:
        attrs = aws.sns.get_subscription_attributes(
            SubscriptionArn=agent.own_queue.subscription_arn)["Attributes"]
        assert attrs["RawMessageDelivery"] == "true" and attrs["Protocol"] == "sqs"
        url = agent.worker.queue_url
        qa = aws.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
        assert qa["QueueArn"] == agent.own_queue.arn
        assert json.loads(qa["RedrivePolicy"]) == {"deadLetterTargetArn": topic.dlq_arn,
                                                   "maxReceiveCount": 5}
        assert qa["SqsManagedSseEnabled"] == "true" and qa["MessageRetentionPeriod"] == "3600"
        policy = json.loads(qa["Policy"])["Statement"][0]
        assert policy["Condition"]["ArnEquals"]["aws:SourceArn"] == topic.arn
        tags = aws.sqs.list_queue_tags(QueueUrl=url)["Tags"]
        assert tags == {"config-agent": "true", "ecs-task-arn": "local"}

    aws.sm.put_secret_value(SecretId=sec["Name"], SecretString="fan-after")
    # EventBridge -> SNS: the SNS message is the event JSON; raw delivery keeps it as the body.
    aws.publish(topic.arn, ev.secret_api_call("PutSecretValue", sec["ARN"]))
    for agent in agents:
        wait_for(lambda a=agent: secret_json(a.port, sec["Name"])["SecretString"] == "fan-after",
                 what="every agent refreshed")
    for agent in agents:
        wait_for(lambda a=agent: aws.queue_counts(a.worker.queue_url) == (0, 0),
                 what="message deleted from each own queue")


def test_shutdown_unsubscribes_and_deletes_the_queue(aws, make_agent):
    topic = aws.topic()
    sec = aws.secret("fan-shutdown")
    agent = make_agent(topic=topic, CONFIG_AGENT_SECRET_IDS=sec["Name"])
    name = agent.own_queue.name
    assert name in _subscriptions(aws, topic.arn) and _queue_exists(aws, name)
    before = aws.proxy.count("Unsubscribe"), aws.proxy.count("DeleteQueue")
    agent.shutdown()
    assert name not in _subscriptions(aws, topic.arn)
    assert not _queue_exists(aws, name)
    assert (aws.proxy.count("Unsubscribe"), aws.proxy.count("DeleteQueue")) == \
        (before[0] + 1, before[1] + 1)


def test_subscribe_failure_degrades_then_recovers(aws, make_agent, log_stream):
    topic = aws.topic()
    sec = aws.secret("fan-late-1")
    # Refused until cleared: the degraded phase lasts as long as the test needs, however slow
    # the machine (a single refusal raced the retry, 0.5-1.5 s later).
    aws.proxy.fail("Subscribe", status=403, code="AuthorizationError")
    agent = make_agent(topic=topic, wait_healthy=False, CONFIG_AGENT_SECRET_IDS=sec["Name"])
    wait_for(lambda: agent.worker.started.is_set())
    assert agent.health()[1]["status"] == "degraded"
    # Serves the startup values while not subscribed, reporting degraded.
    assert secret_json(agent.port, sec["Name"])["SecretString"] == "fan-late-1"
    assert "creating or subscribing the own queue failed" in log_stream.getvalue()
    aws.proxy.clear()
    wait_for(lambda: agent.health()[1]["status"] == "ok", timeout=10, what="subscribed on retry")
    assert agent.own_queue.name in _subscriptions(aws, topic.arn)
    # Health turns ok as soon as the subscription exists; the catch-up refresh (and its log
    # line) comes after that, so wait for the line instead of asserting it at once.
    wait_for(lambda: "subscribed-late" in log_stream.getvalue(), what="catch-up refresh")


# --- orphan janitor ---------------------------------------------------------------------------

def test_janitor_removes_orphans_of_unknown_tasks_and_keeps_its_own(aws, make_agent, metadata):
    topic = aws.topic()
    sec = aws.secret("fan-janitor")
    prefix = f"cfg-{uuid.uuid4().hex[:6]}-"
    cluster = aws.ecs.create_cluster(clusterName=f"c-{uuid.uuid4().hex[:6]}")["cluster"]
    own_id, stale_id = uuid.uuid4().hex, uuid.uuid4().hex
    # A queue left behind by a task killed without SIGTERM, still subscribed.
    stale = prefix + stale_id
    aws.sqs.create_queue(QueueName=stale)
    aws.sns.subscribe(TopicArn=topic.arn, Protocol="sqs", Endpoint=queue_arn_for(topic.arn, stale),
                      Attributes={"RawMessageDelivery": "true"})
    # Other subscriptions are never touched: other prefix, other protocol.
    aws.sqs.create_queue(QueueName="unrelated-" + stale_id)
    aws.sns.subscribe(TopicArn=topic.arn, Protocol="sqs",
                      Endpoint=queue_arn_for(topic.arn, "unrelated-" + stale_id))
    task_arn = f"{cluster['clusterArn'].replace(':cluster/', ':task/')}/{own_id}"
    server = metadata(task_arn, cluster["clusterArn"])
    agent = make_agent(topic=topic, prefix=prefix, ECS_CONTAINER_METADATA_URI_V4=server.uri,
                       CONFIG_AGENT_SECRET_IDS=sec["Name"])
    assert agent.own_queue.name == prefix + own_id
    wait_for(lambda: agent.janitor.removed == [stale], what="orphan removed")
    subs = _subscriptions(aws, topic.arn)
    assert stale not in subs and not _queue_exists(aws, stale)
    assert agent.own_queue.name in subs and "unrelated-" + stale_id in subs
    assert aws.sqs.list_queue_tags(QueueUrl=agent.worker.queue_url)["Tags"][
        "ecs-task-arn"] == task_arn


class _FakeAws:
    """Canned answers for the janitor's calls (ECS states moto cannot produce cheaply)."""

    def __init__(self, subscriptions: list[dict[str, str]], statuses: dict[str, str]) -> None:
        self.subscriptions = subscriptions
        self.statuses = statuses  # task id -> lastStatus; absent -> MISSING
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def call(self, service: str, operation: str, **params: Any) -> dict[str, Any]:
        self.calls.append((operation, params))
        if operation == "list_subscriptions_by_topic":
            page = int(params.get("NextToken") or 0)
            chunk = self.subscriptions[page * 100:(page + 1) * 100]
            more = (page + 1) * 100 < len(self.subscriptions)
            return {"Subscriptions": chunk, **({"NextToken": str(page + 1)} if more else {})}
        if operation == "describe_tasks":
            assert len(params["tasks"]) <= 100 and params["cluster"] == "arn:cluster"
            arn = "arn:aws:ecs:eu-west-1:111111111111:task/dev/{}"
            return {"tasks": [{"taskArn": arn.format(t), "lastStatus": self.statuses[t]}
                              for t in params["tasks"] if t in self.statuses],
                    "failures": [{"arn": arn.format(t), "reason": "MISSING"}
                                 for t in params["tasks"] if t not in self.statuses]}
        if operation == "get_queue_url":
            if params["QueueName"].endswith("gone0"):
                raise AwsError("GetQueueUrl", "AWS.SimpleQueueService.NonExistentQueue",
                               retryable=False, missing=True)
            return {"QueueUrl": "https://sqs/" + params["QueueName"]}
        return {}


def test_janitor_decisions_paginates_and_batches():
    s = Settings.from_env(BASE)
    ids = [f"{i:032x}" for i in range(150)]
    statuses = {t: ("STOPPED" if i % 3 == 0 else "RUNNING") for i, t in enumerate(ids[:140])}
    statuses[ids[1]] = "PENDING"
    subs = [{"Protocol": "sqs", "SubscriptionArn": f"{TOPIC}:{t}",
             "Endpoint": queue_arn_for(TOPIC, "dev-web-cfg-" + t)} for t in ids]
    subs += [{"Protocol": "https", "SubscriptionArn": TOPIC + ":h", "Endpoint": "https://x"},
             {"Protocol": "sqs", "SubscriptionArn": TOPIC + ":o",
              "Endpoint": queue_arn_for(TOPIC, "other-" + ids[0])},
             {"Protocol": "sqs", "SubscriptionArn": TOPIC + ":g",
              "Endpoint": queue_arn_for(TOPIC, "dev-web-cfg-" + "a" * 27 + "gone0")}]
    fake = _FakeAws(subs, statuses)
    own = ids[3]  # STOPPED according to ECS, but it is us: never removed
    janitor = Janitor(s, fake, TaskIdentity(own, "arn:task", "arn:cluster"),  # type: ignore
                      threading.Event())
    janitor.run()
    expected = {"dev-web-cfg-" + t for i, t in enumerate(ids)
                if t != own and (i >= 140 or i % 3 == 0)} | {"dev-web-cfg-" + "a" * 27 + "gone0"}
    assert set(janitor.removed) == expected
    ops = [op for op, _ in fake.calls]
    assert ops.count("list_subscriptions_by_topic") == 2 and ops.count("describe_tasks") == 2
    unsubscribed = {p["SubscriptionArn"] for op, p in fake.calls if op == "unsubscribe"}
    assert TOPIC + ":o" not in unsubscribed and f"{TOPIC}:{own}" not in unsubscribed
    assert ops.count("delete_queue") == len(expected) - 1  # the missing queue: nothing to delete


def test_janitor_is_off_without_ecs_metadata():
    fake = _FakeAws([], {})
    Janitor(Settings.from_env(BASE), fake, TaskIdentity("abc"),  # type: ignore[arg-type]
            threading.Event()).run()
    assert fake.calls == []


def test_own_queue_deleted_under_the_agent_is_recreated(aws, make_agent, log_stream):
    topic = aws.topic()
    sec = aws.secret("fan-recreate")
    agent = make_agent(topic=topic, CONFIG_AGENT_SECRET_IDS=sec["Name"])
    name = agent.own_queue.name
    aws.sns.unsubscribe(SubscriptionArn=agent.own_queue.subscription_arn)
    aws.sqs.delete_queue(QueueUrl=agent.worker.queue_url)
    wait_for(lambda: name in _subscriptions(aws, topic.arn) and _queue_exists(aws, name),
             timeout=10, what="queue recreated and resubscribed")
    aws.sm.put_secret_value(SecretId=sec["Name"], SecretString="fan-recreated")
    aws.publish(topic.arn, ev.secret_api_call("PutSecretValue", sec["Name"]))
    wait_for(lambda: secret_json(agent.port, sec["Name"])["SecretString"] == "fan-recreated",
             what="events flow again")
    assert "own queue no longer exists" in log_stream.getvalue()
