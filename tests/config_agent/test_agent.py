"""End-to-end behaviour of an in-process agent against moto on loopback, in fan-out mode (its own
queue on its service's topic, events published to the topic as EventBridge does)."""

from __future__ import annotations

import json
import math
import os
import stat
import time

from devtools import events as ev
from devtools.wait import wait_for
from tests.config_agent.conftest import get, publish, secret_json

CONFIG_PATH = "/applications/{}/environments/{}/configurations/{}"


def _drained(aws, agent) -> bool:
    """The agent's own queue is empty: every message was acted on and deleted."""
    return aws.queue_counts(agent.worker.queue_url) == (0, 0)


def _appconfig_env(app, env, prof):
    return {
        "CONFIG_AGENT_APPCONFIG_APPLICATION": app,
        "CONFIG_AGENT_APPCONFIG_ENVIRONMENT": env,
        "CONFIG_AGENT_APPCONFIG_PROFILE": prof,
    }


def test_startup_fetch_then_serves_from_cache(aws, make_agent):
    sec = aws.secret("startup-value-1")
    app, env, prof = aws.profile(b'{"limit": 5}', "application/json")
    agent = make_agent(CONFIG_AGENT_SECRET_IDS=sec["Name"], **_appconfig_env(app, env, prof))

    doc = secret_json(agent.port, sec["Name"])
    assert doc["SecretString"] == "startup-value-1"
    assert set(doc) == {"ARN", "Name", "VersionId", "SecretString", "VersionStages", "CreatedDate"}
    assert doc["ARN"] == sec["ARN"] and doc["VersionStages"] == ["AWSCURRENT"]
    float(doc["CreatedDate"])  # epoch seconds as a string, like the AWS agent
    # Any spelling of the id works: ARN, partial ARN, /v1/ path style.
    assert secret_json(agent.port, sec["ARN"])["Name"] == sec["Name"]
    assert secret_json(agent.port, sec["ARN"][:-7])["Name"] == sec["Name"]
    status, _, body = get(agent.port, "/v1/" + sec["Name"])
    assert status == 200 and json.loads(body)["SecretString"] == "startup-value-1"

    status, headers, body = get(agent.port, CONFIG_PATH.format(app, env, prof))
    assert (status, body, headers["content-type"]) == (200, b'{"limit": 5}', "application/json")
    assert headers["configuration-version"] == "v1"

    # "ok" once the start-up calls have settled: under load one slow call may read "degraded"
    # for a moment (a condition to wait for, not a value to sample once).
    wait_for(
        lambda: (
            get(agent.port, "/health", token=None)[0] == 200
            and json.loads(get(agent.port, "/health", token=None)[2])["status"] == "ok"
        ),
        what="health ok",
    )
    assert get(agent.port, "/secretsmanager/get?secretId=not-configured")[0] == 404
    assert get(agent.port, CONFIG_PATH.format(app, env, "other"))[0] == 404
    # One version only: there is no AWSPREVIOUS yet (see test_dropin.py for stages).
    assert (
        get(agent.port, f"/secretsmanager/get?secretId={sec['Name']}&versionStage=AWSPREVIOUS")[0]
        == 404
    )


def test_token_enforcement(aws, make_agent):
    sec = aws.secret("token-guarded-value")
    agent = make_agent(CONFIG_AGENT_SECRET_IDS=sec["Name"])
    path = f"/secretsmanager/get?secretId={sec['Name']}"
    for token, expected in (
        (None, 401),
        ("wrong", 403),
        ("", 403),
        ("test-token-0123456789abcdeX", 403),
    ):
        status, _, body = get(agent.port, path, token=token)
        assert status == expected
        assert b"token-guarded" not in body and sec["Name"].encode() not in body
    assert get(agent.port, "/nope", token=None)[0] == 401
    assert get(agent.port, path, headers={"X-Forwarded-For": "1.2.3.4"})[0] == 400
    assert get(agent.port, "/health", token=None)[0] == 200
    assert get(agent.port, "/ping", token=None)[0] == 200
    assert agent.server.server_address[0] == "127.0.0.1"


def test_push_refresh_after_put_secret_value(aws, make_agent):
    sec = aws.secret("before-value")
    agent = make_agent(CONFIG_AGENT_SECRET_IDS=sec["Name"])
    assert agent.settings.fanout  # the mode the stacks deploy: the fixture's default
    aws.sm.put_secret_value(SecretId=sec["Name"], SecretString="after-value")
    publish(aws, agent, ev.secret_api_call("PutSecretValue", sec["ARN"]))
    # Only the event can bring the new value (no periodic refresh): no timing assertion needed
    # (one failed under load); bench/agent_bench.py measures the latency.
    wait_for(
        lambda: secret_json(agent.port, sec["Name"])["SecretString"] == "after-value",
        what="new secret value served",
    )
    wait_for(lambda: _drained(aws, agent), what="message deleted")


def test_queue_url_mode_unwraps_a_subscription_without_raw_delivery(aws, make_agent):
    # Queue-URL mode (still supported): a queue someone else created and subscribed, here
    # without raw delivery, so each message is the event inside an SNS envelope.
    queue, _ = aws.queue()
    topic = aws.topic()
    queue_arn = aws.sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])[
        "Attributes"
    ]["QueueArn"]
    aws.sns.subscribe(TopicArn=topic.arn, Protocol="sqs", Endpoint=queue_arn)  # SNS envelope
    sec = aws.secret("envelope-before")
    agent = make_agent(queue_url=queue, CONFIG_AGENT_SECRET_IDS=sec["Name"])
    assert not agent.settings.fanout
    aws.sm.put_secret_value(SecretId=sec["Name"], SecretString="envelope-after")
    aws.publish(topic.arn, ev.secret_api_call("PutSecretValue", sec["ARN"]))
    wait_for(
        lambda: secret_json(agent.port, sec["Name"])["SecretString"] == "envelope-after",
        what="enveloped event acted on",
    )
    wait_for(lambda: aws.queue_counts(queue) == (0, 0), what="message deleted")


def test_rotation_succeeded_and_duplicates_are_harmless(aws, make_agent):
    sec = aws.secret("rot-before")
    other = aws.secret("unrelated-value")
    agent = make_agent(CONFIG_AGENT_SECRET_IDS=f"{sec['Name']},{other['Name']}")
    base_calls = aws.proxy.count("GetSecretValue")
    aws.sm.put_secret_value(SecretId=sec["Name"], SecretString="rot-after")
    event = ev.secret_rotation_succeeded(sec["ARN"])
    for _ in range(3):
        publish(aws, agent, event)
    wait_for(lambda: _drained(aws, agent), what="all duplicates deleted")
    assert secret_json(agent.port, sec["Name"])["SecretString"] == "rot-after"
    # Only the affected secret was fetched: at most once per event (duplicates received in one
    # batch share a fetch), never the unrelated one.
    assert 1 <= aws.proxy.count("GetSecretValue") - base_calls <= 3
    assert aws.proxy.secret_fetches[other["Name"]] == 1  # its startup fetch only


def test_appconfig_change_after_new_version_and_deployment(aws, make_agent):
    app, env, prof = aws.profile(b"mode=a", "text/plain")
    agent = make_agent(**_appconfig_env(app, env, prof))
    version = aws.hosted_version(app, prof, b"mode=b", "text/plain", "v2")
    number = aws.emulator.deploy(app, env, prof, version)
    publish(
        aws,
        agent,
        ev.appconfig_start_deployment(
            app, env, prof, deployment_number=number, configuration_version=str(version)
        ),
    )
    wait_for(
        lambda: get(agent.port, CONFIG_PATH.format(app, env, prof))[2] == b"mode=b",
        what="new configuration served",
    )
    wait_for(lambda: _drained(aws, agent), what="message deleted")
    # A second event soon after (within AppConfig's minimum poll interval) still works.
    version = aws.hosted_version(app, prof, b"mode=c", "text/plain", "v3")
    number = aws.emulator.deploy(app, env, prof, version)
    publish(aws, agent, ev.appconfig_start_deployment(app, env, prof, deployment_number=number))
    wait_for(
        lambda: get(agent.port, CONFIG_PATH.format(app, env, prof))[2] == b"mode=c",
        what="third configuration served",
    )
    assert get(agent.port, CONFIG_PATH.format(app, env, prof))[1]["configuration-version"] == "v3"


def test_gradual_deployment_is_rechecked_until_visible(aws, make_agent, log_stream):
    app, env, prof = aws.profile(b'{"v": 1}')
    agent = make_agent(**_appconfig_env(app, env, prof))
    version = aws.hosted_version(app, prof, b'{"v": 2}')
    # This client sees the new content only once the test reveals it (no timing involved).
    number = aws.emulator.deploy(
        app, env, prof, version, visible_after=math.inf, complete_after=math.inf
    )
    publish(aws, agent, ev.appconfig_start_deployment(app, env, prof, deployment_number=number))
    wait_for(lambda: "deployment not visible yet" in log_stream.getvalue(), what="tracking")
    assert get(agent.port, CONFIG_PATH.format(app, env, prof))[2] == b'{"v": 1}'
    assert aws.queue_counts(agent.worker.queue_url) == (0, 1)  # kept (hidden) while re-checking
    aws.emulator.reveal(app, env, number)
    wait_for(
        lambda: get(agent.port, CONFIG_PATH.format(app, env, prof))[2] == b'{"v": 2}',
        what="gradually deployed content",
    )
    wait_for(lambda: _drained(aws, agent), what="message deleted")


def test_deployment_without_visible_change_ends_when_complete(aws, make_agent):
    app, env, prof = aws.profile(b"same")
    agent = make_agent(**_appconfig_env(app, env, prof))
    number = aws.emulator.deploy(app, env, prof, 1, complete_after=0.5)  # same content again
    publish(aws, agent, ev.appconfig_start_deployment(app, env, prof, deployment_number=number))
    wait_for(lambda: _drained(aws, agent), what="message deleted")
    assert aws.emulator.count("GetDeployment") >= 1


def test_appconfig_configured_by_name_refreshes_on_any_deployment(aws, make_agent):
    app, env, prof = aws.profile(b"n1")
    # The emulator accepts whatever identifiers it was deployed under: here, "names".
    aws.emulator._deployments[("shop", "prod", "main")] = aws.emulator._deployments[
        (app, env, prof)
    ]
    agent = make_agent(**_appconfig_env("shop", "prod", "main"))
    version = aws.hosted_version(app, prof, b"n2")
    aws.emulator.deploy(app, env, prof, version)
    publish(aws, agent, ev.appconfig_start_deployment(app, env, prof))
    wait_for(
        lambda: get(agent.port, CONFIG_PATH.format("shop", "prod", "main"))[2] == b"n2",
        what="name-configured profile refreshed",
    )


def test_poison_message_survives_and_is_not_deleted(aws, make_agent, log_stream):
    topic = aws.topic()
    sec = aws.secret("poison-test-value")
    make_agent(
        topic=topic,
        CONFIG_AGENT_SECRET_IDS=sec["Name"],
        CONFIG_AGENT_MAX_RECEIVE_COUNT="2",
        CONFIG_AGENT_VISIBILITY_TIMEOUT="1",
    )
    base_calls = aws.proxy.count("GetSecretValue")
    base_deletes = aws.deletes()
    for message in (
        (
            '{"source": "aws.secretsmanager", "detail": {"eventName": "Nope"}, '
            '"secret": "body-must-not-be-logged"}'
        ),
        "definitely not json",
    ):
        aws.sns.publish(TopicArn=topic.arn, Message=message)
    # Each poison message is received, left alone, and finally moved to the topic's DLQ by SQS
    # (the own queue's redrive policy).
    wait_for(lambda: aws.queue_counts(topic.dlq_url)[0] == 2, timeout=15, what="poison in DLQ")
    assert aws.deletes() == base_deletes
    assert aws.proxy.count("GetSecretValue") == base_calls  # nothing refreshed
    text = log_stream.getvalue()
    assert "ignoring malformed or unknown message" in text
    assert "body-must-not-be-logged" not in text and "definitely not json" not in text


def test_refused_refresh_leaves_message_for_redelivery(aws, make_agent, log_stream):
    sec = aws.secret("fail-before")
    agent = make_agent(CONFIG_AGENT_SECRET_IDS=sec["Name"], CONFIG_AGENT_MAX_RECEIVE_COUNT="10")
    aws.sm.put_secret_value(SecretId=sec["Name"], SecretString="fail-after")
    # Refused (not a transient fault): SQS redelivery, and the DLQ after maxReceiveCount, are
    # the retry. Transient faults are retried by the agent itself (test_delivery.py).
    aws.proxy.fail("GetSecretValue", status=400, code="AccessDeniedException")
    base_deletes = aws.deletes()
    publish(aws, agent, ev.secret_api_call("PutSecretValue", sec["Name"]))
    wait_for(lambda: "message left for redelivery" in log_stream.getvalue(), what="left")
    assert aws.deletes() == base_deletes
    assert secret_json(agent.port, sec["Name"])["SecretString"] == "fail-before"  # stale
    assert get(agent.port, "/health", token=None)[0] == 200  # degraded, still serving
    aws.proxy.clear()
    # Visible again after the visibility timeout, redelivered, refreshed, deleted.
    wait_for(
        lambda: secret_json(agent.port, sec["Name"])["SecretString"] == "fail-after",
        timeout=10,
        what="refresh after redelivery",
    )
    wait_for(lambda: _drained(aws, agent), what="message deleted")


def test_outage_degraded_and_serving_stale(aws, make_agent):
    sec = aws.secret("outage-stale-value")
    app, env, prof = aws.profile(b"cfg-stale")
    agent = make_agent(CONFIG_AGENT_SECRET_IDS=sec["Name"], **_appconfig_env(app, env, prof))
    aws.proxy.outage = "reset"
    aws.emulator.outage = "503"
    wait_for(
        lambda: json.loads(get(agent.port, "/health", token=None)[2])["status"] == "degraded",
        what="degraded health",
    )
    status, _, _ = get(agent.port, "/health", token=None)
    assert status == 200
    assert secret_json(agent.port, sec["Name"])["SecretString"] == "outage-stale-value"
    assert get(agent.port, CONFIG_PATH.format(app, env, prof))[2] == b"cfg-stale"
    aws.proxy.clear()
    aws.emulator.clear()
    wait_for(
        lambda: json.loads(get(agent.port, "/health", token=None)[2])["status"] == "ok",
        what="recovered health",
    )


def test_missing_secret_is_unhealthy_until_it_exists(aws, make_agent, log_stream):
    name = "late/secret-" + os.urandom(3).hex()
    agent = make_agent(wait_healthy=False, CONFIG_AGENT_SECRET_IDS=name)
    wait_for(lambda: agent.worker.started.is_set())
    status, _, body = get(agent.port, "/health", token=None)
    assert status == 503 and json.loads(body)["status"] == "unhealthy"
    assert get(agent.port, f"/secretsmanager/get?secretId={name}")[0] == 503
    assert "does not exist (yet)" in log_stream.getvalue()
    aws.secret("arrived-later", name=name)
    wait_for(lambda: agent.health()[0] == 200, what="healthy once the secret exists")
    assert secret_json(agent.port, name)["SecretString"] == "arrived-later"


def test_idle_agent_makes_no_fetches(aws, make_agent):
    sec = aws.secret("idle-value")
    app, env, prof = aws.profile(b"idle")
    make_agent(CONFIG_AGENT_SECRET_IDS=sec["Name"], **_appconfig_env(app, env, prof))
    before = (aws.proxy.count("GetSecretValue"), aws.emulator.count("GetLatestConfiguration"))
    time.sleep(2.5)
    after = (aws.proxy.count("GetSecretValue"), aws.emulator.count("GetLatestConfiguration"))
    assert before == after


def test_output_files_atomic_0600(aws, make_agent, tmp_path):
    sec = aws.secret("file-value-1", name="svc/" + os.urandom(3).hex() + "/db")
    app, env, prof = aws.profile(b"file-cfg")
    out = tmp_path / "out"
    agent = make_agent(
        CONFIG_AGENT_SECRET_IDS=sec["Name"],
        CONFIG_AGENT_OUTPUT_DIR=str(out),
        **_appconfig_env(app, env, prof),
    )
    secret_file = out / "secrets" / sec["Name"].replace("/", "_")
    config_file = out / "configurations" / prof
    assert secret_file.read_bytes() == b"file-value-1"
    assert config_file.read_bytes() == b"file-cfg"
    for path in (secret_file, config_file):
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    aws.sm.put_secret_value(SecretId=sec["Name"], SecretString="file-value-2")
    publish(aws, agent, ev.secret_api_call("UpdateSecret", sec["Name"]))
    wait_for(lambda: secret_file.read_bytes() == b"file-value-2", what="file updated")
    assert sorted(os.listdir(secret_file.parent)) == [secret_file.name]  # no temp leftovers
    # The file is written before the cache entry is replaced: wait, do not assert at once.
    wait_for(
        lambda: secret_json(agent.port, sec["Name"])["SecretString"] == "file-value-2",
        what="served over HTTP too",
    )


def test_no_secret_value_in_logs(aws, make_agent, log_stream):
    value = "sup3r-s3cret-" + os.urandom(4).hex()
    sec = aws.secret(json.dumps({"username": "svc", "password": value}))
    agent = make_agent(CONFIG_AGENT_SECRET_IDS=sec["Name"], CONFIG_AGENT_LOG_LEVEL="DEBUG")
    aws.proxy.fail("GetSecretValue", times=1)
    aws.sm.put_secret_value(
        SecretId=sec["Name"], SecretString=json.dumps({"password": value + "2"})
    )
    publish(aws, agent, ev.secret_api_call("PutSecretValue", sec["Name"]))
    wait_for(lambda: value + "2" in secret_json(agent.port, sec["Name"])["SecretString"])
    get(agent.port, "/secretsmanager/get?secretId=x", token="bad")
    logging_text = log_stream.getvalue()
    assert "secret refreshed" in logging_text
    assert value not in logging_text


def test_throttling_is_retried_with_backoff(aws, make_agent):
    sec = aws.secret("throttle-before")
    agent = make_agent(CONFIG_AGENT_SECRET_IDS=sec["Name"])
    aws.sm.put_secret_value(SecretId=sec["Name"], SecretString="throttle-after")
    base = aws.proxy.count("GetSecretValue")
    aws.proxy.fail("GetSecretValue", status=400, code="ThrottlingException", times=2)
    publish(aws, agent, ev.secret_api_call("PutSecretValue", sec["Name"]))
    wait_for(lambda: secret_json(agent.port, sec["Name"])["SecretString"] == "throttle-after")
    wait_for(lambda: _drained(aws, agent), what="message deleted")
    assert aws.proxy.count("GetSecretValue") - base == 3  # two throttled, one success


def test_optional_safety_refresh(aws, make_agent):
    sec = aws.secret("safety-before")
    agent = make_agent(
        CONFIG_AGENT_SECRET_IDS=sec["Name"], CONFIG_AGENT_SAFETY_REFRESH_SECONDS="0.5"
    )
    aws.sm.put_secret_value(SecretId=sec["Name"], SecretString="safety-after")  # no event
    wait_for(
        lambda: secret_json(agent.port, sec["Name"])["SecretString"] == "safety-after",
        what="periodic refresh picked up the change",
    )
