"""Session-wide local AWS (devtools: moto, fault proxy, AppConfig emulator) and agent fixtures."""

from __future__ import annotations

import http.client
import io
import json
import logging
import os
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from config_agent import logs
from config_agent.agent import Agent
from config_agent.settings import Settings
from devtools.local_aws import LocalAws, Topic, local_aws_environ
from devtools.wait import wait_for

TOKEN = "test-token-0123456789abcdef"


@pytest.fixture(scope="session")
def aws() -> Iterator[LocalAws]:
    """moto + fault proxy + AppConfig emulator; agents in this process reach AWS through the
    proxy (the endpoint variables botocore honours), test code talks to moto directly."""
    with local_aws_environ() as local:
        os.environ.update(local.agent_environ())
        yield local


@pytest.fixture(autouse=True)
def _clean_faults(request: pytest.FixtureRequest) -> Iterator[None]:
    yield
    if "aws" in request.fixturenames:
        aws_: LocalAws = request.getfixturevalue("aws")
        aws_.proxy.clear()
        aws_.emulator.clear()


@pytest.fixture
def log_stream() -> Iterator[io.StringIO]:
    """Everything the agent logs during a test, formatted exactly as in production."""
    stream = io.StringIO()
    logs.setup("DEBUG", stream)
    yield stream
    logging.getLogger().handlers.clear()


def agent_env(queue_url: str = "", **extra: str) -> dict[str, str]:
    """Short timeouts and free ports for a test agent; queue-URL mode if `queue_url` is set."""
    env = {
        "CONFIG_AGENT_QUEUE_URL": queue_url,
        "CONFIG_AGENT_TOKEN": TOKEN,
        "CONFIG_AGENT_PORT": "0",
        "CONFIG_AGENT_SECRETS_PORT": "0",
        "CONFIG_AGENT_WAIT_TIME_SECONDS": "2",
        "CONFIG_AGENT_VISIBILITY_TIMEOUT": "2",
        "CONFIG_AGENT_MAX_RETRIES": "2",
        "CONFIG_AGENT_BACKOFF_BASE_SECONDS": "0.01",
        "CONFIG_AGENT_BACKOFF_MAX_SECONDS": "0.05",
        "CONFIG_AGENT_AWS_TIMEOUT_SECONDS": "2",
        "CONFIG_AGENT_MISSING_RETRY_SECONDS": "0.5",
        "CONFIG_AGENT_DEPLOYMENT_RECHECK_SECONDS": "0.3",
        "CONFIG_AGENT_DEPLOYMENT_MAX_WAIT_SECONDS": "10",
        "CONFIG_AGENT_SHUTDOWN_GRACE_SECONDS": "2",
    }
    env.update(extra)
    return env


def fanout_env(topic: Topic, prefix: str | None = None, **extra: str) -> dict[str, str]:
    """Fan-out mode (the mode the stacks deploy): each agent creates its own queue (redriving to
    the topic's DLQ) and subscribes it to `topic`; a fresh queue-name prefix unless given."""
    return agent_env(
        CONFIG_AGENT_TOPIC_ARN=topic.arn,
        CONFIG_AGENT_DLQ_ARN=topic.dlq_arn,
        CONFIG_AGENT_QUEUE_PREFIX=prefix or f"cfg-{uuid.uuid4().hex[:6]}-",
        **extra,
    )


def publish(aws: LocalAws, agent: Agent, event: dict[str, Any]) -> None:
    """What the pipeline's EventBridge rule does: `event` to the topic of `agent`'s service,
    which SNS delivers to every agent's own queue (raw delivery, as the agent subscribes)."""
    aws.publish(agent.settings.topic_arn, event)


@pytest.fixture
def make_agent(aws: LocalAws, log_stream: io.StringIO) -> Iterator[Callable[..., Agent]]:
    """`make_agent(**CONFIG_AGENT_...)`: an in-process agent in fan-out mode on a fresh topic
    (or `topic=`, shared by several agents); `queue_url=` for queue-URL mode instead."""
    agents: list[Agent] = []

    def _make(
        *,
        queue_url: str = "",
        topic: Topic | None = None,
        prefix: str | None = None,
        start: bool = True,
        wait_healthy: bool = True,
        **extra: str,
    ) -> Agent:
        assert not (queue_url and topic), "queue-URL mode has no topic"
        env = (
            agent_env(queue_url, **extra)
            if queue_url
            else fanout_env(topic or aws.topic(), prefix, **extra)
        )
        agent = Agent(Settings.from_env(env))
        agents.append(agent)
        if start:
            agent.start()
            if wait_healthy:
                wait_for(lambda: agent.health()[0] == 200, what="agent healthy")
        return agent

    yield _make
    for agent in agents:
        agent.shutdown()


def get(
    port: int, path: str, token: str | None = TOKEN, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        hdrs = dict(headers or {})
        if token is not None:
            hdrs["X-Aws-Parameters-Secrets-Token"] = token
        conn.request("GET", path, headers=hdrs)
        resp = conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
    finally:
        conn.close()


def secret_json(port: int, secret_id: str) -> dict[str, Any] | None:
    from urllib.parse import quote

    status, _, body = get(port, f"/secretsmanager/get?secretId={quote(secret_id, safe='')}")
    return json.loads(body) if status == 200 else None


@pytest.fixture
def agent(aws: LocalAws, make_agent: Callable[..., Agent]) -> Agent:
    """An agent serving one secret (`agent.secret_name`, value "http-value"): the HTTP tests'."""
    sec = aws.secret("http-value")
    agent = make_agent(CONFIG_AGENT_SECRET_IDS=sec["Name"])
    agent.secret_name = sec["Name"]  # type: ignore[attr-defined]
    return agent
