"""Recovery and delivery under faults: outages, 5xx, duplicate floods, SIGTERM mid-batch.

Visibility timeouts are 30 s here, so anything served or visible again within the few seconds
these tests wait cannot be SQS's redelivery: it is the agent's own doing.
"""

from __future__ import annotations

import json
from typing import Any

from devtools import events as ev
from devtools.wait import wait_for
from tests.config_agent.conftest import get, publish, secret_json

SLOW_SQS = {"CONFIG_AGENT_VISIBILITY_TIMEOUT": "30"}
PATIENT = {"CONFIG_AGENT_AWS_TIMEOUT_SECONDS": "30"}  # a held call waits instead of timing out
SOON = 5.0  # seconds: far below the visibility timeout, well above the ~1 s probe interval
DUPLICATES = 200


def _agent(make_agent: Any, *secrets: dict[str, Any], **extra: str) -> Any:
    return make_agent(
        CONFIG_AGENT_SECRET_IDS=",".join(s["Name"] for s in secrets), **SLOW_SQS, **extra
    )


def _publish_change(aws: Any, agent: Any, secret: dict[str, Any], value: str) -> None:
    aws.sm.put_secret_value(SecretId=secret["Name"], SecretString=value)
    publish(aws, agent, ev.secret_api_call("PutSecretValue", secret["ARN"]))


def _serves(agent: Any, secret: dict[str, Any], value: str) -> bool:
    return (secret_json(agent.port, secret["Name"]) or {}).get("SecretString") == value


def _status(agent: Any) -> str:
    return json.loads(get(agent.port, "/health", token=None)[2])["status"]


def test_change_made_during_a_full_outage_is_served_soon_after_recovery(aws, make_agent):
    sec = aws.secret("outage-before")
    agent = _agent(make_agent, sec)
    aws.proxy.outage = "reset"  # SQS, SNS and Secrets Manager unreachable
    aws.emulator.outage = "503"  # and the AppConfig data plane
    wait_for(lambda: _status(agent) == "degraded", what="degraded")
    _publish_change(aws, agent, sec, "outage-after")  # straight to moto: SNS -> own queue
    # Long enough for any exponential backoff to have grown: six failed receives in a row.
    base = aws.proxy.count("ReceiveMessage")
    wait_for(
        lambda: aws.proxy.count("ReceiveMessage") >= base + 6,
        timeout=20,
        what="an outage of six failed receives",
    )
    assert _serves(agent, sec, "outage-before")  # stale, still served
    aws.proxy.clear()
    aws.emulator.clear()
    wait_for(
        lambda: _serves(agent, sec, "outage-after"),
        timeout=SOON,
        what="the change served soon after recovery",
    )
    wait_for(lambda: _status(agent) == "ok", what="healthy again")


def test_change_made_while_secrets_manager_fails_is_served_soon_after_it_recovers(
    aws, make_agent, log_stream
):
    sec = aws.secret("sm5xx-before")
    agent = _agent(make_agent, sec)
    aws.proxy.fail("GetSecretValue", status=503, code="ServiceUnavailable")
    _publish_change(aws, agent, sec, "sm5xx-after")
    wait_for(lambda: "message kept hidden, retrying" in log_stream.getvalue(), what="held")
    assert _serves(agent, sec, "sm5xx-before") and _status(agent) == "degraded"
    assert aws.queue_counts(agent.worker.queue_url) == (0, 1)  # hidden, not redelivered
    aws.proxy.clear()
    wait_for(
        lambda: _serves(agent, sec, "sm5xx-after"),
        timeout=SOON,
        what="served soon after Secrets Manager recovered",
    )
    wait_for(lambda: aws.queue_counts(agent.worker.queue_url) == (0, 0), what="deleted")


def test_duplicates_share_one_fetch_per_batch_and_do_not_starve_other_changes(aws, make_agent):
    dup, other = aws.secret("dup-0"), aws.secret("other-before")
    agent = _agent(make_agent, dup, other, **PATIENT)
    topic = agent.settings.topic_arn
    aws.proxy.hold("GetSecretValue")  # the agent blocks on its first fetch; the flood queues up
    body = ev.as_message_body(ev.secret_api_call("PutSecretValue", dup["ARN"]))
    aws.sm.put_secret_value(SecretId=dup["Name"], SecretString="dup-1")
    aws.sns.publish(TopicArn=topic, Message=body)
    wait_for(lambda: aws.proxy.waiting["GetSecretValue"] == 1, what="agent blocked mid-batch")
    fetches, receives = aws.proxy.secret_fetches[dup["Name"]], aws.proxy.count("ReceiveMessage")
    for batch in range(DUPLICATES // 10):
        aws.sns.publish_batch(
            TopicArn=topic,
            PublishBatchRequestEntries=[
                {"Id": str(i), "Message": body} for i in range(10 if batch else 9)
            ],
        )
    _publish_change(aws, agent, other, "other-after")  # queued behind the duplicates
    aws.proxy.release("GetSecretValue")
    # Generous: moto's ReceiveMessage slows down with queue depth (0.1-0.5 s per call here).
    # The bench measures latency; this test counts calls.
    wait_for(lambda: _serves(agent, other, "other-after"), timeout=60, what="other served")
    wait_for(
        lambda: aws.queue_counts(agent.worker.queue_url) == (0, 0),
        timeout=60,
        what="every duplicate deleted",
    )
    assert _serves(agent, dup, "dup-1")
    # At most one fetch per item per receive batch (the blocked one included), not one per event.
    dup_fetches = aws.proxy.secret_fetches[dup["Name"]] - fetches
    assert dup_fetches <= aws.proxy.count("ReceiveMessage") - receives + 1
    assert dup_fetches <= DUPLICATES // 5  # batches of up to 10 messages


def test_sigterm_after_the_grace_period_hands_unprocessed_messages_back(aws, make_agent):
    # Queue-URL mode: in fan-out mode the own queue is deleted at shutdown, so nothing in it
    # is waiting for another consumer.
    queue, _ = aws.queue()
    sec = aws.secret("sigterm-value")
    agent = make_agent(
        queue_url=queue,
        CONFIG_AGENT_SECRET_IDS=sec["Name"],
        CONFIG_AGENT_SHUTDOWN_GRACE_SECONDS="0.3",
        **SLOW_SQS,
        **PATIENT,
    )
    aws.proxy.hold("GetSecretValue")  # the batch in progress outlasts the grace period
    body = ev.as_message_body(ev.secret_api_call("PutSecretValue", sec["ARN"]))
    aws.sqs.send_message_batch(
        QueueUrl=queue, Entries=[{"Id": str(i), "MessageBody": body} for i in range(3)]
    )
    wait_for(lambda: aws.proxy.waiting["GetSecretValue"] == 1, what="agent blocked mid-batch")
    assert aws.queue_counts(queue)[1] >= 1  # received, in flight
    agent.shutdown()
    wait_for(
        lambda: aws.queue_counts(queue) == (3, 0),
        timeout=SOON,
        what="every received message visible again at once",
    )
    aws.proxy.release("GetSecretValue")
