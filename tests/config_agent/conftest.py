"""Session-wide moto server (loopback), fault proxy and AppConfig data-plane emulator."""

from __future__ import annotations

import http.client
import io
import json
import logging
import os
import time
import uuid
from typing import Any, Callable, Iterator

import boto3
import pytest
from moto.server import ThreadedMotoServer

from config_agent import logs
from config_agent.agent import Agent
from config_agent.settings import Settings
from tests.config_agent.fakes import AppConfigEmulator, FaultProxy

REGION = "us-west-2"
TOKEN = "test-token-0123456789abcdef"


class Aws:
    """What tests need: moto clients (direct, no faults) plus the proxy and emulator."""

    def __init__(self, endpoint: str, proxy: FaultProxy, emulator: AppConfigEmulator) -> None:
        self.endpoint = endpoint
        self.proxy = proxy
        self.emulator = emulator
        kw = dict(endpoint_url=endpoint, region_name=REGION)
        self.sqs = boto3.client("sqs", **kw)
        self.sm = boto3.client("secretsmanager", **kw)
        self.appconfig = boto3.client("appconfig", **kw)
        self.events = boto3.client("events", **kw)
        self.sns = boto3.client("sns", **kw)
        self.ecs = boto3.client("ecs", **kw)

    def queue(self, max_receive_count: int = 3) -> tuple[str, str]:
        """A fresh queue (with a DLQ) per test; returns (queue url, dlq url)."""
        name = f"q-{uuid.uuid4().hex[:10]}"
        dlq = self.sqs.create_queue(QueueName=name + "-dlq")["QueueUrl"]
        dlq_arn = self.sqs.get_queue_attributes(
            QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        url = self.sqs.create_queue(QueueName=name, Attributes={"RedrivePolicy": json.dumps(
            {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": str(max_receive_count)})})
        return url["QueueUrl"], dlq

    def topic(self) -> tuple[str, str, str]:
        """A fresh service topic plus its DLQ; returns (topic arn, dlq url, dlq arn)."""
        name = f"t-{uuid.uuid4().hex[:10]}"
        topic = self.sns.create_topic(Name=name)["TopicArn"]
        dlq = self.sqs.create_queue(QueueName=name + "-dlq")["QueueUrl"]
        dlq_arn = self.sqs.get_queue_attributes(
            QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        return topic, dlq, dlq_arn

    def secret(self, value: str, name: str | None = None) -> dict[str, Any]:
        name = name or f"app/{uuid.uuid4().hex[:8]}/db"
        return self.sm.create_secret(Name=name, SecretString=value)

    def profile(self, content: bytes, content_type: str = "application/json",
                env_id: str = "env1234",
                profile_type: str = "AWS.Freeform") -> tuple[str, str, str]:
        """An AppConfig app + profile with hosted version 1 deployed; returns ids."""
        app = self.appconfig.create_application(Name=f"app-{uuid.uuid4().hex[:6]}")["Id"]
        prof = self.appconfig.create_configuration_profile(
            ApplicationId=app, Name="main", LocationUri="hosted", Type=profile_type)["Id"]
        self.hosted_version(app, prof, content, content_type, "v1")
        self.emulator.deploy(app, env_id, prof, 1)
        return app, env_id, prof

    def hosted_version(self, app: str, prof: str, content: bytes,
                       content_type: str = "application/json", label: str | None = None) -> int:
        kw = {"VersionLabel": label} if label else {}
        resp = self.appconfig.create_hosted_configuration_version(
            ApplicationId=app, ConfigurationProfileId=prof, Content=content,
            ContentType=content_type, **kw)
        return int(resp["VersionNumber"])

    def deletes(self) -> int:
        """SQS message deletions through the proxy, single or batched."""
        return self.proxy.count("DeleteMessage") + self.proxy.count("DeleteMessageBatch")

    def send(self, queue_url: str, body: str) -> None:
        self.sqs.send_message(QueueUrl=queue_url, MessageBody=body)

    def queue_counts(self, queue_url: str) -> tuple[int, int]:
        attrs = self.sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=[
            "ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"])["Attributes"]
        return (int(attrs["ApproximateNumberOfMessages"]),
                int(attrs["ApproximateNumberOfMessagesNotVisible"]))


@pytest.fixture(scope="session")
def aws() -> Iterator[Aws]:
    saved = dict(os.environ)
    os.environ.update({
        "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": REGION, "AWS_REGION": REGION,
        "NO_PROXY": "127.0.0.1,localhost", "no_proxy": "127.0.0.1,localhost",
    })
    for key in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "HTTP_PROXY", "HTTPS_PROXY",
                "http_proxy", "https_proxy"):
        os.environ.pop(key, None)
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # moto's access log
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    proxy = FaultProxy((host, port))
    emulator = AppConfigEmulator(boto3.client("appconfig", endpoint_url=endpoint,
                                              region_name=REGION))
    # The agent under test finds its endpoints the standard way (botocore honours these).
    os.environ["AWS_ENDPOINT_URL"] = proxy.url
    os.environ["AWS_ENDPOINT_URL_APPCONFIGDATA"] = emulator.url
    os.environ["AWS_ENDPOINT_URL_APPCONFIG"] = emulator.url
    try:
        yield Aws(endpoint, proxy, emulator)
    finally:
        proxy.close()
        emulator.close()
        server.stop()
        os.environ.clear()
        os.environ.update(saved)


@pytest.fixture(autouse=True)
def _clean_faults(request: pytest.FixtureRequest) -> Iterator[None]:
    yield
    if "aws" in request.fixturenames:
        aws_: Aws = request.getfixturevalue("aws")
        aws_.proxy.clear()
        aws_.emulator.clear()


@pytest.fixture
def log_stream() -> Iterator[io.StringIO]:
    """Everything the agent logs during a test, formatted exactly as in production."""
    stream = io.StringIO()
    logs.setup("DEBUG", stream)
    yield stream
    logging.getLogger().handlers.clear()


def agent_env(queue_url: str, **extra: str) -> dict[str, str]:
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


def fanout_env(topic: str, dlq_arn: str, prefix: str | None = None,
               **extra: str) -> dict[str, str]:
    """Fan-out mode (the mode the stacks deploy): an own queue per agent on `topic`."""
    return {"CONFIG_AGENT_TOPIC_ARN": topic, "CONFIG_AGENT_DLQ_ARN": dlq_arn,
            "CONFIG_AGENT_QUEUE_PREFIX": prefix or f"cfg-{uuid.uuid4().hex[:6]}-", **extra}


@pytest.fixture
def make_agent(aws: Aws, log_stream: io.StringIO) -> Iterator[Callable[..., Agent]]:
    agents: list[Agent] = []

    def _make(queue_url: str, *, start: bool = True, wait_healthy: bool = True,
              **extra: str) -> Agent:
        agent = Agent(Settings.from_env(agent_env(queue_url, **extra)))
        agents.append(agent)
        if start:
            agent.start()
            if wait_healthy:
                wait_for(lambda: agent.health()[0] == 200, what="agent healthy")
        return agent

    yield _make
    for agent in agents:
        agent.shutdown()


def wait_for(predicate: Callable[[], Any], timeout: float = 8.0, interval: float = 0.02,
             what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(interval)


def get(port: int, path: str, token: str | None = TOKEN,
        headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
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
