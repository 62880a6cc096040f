"""`python -m config_agent` as a real subprocess: startup, push refresh, SIGTERM exit 0."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from devtools import events as ev
from devtools.wait import wait_for
from tests.config_agent.conftest import agent_env, fanout_env, get, secret_json

ROOT = Path(__file__).resolve().parents[2]


def _spawn(env_extra: dict[str, str]) -> tuple[subprocess.Popen, list[str]]:
    env = {**os.environ, **env_extra, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "config_agent"],
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    lines: list[str] = []

    def pump() -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            lines.append(line)

    threading.Thread(target=pump, daemon=True).start()
    return proc, lines


def _port(lines: list[str]) -> int | None:
    for line in list(lines):
        doc = json.loads(line)
        if doc.get("msg") == "listening":
            return int(doc["port"])
    return None


def _sigterm_exits_zero_quickly(proc: subprocess.Popen) -> None:
    """SIGTERM while a 20 s long poll is in flight: exit 0 within 5 s."""
    started = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=10) == 0
    assert time.monotonic() - started < 5


def _reap(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.kill()
        proc.wait()


def test_subprocess_in_queue_url_mode_serves_refreshes_and_exits_zero_on_sigterm(aws):
    queue, _ = aws.queue()
    value = "proc-value-" + os.urandom(4).hex()
    sec = aws.secret(value)
    proc, lines = _spawn(
        agent_env(queue, CONFIG_AGENT_SECRET_IDS=sec["Name"], CONFIG_AGENT_WAIT_TIME_SECONDS="20")
    )
    try:
        port = wait_for(lambda: _port(lines), timeout=15, what="listening log line")
        wait_for(lambda: get(port, "/health", token=None)[0] == 200, what="healthy")
        assert secret_json(port, sec["Name"])["SecretString"] == value
        aws.sm.put_secret_value(SecretId=sec["Name"], SecretString=value + "-2")
        aws.send(queue, ev.as_message_body(ev.secret_api_call("PutSecretValue", sec["Name"])))
        wait_for(lambda: secret_json(port, sec["Name"])["SecretString"] == value + "-2")
        _sigterm_exits_zero_quickly(proc)
    finally:
        _reap(proc)
    text = "".join(lines)
    assert '"msg":"stopped"' in text
    assert value not in text
    for line in lines:
        json.loads(line)  # every line is one JSON object


def test_subprocess_bad_settings_exit_2_with_clear_error():
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONFIG_AGENT_")}
    env["PYTHONPATH"] = str(ROOT)
    result = subprocess.run(
        [sys.executable, "-m", "config_agent"],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2
    assert "CONFIG_AGENT_QUEUE_URL is required" in result.stderr


def test_subprocess_fanout_sigterm_exits_zero_and_leaves_its_queue_to_the_reaper(aws):
    topic = aws.topic()
    sec = aws.secret("proc-fanout-" + os.urandom(4).hex())
    env = fanout_env(
        topic,
        "proc-" + os.urandom(3).hex() + "-",
        CONFIG_AGENT_SECRET_IDS=sec["Name"],
        CONFIG_AGENT_WAIT_TIME_SECONDS="20",
    )
    proc, lines = _spawn(env)
    try:
        port = wait_for(lambda: _port(lines), timeout=15, what="listening log line")
        wait_for(lambda: get(port, "/health", token=None)[0] == 200, what="healthy")
        subs = aws.sns.list_subscriptions_by_topic(TopicArn=topic.arn)["Subscriptions"]
        assert len(subs) == 1
        aws.sm.put_secret_value(SecretId=sec["Name"], SecretString="proc-fanout-after")
        aws.publish(topic.arn, ev.secret_api_call("PutSecretValue", sec["Name"]))
        wait_for(lambda: secret_json(port, sec["Name"])["SecretString"] == "proc-fanout-after")
        _sigterm_exits_zero_quickly(proc)
    finally:
        _reap(proc)
    # The task role may not delete queues or subscriptions: the config stack's reaper does,
    # once ECS reports the task STOPPED (tests/reaper/).
    assert aws.sns.list_subscriptions_by_topic(TopicArn=topic.arn)["Subscriptions"] == subs
    queue_name = subs[0]["Endpoint"].rsplit(":", 1)[-1]
    assert aws.sqs.list_queues(QueueNamePrefix=queue_name).get("QueueUrls")
    assert '"msg":"stopped"' in "".join(lines)


def test_subprocess_on_ecs_without_a_task_id_exits_non_zero(aws):
    """Issue 27 item 2: the task metadata endpoint never answers, so there is no task id; the
    agent must not run under an invented one (ECS restarts a container that exits)."""
    env = fanout_env(
        aws.topic(),
        CONFIG_AGENT_SECRET_IDS="unused",
        ECS_CONTAINER_METADATA_URI_V4="http://127.0.0.1:1/v4/none",
    )
    proc, lines = _spawn(env)
    try:
        assert proc.wait(timeout=60) == 1
    finally:
        _reap(proc)
    wait_for(
        lambda: any("task metadata gives no task id; exiting" in line for line in lines),
        what="the reason is logged",
    )
