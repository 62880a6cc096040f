"""Local AWS for the tests, the bench and the demo: moto on loopback, the AppConfig data-plane
emulator, an optional fault proxy, and builders for one service's config-pipeline resources."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NamedTuple

import boto3

from devtools import events
from devtools.emulators import AppConfigEmulator, FaultProxy
from devtools.moto_cbor import moto_server

REGION = "us-west-2"
LOOPBACK = "127.0.0.1"
_UNSET = (
    "AWS_PROFILE",
    "AWS_SESSION_TOKEN",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "http_proxy",
    "https_proxy",
)
_MOTO_PROCESS = f"""
import sys
sys.path.insert(0, {str(Path(__file__).resolve().parents[1])!r})
from devtools.moto_cbor import moto_server
server = moto_server("{LOOPBACK}", 0, serialize=sys.argv[1] == "serialize")
print(server.server_address[1], flush=True)
server.serve_forever()
"""


def use_local_credentials(access_key: str = "testing") -> None:
    """Fake credentials, the region and no HTTP proxy in os.environ: boto3 reaches loopback only
    (the caller saves and restores os.environ if it must)."""
    os.environ.update(
        {
            "AWS_ACCESS_KEY_ID": access_key,
            "AWS_SECRET_ACCESS_KEY": access_key,
            "AWS_DEFAULT_REGION": REGION,
            "AWS_REGION": REGION,
            "NO_PROXY": f"{LOOPBACK},localhost",
            "no_proxy": f"{LOOPBACK},localhost",
        }
    )
    for key in _UNSET:
        os.environ.pop(key, None)


@contextmanager
def local_aws_environ(access_key: str = "testing", **start: bool) -> Iterator[LocalAws]:
    """A started LocalAws (`start`: as for LocalAws.start) with fake credentials in os.environ
    while it runs; closed and os.environ restored afterwards."""
    saved = dict(os.environ)
    use_local_credentials(access_key)
    local = LocalAws.start(**start)
    try:
        yield local
    finally:
        local.close()
        os.environ.clear()
        os.environ.update(saved)


class Moto:
    """moto's server (behind devtools.moto_cbor's adapter) on an ephemeral loopback port: a
    thread of this process, or (`own_process`) a child process, so that a busy caller does not
    compete with it for one GIL."""

    def __init__(
        self, own_process: bool = False, log: Path | None = None, serialize: bool = False
    ) -> None:
        """`log`: where a child process writes its errors (moto's tracebacks for an API it
        lacks), instead of this process's stderr; `serialize`: moto_server's."""
        self.process: subprocess.Popen[str] | None = None
        if own_process:
            with open(log, "w") if log else contextlib.nullcontext(None) as stderr:
                self.process = subprocess.Popen(
                    [sys.executable, "-c", _MOTO_PROCESS, "serialize" if serialize else "-"],
                    stdout=subprocess.PIPE,
                    stderr=stderr,
                    text=True,
                )
            assert self.process.stdout is not None
            self.port = int(self.process.stdout.readline())
        else:
            self.server = moto_server(LOOPBACK, 0, serialize)
            self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
            self.thread.start()
            self.port = self.server.server_address[1]
        self.host = LOOPBACK
        self.endpoint = f"http://{LOOPBACK}:{self.port}"

    @property
    def pid(self) -> int:
        """The process serving moto (this one when it runs in a thread)."""
        return self.process.pid if self.process else os.getpid()

    def stop(self) -> None:
        if self.process is None:
            self.server.shutdown()
            self.thread.join()
            self.server.server_close()
            return
        self.process.terminate()
        self.process.wait(timeout=10)


class Topic(NamedTuple):
    """A service's config topic and the DLQ its agents' queues redrive to."""

    arn: str
    dlq_url: str
    dlq_arn: str


class LocalAws:
    """moto + the AppConfig emulator (+ the fault proxy), boto3 clients straight to moto (no
    faults), and one builder per resource; every name is fresh unless given."""

    def __init__(self, moto: Moto, fault_proxy: bool = True) -> None:
        self.moto = moto
        self.endpoint = moto.endpoint
        kw: dict[str, Any] = dict(endpoint_url=moto.endpoint, region_name=REGION)
        self.sqs = boto3.client("sqs", **kw)
        self.sm = boto3.client("secretsmanager", **kw)
        self.sns = boto3.client("sns", **kw)
        self.appconfig = boto3.client("appconfig", **kw)
        self.events = boto3.client("events", **kw)
        self.ecs = boto3.client("ecs", **kw)
        self.proxy = FaultProxy((moto.host, moto.port)) if fault_proxy else None
        self.emulator = AppConfigEmulator(boto3.client("appconfig", **kw))

    @classmethod
    def start(cls, own_process: bool = False, fault_proxy: bool = True) -> LocalAws:
        return cls(Moto(own_process), fault_proxy)

    def agent_environ(self, through_proxy: bool = True) -> dict[str, str]:
        """The endpoint variables (botocore honours them) that point an agent at this AWS:
        through the fault proxy if there is one and `through_proxy`, else at moto itself."""
        url = self.proxy.url if self.proxy and through_proxy else self.endpoint
        return {
            "AWS_ENDPOINT_URL": url,
            "AWS_ENDPOINT_URL_APPCONFIGDATA": self.emulator.url,
            "AWS_ENDPOINT_URL_APPCONFIG": self.emulator.url,
        }

    def close(self) -> None:
        if self.proxy:
            self.proxy.close()
        self.emulator.close()
        self.moto.stop()

    # --- resources ----------------------------------------------------------------------------
    def _queue_arn(self, url: str) -> str:
        arn: str = self.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])[
            "Attributes"
        ]["QueueArn"]
        return arn

    def queue(self, max_receive_count: int = 3, name: str | None = None) -> tuple[str, str]:
        """A queue with a DLQ (`<name>-dlq`); returns (queue url, dlq url)."""
        name = name or f"q-{uuid.uuid4().hex[:10]}"
        dlq = self.sqs.create_queue(QueueName=name + "-dlq")["QueueUrl"]
        redrive = {
            "deadLetterTargetArn": self._queue_arn(dlq),
            "maxReceiveCount": str(max_receive_count),
        }
        url = self.sqs.create_queue(
            QueueName=name, Attributes={"RedrivePolicy": json.dumps(redrive)}
        )
        return url["QueueUrl"], dlq

    def topic(self, name: str | None = None) -> Topic:
        """A service's config topic plus its DLQ (`<name>-dlq`), as the pipeline stack has."""
        name = name or f"t-{uuid.uuid4().hex[:10]}"
        arn = self.sns.create_topic(Name=name)["TopicArn"]
        dlq = self.sqs.create_queue(QueueName=name + "-dlq")["QueueUrl"]
        return Topic(arn, dlq, self._queue_arn(dlq))

    def secret(self, value: str, name: str | None = None) -> dict[str, Any]:
        """A secret (CreateSecret's answer: ARN, Name, VersionId)."""
        name = name or f"app/{uuid.uuid4().hex[:8]}/db"
        created: dict[str, Any] = self.sm.create_secret(Name=name, SecretString=value)
        return created

    def profile(
        self,
        content: bytes,
        content_type: str = "application/json",
        env_id: str = "env1234",
        profile_type: str = "AWS.Freeform",
        *,
        app_name: str | None = None,
        profile_name: str = "main",
        label: str | None = "v1",
    ) -> tuple[str, str, str]:
        """An AppConfig application + hosted profile with version 1 deployed to `env_id` (moto
        has no AppConfig environments: the emulator needs none); returns the three ids."""
        app = self.appconfig.create_application(Name=app_name or f"app-{uuid.uuid4().hex[:6]}")[
            "Id"
        ]
        prof = self.appconfig.create_configuration_profile(
            ApplicationId=app, Name=profile_name, LocationUri="hosted", Type=profile_type
        )["Id"]
        version = self.hosted_version(app, prof, content, content_type, label)
        self.emulator.deploy(app, env_id, prof, version)
        return app, env_id, prof

    def hosted_version(
        self,
        app: str,
        prof: str,
        content: bytes,
        content_type: str = "application/json",
        label: str | None = None,
    ) -> int:
        """A new hosted configuration version (not deployed); returns its number."""
        kw = {"VersionLabel": label} if label else {}
        resp = self.appconfig.create_hosted_configuration_version(
            ApplicationId=app,
            ConfigurationProfileId=prof,
            Content=content,
            ContentType=content_type,
            **kw,
        )
        return int(resp["VersionNumber"])

    # --- messages -----------------------------------------------------------------------------
    def publish(self, topic_arn: str, event: dict[str, Any]) -> None:
        """What the pipeline's EventBridge rule does: the event, unchanged, to the topic."""
        self.sns.publish(TopicArn=topic_arn, Message=events.as_message_body(event))

    def send(self, queue_url: str, body: str) -> None:
        self.sqs.send_message(QueueUrl=queue_url, MessageBody=body)

    def queue_counts(self, queue_url: str) -> tuple[int, int]:
        """(visible, in flight) messages of a queue."""
        attrs = self.sqs.get_queue_attributes(
            QueueUrl=queue_url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        return (
            int(attrs["ApproximateNumberOfMessages"]),
            int(attrs["ApproximateNumberOfMessagesNotVisible"]),
        )

    def deletes(self) -> int:
        """SQS message deletions through the fault proxy, single or batched."""
        assert self.proxy is not None, "deletions are counted by the fault proxy"
        return self.proxy.count("DeleteMessage") + self.proxy.count("DeleteMessageBatch")
