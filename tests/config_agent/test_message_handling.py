"""How the worker settles messages in the cases the main scenarios do not reach: events for
other items, deployments it cannot or need not track, outages longer than the visibility
timeout, lost receipts and failed deletes. Each agent runs in fan-out mode against moto."""

from __future__ import annotations

import base64
import io
import json
import logging
import math
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

from config_agent.agent import Agent
from devtools import events as ev
from devtools import wait
from devtools.local_aws import LocalAws
from tests.config_agent.conftest import get, publish, secret_json

CONFIG_PATH = "/applications/{}/environments/{}/configurations/{}"
MakeAgent = Callable[..., Agent]
# Each wait covers a chain of calls (SNS delivery, receive, refresh, delete, redelivery after a
# visibility timeout) on a machine shared with other work: a generous deadline, never a sleep.
wait_for = partial(wait.wait_for, timeout=20)


def _records(stream: io.StringIO, msg: str) -> list[dict[str, Any]]:
    """The log records with message `msg`, as the JSON objects the agent wrote."""
    lines = [json.loads(line) for line in stream.getvalue().splitlines() if line]
    return [r for r in lines if r["msg"] == msg]


def _drained(aws: LocalAws, agent: Agent) -> bool:
    assert agent.worker.queue_url is not None
    return aws.queue_counts(agent.worker.queue_url) == (0, 0)


def _served_then_deleted(aws: LocalAws, agent: Agent, name: str, value: str) -> None:
    """The new value of secret `name` is served, and its message deleted."""
    wait_for(
        lambda: (secret_json(agent.port, name) or {}).get("SecretString") == value,
        what="served after recovery",
    )
    wait_for(lambda: _drained(aws, agent), what="message deleted")


def _appconfig(app: str, env: str, prof: str, **extra: str) -> dict[str, str]:
    return {
        "CONFIG_AGENT_APPCONFIG_APPLICATION": app,
        "CONFIG_AGENT_APPCONFIG_ENVIRONMENT": env,
        "CONFIG_AGENT_APPCONFIG_PROFILE": prof,
        **extra,
    }


def test_an_event_for_an_item_not_served_here_is_acknowledged_without_a_fetch(
    aws: LocalAws, make_agent: MakeAgent, log_stream: io.StringIO
) -> None:
    assert aws.proxy is not None
    served, other = aws.secret("mine"), aws.secret("not-mine")
    agent = make_agent(CONFIG_AGENT_SECRET_IDS=served["Name"])
    fetches = dict(aws.proxy.secret_fetches)
    publish(aws, agent, ev.secret_api_call("PutSecretValue", other["ARN"]))
    wait_for(
        lambda: _records(log_stream, "event does not concern this agent's items; acknowledged"),
        what="acknowledged",
    )
    wait_for(lambda: _drained(aws, agent), what="message deleted")
    assert dict(aws.proxy.secret_fetches) == fetches


def test_a_healthy_subscription_is_only_checked_never_redone(
    aws: LocalAws, make_agent: MakeAgent, log_stream: io.StringIO
) -> None:
    assert aws.proxy is not None
    sec = aws.secret("sub-ok")
    subscribes = aws.proxy.count("Subscribe")
    make_agent(CONFIG_AGENT_SECRET_IDS=sec["Name"], CONFIG_AGENT_SUBSCRIPTION_CHECK_SECONDS="0.2")
    lists = aws.proxy.count("ListSubscriptionsByTopic")
    wait_for(
        lambda: aws.proxy is not None and aws.proxy.count("ListSubscriptionsByTopic") >= lists + 3,
        what="three checks",
    )
    assert aws.proxy.count("Subscribe") == subscribes + 1  # the startup one only
    assert not _records(log_stream, "own subscription no longer exists; resubscribing")


def test_without_a_deployment_wait_an_unchanged_deployment_is_acknowledged_at_once(
    aws: LocalAws, make_agent: MakeAgent, log_stream: io.StringIO
) -> None:
    app, env, prof = aws.profile(b"same")
    agent = make_agent(**_appconfig(app, env, prof, CONFIG_AGENT_DEPLOYMENT_MAX_WAIT_SECONDS="0"))
    number = aws.emulator.deploy(app, env, prof, 1, visible_after=math.inf, complete_after=math.inf)
    deployments = aws.emulator.count("GetDeployment")
    publish(aws, agent, ev.appconfig_start_deployment(app, env, prof, deployment_number=number))
    wait_for(lambda: _drained(aws, agent), what="message deleted")
    assert not _records(log_stream, "deployment not visible yet; re-checking")
    assert aws.emulator.count("GetDeployment") == deployments


def _unnumbered_deployment(app: str, env: str, prof: str) -> dict[str, Any]:
    """A StartDeployment event whose response carries no deployment number."""
    event = ev.appconfig_start_deployment(app, env, prof)
    del event["detail"]["responseElements"]["deploymentNumber"]
    return event


def test_an_unnumbered_deployment_is_rechecked_until_the_maximum_wait(
    aws: LocalAws, make_agent: MakeAgent, log_stream: io.StringIO
) -> None:
    app, env, prof = aws.profile(b'{"v": 1}')
    agent = make_agent(
        **_appconfig(
            app,
            env,
            prof,
            CONFIG_AGENT_DEPLOYMENT_RECHECK_SECONDS="0.2",
            CONFIG_AGENT_DEPLOYMENT_MAX_WAIT_SECONDS="1.5",
        )
    )
    version = aws.hosted_version(app, prof, b'{"v": 2}')
    aws.emulator.deploy(app, env, prof, version, visible_after=math.inf, complete_after=math.inf)
    deployments, polls = (
        aws.emulator.count("GetDeployment"),
        aws.emulator.count("GetLatestConfiguration"),
    )
    publish(aws, agent, _unnumbered_deployment(app, env, prof))
    finished = wait_for(
        lambda: _records(log_stream, "deployment tracking finished"),
        what="tracking finished",
    )
    assert finished[0]["result"] == "max wait reached"
    assert aws.emulator.count("GetLatestConfiguration") - polls >= 3  # first fetch + rechecks
    assert aws.emulator.count("GetDeployment") == deployments  # no number: nothing to ask
    wait_for(lambda: _drained(aws, agent), what="message deleted")
    assert get(agent.port, CONFIG_PATH.format(app, env, prof))[2] == b'{"v": 1}'


def test_a_deployment_still_unreachable_at_the_maximum_wait_is_left_for_redelivery(
    aws: LocalAws, make_agent: MakeAgent, log_stream: io.StringIO
) -> None:
    app, env, prof = aws.profile(b'{"v": 1}')
    agent = make_agent(
        **_appconfig(
            app,
            env,
            prof,
            CONFIG_AGENT_DEPLOYMENT_RECHECK_SECONDS="0.2",
            CONFIG_AGENT_DEPLOYMENT_MAX_WAIT_SECONDS="1",
            CONFIG_AGENT_MAX_RECEIVE_COUNT="10",
        )
    )
    version = aws.hosted_version(app, prof, b'{"v": 2}')
    number = aws.emulator.deploy(
        app, env, prof, version, visible_after=math.inf, complete_after=math.inf
    )
    publish(aws, agent, ev.appconfig_start_deployment(app, env, prof, deployment_number=number))
    wait_for(
        lambda: _records(log_stream, "deployment not visible yet; re-checking"), what="tracking"
    )
    aws.emulator.outage = "503"  # the data plane goes away while the deployment is tracked
    finished = wait_for(
        lambda: _records(log_stream, "deployment tracking finished"),
        what="tracking finished",
    )
    assert finished[0]["result"] == "max wait reached"
    aws.emulator.clear()
    aws.emulator.reveal(app, env, number)
    # Not deleted: SQS delivers it again after the visibility timeout, and this time the new
    # content is there.
    wait_for(
        lambda: get(agent.port, CONFIG_PATH.format(app, env, prof))[2] == b'{"v": 2}',
        what="the redelivered event served",
    )
    wait_for(lambda: _drained(aws, agent), what="message deleted")


def test_an_outage_longer_than_the_visibility_timeout_keeps_the_message_hidden(
    aws: LocalAws, make_agent: MakeAgent, log_stream: io.StringIO
) -> None:
    assert aws.proxy is not None
    sec = aws.secret("long-outage-before")
    # Extended 2 s before it would expire (half the visibility timeout): a margin that holds
    # on a loaded machine too.
    agent = make_agent(CONFIG_AGENT_SECRET_IDS=sec["Name"], CONFIG_AGENT_VISIBILITY_TIMEOUT="4")
    aws.proxy.fail("GetSecretValue", status=503, code="ServiceUnavailable")
    aws.sm.put_secret_value(SecretId=sec["Name"], SecretString="long-outage-after")
    publish(aws, agent, ev.secret_api_call("PutSecretValue", sec["Name"]))
    wait_for(
        lambda: _records(log_stream, "AWS unreachable; message kept hidden, retrying"), what="held"
    )
    extensions = aws.proxy.count("ChangeMessageVisibilityBatch")
    # Three extensions (one every ~2 s): longer than the visibility timeout.
    wait_for(
        lambda: (
            aws.proxy is not None
            and aws.proxy.count("ChangeMessageVisibilityBatch") >= extensions + 3
        ),
        what="visibility extended",
    )
    assert agent.worker.queue_url is not None
    assert aws.queue_counts(agent.worker.queue_url) == (0, 1)  # never visible again meanwhile
    assert len(_records(log_stream, "AWS unreachable; message kept hidden, retrying")) == 1
    aws.proxy.clear()
    _served_then_deleted(aws, agent, sec["Name"], "long-outage-after")


def test_a_held_message_whose_receipt_is_lost_is_left_to_sqs(
    aws: LocalAws, make_agent: MakeAgent, log_stream: io.StringIO
) -> None:
    assert aws.proxy is not None
    sec = aws.secret("lost-receipt-before")
    agent = make_agent(CONFIG_AGENT_SECRET_IDS=sec["Name"], CONFIG_AGENT_MAX_RECEIVE_COUNT="10")
    aws.proxy.fail("GetSecretValue", status=503, code="ServiceUnavailable")
    # The receipt stops working (as after a redelivery): extending it fails, for good.
    aws.proxy.fail("ChangeMessageVisibilityBatch", status=400, code="ReceiptHandleIsInvalid")
    aws.sm.put_secret_value(SecretId=sec["Name"], SecretString="lost-receipt-after")
    publish(aws, agent, ev.secret_api_call("PutSecretValue", sec["Name"]))
    held = "AWS unreachable; message kept hidden, retrying"
    # SQS redelivers it after the visibility timeout, and the worker holds it again.
    records = wait_for(
        lambda: len(_records(log_stream, held)) >= 2 and _records(log_stream, held),
        what="held again after redelivery",
    )
    assert records[0]["message_id"] == records[1]["message_id"]
    aws.proxy.clear()
    _served_then_deleted(aws, agent, sec["Name"], "lost-receipt-after")


def test_a_binary_secret_is_served_base64_written_raw_and_redacted(
    aws: LocalAws, make_agent: MakeAgent, log_stream: io.StringIO, tmp_path: Path
) -> None:
    value = b"\x00\xffbinary-secret-value\x01"
    created = aws.sm.create_secret(Name="app/binary-test/key", SecretBinary=value)
    agent = make_agent(
        CONFIG_AGENT_SECRET_IDS=created["Name"], CONFIG_AGENT_OUTPUT_DIR=str(tmp_path)
    )
    doc = secret_json(agent.port, created["Name"])
    assert doc is not None and "SecretString" not in doc
    assert base64.b64decode(doc["SecretBinary"]) == value
    files = list((tmp_path / "secrets").iterdir())
    assert [f.read_bytes() for f in files] == [value]
    # Registered for redaction as it was fetched: a log line that quotes it is masked.
    logging.getLogger("config_agent.test").warning("leak %s", doc["SecretBinary"])
    assert doc["SecretBinary"] not in log_stream.getvalue()


def test_a_configuration_file_that_cannot_be_written_keeps_its_message_queued(
    aws: LocalAws, make_agent: MakeAgent, log_stream: io.StringIO, tmp_path: Path
) -> None:
    app, env, prof = aws.profile(b"cfg-1", "text/plain")
    agent = make_agent(
        **_appconfig(
            app,
            env,
            prof,
            CONFIG_AGENT_OUTPUT_DIR=str(tmp_path),
            CONFIG_AGENT_MAX_RECEIVE_COUNT="10",
        )
    )
    target = tmp_path / "configurations" / prof
    assert target.read_bytes() == b"cfg-1"
    target.unlink()
    target.mkdir()  # a directory where the file goes: the rename over it fails
    version = aws.hosted_version(app, prof, b"cfg-2", "text/plain", "v2")
    number = aws.emulator.deploy(app, env, prof, version)
    publish(aws, agent, ev.appconfig_start_deployment(app, env, prof, deployment_number=number))
    wait_for(lambda: _records(log_stream, "writing configuration file failed"), what="failed")
    # Served over HTTP all the same; the message is not deleted, so the write is retried.
    assert get(agent.port, CONFIG_PATH.format(app, env, prof))[2] == b"cfg-2"
    assert not _drained(aws, agent)
    target.rmdir()
    wait_for(
        lambda: target.is_file() and target.read_bytes() == b"cfg-2",
        what="written on redelivery",
    )
    wait_for(lambda: _drained(aws, agent), what="message deleted")


def test_a_cached_stage_that_was_moved_away_is_no_longer_served(
    aws: LocalAws, make_agent: MakeAgent, log_stream: io.StringIO
) -> None:
    sec = aws.secret("blue-v1")
    name = sec["Name"]
    blue = aws.sm.put_secret_value(SecretId=name, SecretString="blue-v2", VersionStages=["blue"])[
        "VersionId"
    ]
    agent = make_agent(CONFIG_AGENT_SECRET_IDS=name)
    path = f"/secretsmanager/get?secretId={name}&versionStage=blue"
    assert json.loads(get(agent.port, path)[2])["SecretString"] == "blue-v2"
    aws.sm.update_secret_version_stage(SecretId=name, VersionStage="blue", RemoveFromVersionId=blue)
    publish(aws, agent, ev.secret_api_call("UpdateSecretVersionStage", name))
    failed = wait_for(
        lambda: _records(log_stream, "refreshing a secret version failed"),
        what="the stage refresh refused",
    )
    assert failed[0]["stage"] == "blue" and failed[0]["serving_stale"] is False
    assert get(agent.port, path)[0] == 404  # asked again: AWS says the stage is gone
