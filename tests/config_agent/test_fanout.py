"""Fan-out mode: every agent has its own queue on the service's SNS topic (moto on loopback)."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from typing import Any

import pytest
from botocore.exceptions import ClientError

from config_agent.fanout import (
    IdentityError,
    TaskIdentity,
    queue_arn_for,
    queue_attributes,
    task_identity,
)
from config_agent.settings import Settings, SettingsError
from devtools import events as ev
from devtools.emulators import LoopbackHTTPServer
from devtools.wait import wait_for
from tests.config_agent.conftest import secret_json

TOPIC = "arn:aws:sns:eu-west-1:111111111111:dev-web-config"
DLQ = "arn:aws:sqs:eu-west-1:111111111111:dev-web-cfg-dlq"
BASE = {
    "CONFIG_AGENT_TOPIC_ARN": TOPIC,
    "CONFIG_AGENT_QUEUE_PREFIX": "dev-web-cfg-",
    "CONFIG_AGENT_DLQ_ARN": DLQ,
    "CONFIG_AGENT_TOKEN": "tok-123",
    "CONFIG_AGENT_SECRET_IDS": "a",
}


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
    s = Settings.from_env(
        {
            **BASE,
            "CONFIG_AGENT_MAX_RECEIVE_COUNT": "3",
            "CONFIG_AGENT_QUEUE_KMS_KEY": "alias/cfg",
            "ECS_CONTAINER_METADATA_URI_V4": "http://169.254.170.2/v4/x",
        }
    )
    assert (s.max_receive_count, s.queue_kms_key) == (3, "alias/cfg")
    assert s.ecs_metadata_uri == "http://169.254.170.2/v4/x"
    assert (
        Settings.from_env({**BASE, "CONFIG_AGENT_QUEUE_PREFIX": "a" * 48}).queue_prefix == "a" * 48
    )
    assert (s.subscription_check_seconds, s.catchup_refresh_seconds) == (30.0, 60.0)
    with pytest.raises(SettingsError, match="CONFIG_AGENT_SUBSCRIPTION_CHECK_SECONDS"):
        Settings.from_env({**BASE, "CONFIG_AGENT_SUBSCRIPTION_CHECK_SECONDS": "0"})


@pytest.mark.parametrize(
    ("extra", "needle"),
    [
        (
            {"CONFIG_AGENT_QUEUE_URL": "https://sqs.eu-west-1.amazonaws.com/1/q"},
            "only one of CONFIG_AGENT_TOPIC_ARN and CONFIG_AGENT_QUEUE_URL",
        ),
        (
            {"CONFIG_AGENT_TOPIC_ARN": ""},
            "CONFIG_AGENT_TOPIC_ARN or CONFIG_AGENT_QUEUE_URL is required",
        ),
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
    ],
)
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
    assert (
        attrs["ReceiveMessageWaitTimeSeconds"],
        attrs["VisibilityTimeout"],
        attrs["MessageRetentionPeriod"],
    ) == ("15", "30", "3600")
    assert json.loads(attrs["RedrivePolicy"]) == {"deadLetterTargetArn": DLQ, "maxReceiveCount": 5}
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
            def do_GET(self) -> None:
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
    assert ident == TaskIdentity(
        "0123456789abcdef0123456789abcdef", arn, "arn:aws:ecs:eu-west-1:111111111111:cluster/dev"
    )
    assert ident.on_ecs
    local = task_identity("")  # off ECS (no metadata variable): a random id of the same shape
    assert len(local.task_id) == 32 and int(local.task_id, 16) >= 0 and not local.on_ecs


def test_on_ecs_an_unreadable_task_id_is_fatal_never_invented(metadata):
    """Issue 27 item 2: a random id on ECS names a queue no task owns, which a clean-up of
    orphans removes while the agent still uses it. Retry, then give up (exit non-zero)."""
    with pytest.raises(IdentityError):
        task_identity("http://127.0.0.1:1/v4/x", attempts=2, delay=0.01)
    for bad_id in ("abc", "0123456789ABCDEF0123456789ABCDEF", "0" * 31 + "g"):
        server = metadata(
            f"arn:aws:ecs:eu-west-1:111111111111:task/dev/{bad_id}",
            "arn:aws:ecs:eu-west-1:111111111111:cluster/dev",
        )
        with pytest.raises(IdentityError):
            task_identity(server.uri, attempts=1)


# --- end to end -------------------------------------------------------------------------------


def test_one_event_on_the_topic_refreshes_every_agent(aws, make_agent):
    topic = aws.topic()
    sec = aws.secret("fan-before")
    prefix = f"cfg-{uuid.uuid4().hex[:6]}-"
    agents = [
        make_agent(topic=topic, prefix=prefix, CONFIG_AGENT_SECRET_IDS=sec["Name"])
        for _ in range(2)
    ]
    names = [a.own_queue.name for a in agents]
    assert names[0] != names[1] and all(n.startswith(prefix) for n in names)
    subs = _subscriptions(aws, topic.arn)
    assert set(subs) == set(names)
    for agent in agents:
        attrs = aws.sns.get_subscription_attributes(
            SubscriptionArn=agent.own_queue.subscription_arn
        )["Attributes"]
        assert attrs["RawMessageDelivery"] == "true" and attrs["Protocol"] == "sqs"
        # What SNS cannot deliver (e.g. while the queue policy propagates) goes to the DLQ.
        assert json.loads(attrs["RedrivePolicy"]) == {"deadLetterTargetArn": topic.dlq_arn}
        url = agent.worker.queue_url
        qa = aws.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
        assert qa["QueueArn"] == agent.own_queue.arn
        assert json.loads(qa["RedrivePolicy"]) == {
            "deadLetterTargetArn": topic.dlq_arn,
            "maxReceiveCount": 5,
        }
        assert qa["SqsManagedSseEnabled"] == "true" and qa["MessageRetentionPeriod"] == "3600"
        policy = json.loads(qa["Policy"])["Statement"][0]
        assert policy["Condition"]["ArnEquals"]["aws:SourceArn"] == topic.arn
        tags = aws.sqs.list_queue_tags(QueueUrl=url)["Tags"]
        assert tags == {"config-agent": "true", "ecs-task-arn": "local"}

    aws.sm.put_secret_value(SecretId=sec["Name"], SecretString="fan-after")
    # EventBridge -> SNS: the SNS message is the event JSON; raw delivery keeps it as the body.
    aws.publish(topic.arn, ev.secret_api_call("PutSecretValue", sec["ARN"]))
    for agent in agents:
        wait_for(
            lambda a=agent: secret_json(a.port, sec["Name"])["SecretString"] == "fan-after",
            what="every agent refreshed",
        )
    for agent in agents:
        wait_for(
            lambda a=agent: aws.queue_counts(a.worker.queue_url) == (0, 0),
            what="message deleted from each own queue",
        )


def test_shutdown_leaves_queue_and_subscription_to_the_reaper(aws, make_agent):
    """The task role may not delete queues or subscriptions (issue 27 item 3): on SIGTERM the
    agent does not try; the reaper removes both once ECS reports the task STOPPED."""
    topic = aws.topic()
    sec = aws.secret("fan-shutdown")
    agent = make_agent(topic=topic, CONFIG_AGENT_SECRET_IDS=sec["Name"])
    name = agent.own_queue.name
    before = aws.proxy.count("Unsubscribe"), aws.proxy.count("DeleteQueue")
    agent.shutdown()
    assert name in _subscriptions(aws, topic.arn) and _queue_exists(aws, name)
    assert (aws.proxy.count("Unsubscribe"), aws.proxy.count("DeleteQueue")) == before


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


def test_own_queue_deleted_under_the_agent_is_recreated(aws, make_agent, log_stream):
    topic = aws.topic()
    sec = aws.secret("fan-recreate")
    agent = make_agent(topic=topic, CONFIG_AGENT_SECRET_IDS=sec["Name"])
    name = agent.own_queue.name
    aws.sns.unsubscribe(SubscriptionArn=agent.own_queue.subscription_arn)
    aws.sqs.delete_queue(QueueUrl=agent.worker.queue_url)
    wait_for(
        lambda: name in _subscriptions(aws, topic.arn) and _queue_exists(aws, name),
        timeout=10,
        what="queue recreated and resubscribed",
    )
    aws.sm.put_secret_value(SecretId=sec["Name"], SecretString="fan-recreated")
    aws.publish(topic.arn, ev.secret_api_call("PutSecretValue", sec["Name"]))
    wait_for(
        lambda: secret_json(agent.port, sec["Name"])["SecretString"] == "fan-recreated",
        what="events flow again",
    )
    assert "own queue no longer exists" in log_stream.getvalue()


# --- the safety net (issue 27) ----------------------------------------------------------------


def test_a_lost_subscription_is_repaired_and_the_current_value_served(aws, make_agent, log_stream):
    """Item 1: the queue exists but its subscription is gone (e.g. a clean-up unsubscribed,
    then failed to delete the queue). The agent notices, resubscribes and refreshes all."""
    topic = aws.topic()
    sec = aws.secret("fan-deaf-1")
    agent = make_agent(
        topic=topic,
        CONFIG_AGENT_SECRET_IDS=sec["Name"],
        CONFIG_AGENT_SUBSCRIPTION_CHECK_SECONDS="0.3",
        CONFIG_AGENT_CATCHUP_REFRESH_SECONDS="0",
    )
    name = agent.own_queue.name
    aws.sns.unsubscribe(SubscriptionArn=agent.own_queue.subscription_arn)
    aws.sm.put_secret_value(SecretId=sec["Name"], SecretString="fan-deaf-2")
    aws.publish(topic.arn, ev.secret_api_call("PutSecretValue", sec["Name"]))  # reaches no one
    wait_for(
        lambda: secret_json(agent.port, sec["Name"])["SecretString"] == "fan-deaf-2",
        timeout=10,
        what="current value served after the repair",
    )
    assert name in _subscriptions(aws, topic.arn) and _queue_exists(aws, name)
    assert "own subscription no longer exists; resubscribing" in log_stream.getvalue()
    wait_for(lambda: agent.health()[1]["status"] == "ok", what="healthy again")
    # Events flow through the new subscription.
    aws.sm.put_secret_value(SecretId=sec["Name"], SecretString="fan-deaf-3")
    aws.publish(topic.arn, ev.secret_api_call("PutSecretValue", sec["Name"]))
    wait_for(
        lambda: secret_json(agent.port, sec["Name"])["SecretString"] == "fan-deaf-3",
        what="events delivered again",
    )


def test_a_catch_up_refresh_follows_subscribing(aws, make_agent):
    """Item 6: a change whose delivery SNS dropped right after subscribing (queue policy not
    in effect yet) is picked up by the one catch-up refresh."""
    topic = aws.topic()
    sec = aws.secret("fan-catchup-1")
    agent = make_agent(
        topic=topic, CONFIG_AGENT_SECRET_IDS=sec["Name"], CONFIG_AGENT_CATCHUP_REFRESH_SECONDS="3"
    )
    aws.sm.put_secret_value(SecretId=sec["Name"], SecretString="fan-catchup-2")  # no event
    # The change happened before the catch-up was due, so only the catch-up can bring it.
    assert time.monotonic() < agent.own_queue.subscribed_at + 3
    wait_for(
        lambda: secret_json(agent.port, sec["Name"])["SecretString"] == "fan-catchup-2",
        timeout=10,
        what="catch-up refresh",
    )


def test_a_slow_refresh_keeps_its_message_hidden(aws, make_agent):
    """Item 8: a refresh that outlasts the visibility timeout (slow AWS) extends the message's
    visibility while it works, so SQS never redelivers it (nor moves it to the DLQ)."""
    topic = aws.topic()
    sec = aws.secret("fan-slow-1")
    agent = make_agent(
        topic=topic,
        CONFIG_AGENT_SECRET_IDS=sec["Name"],
        CONFIG_AGENT_AWS_TIMEOUT_SECONDS="30",
        CONFIG_AGENT_MAX_RECEIVE_COUNT="1",
    )
    aws.sm.put_secret_value(SecretId=sec["Name"], SecretString="fan-slow-2")
    fetches = aws.proxy.count("GetSecretValue")
    aws.proxy.hold("GetSecretValue")
    try:
        aws.publish(topic.arn, ev.secret_api_call("PutSecretValue", sec["Name"]))
        wait_for(lambda: aws.proxy.count("GetSecretValue") > fetches, what="refresh started")
        extends = aws.proxy.count("ChangeMessageVisibilityBatch")
        # Two heartbeats = more than half the 2 s visibility timeout spent inside one fetch.
        wait_for(
            lambda: aws.proxy.count("ChangeMessageVisibilityBatch") >= extends + 2,
            what="visibility extended while the fetch is held",
        )
        assert aws.queue_counts(agent.worker.queue_url)[0] == 0, "message became visible"
    finally:
        aws.proxy.release("GetSecretValue")
    wait_for(
        lambda: secret_json(agent.port, sec["Name"])["SecretString"] == "fan-slow-2",
        what="served once the fetch returns",
    )
    wait_for(lambda: aws.queue_counts(agent.worker.queue_url) == (0, 0), what="message deleted")
    dlq = aws.sqs.get_queue_url(QueueName=topic.dlq_arn.rsplit(":", 1)[-1])["QueueUrl"]
    assert aws.queue_counts(dlq) == (0, 0)
