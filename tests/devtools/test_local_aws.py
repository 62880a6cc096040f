"""The local AWS builders: what they create is what the config pipeline stack has."""

from __future__ import annotations

import ast
import json
import sys
from pathlib import Path

from devtools import events
from devtools.local_aws import LocalAws, Moto

DEVTOOLS = Path(__file__).resolve().parents[2] / "devtools"
# werkzeug: moto[server]'s HTTP server, which devtools.moto_cbor builds as moto does
ALLOWED = {"boto3", "botocore", "moto", "werkzeug", "config_agent", "devtools"}


def test_a_published_event_reaches_a_raw_delivery_queue_unchanged(local_aws):
    topic = local_aws.topic()
    assert local_aws.queue_counts(topic.dlq_url) == (0, 0)
    assert topic.dlq_arn.endswith(":" + topic.dlq_url.rsplit("/", 1)[1])
    url, _ = local_aws.queue()
    arn = local_aws.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])[
        "Attributes"
    ]["QueueArn"]
    local_aws.sns.subscribe(
        TopicArn=topic.arn, Protocol="sqs", Endpoint=arn, Attributes={"RawMessageDelivery": "true"}
    )
    event = events.secret_api_call("PutSecretValue", "app/db")
    local_aws.publish(topic.arn, event)
    (message,) = local_aws.sqs.receive_message(QueueUrl=url, WaitTimeSeconds=1)["Messages"]
    assert json.loads(message["Body"]) == event


def test_moto_in_its_own_process_serves_and_stops(local_aws):
    moto = Moto(own_process=True)
    try:
        assert moto.pid != local_aws.moto.pid
        other = LocalAws(moto, fault_proxy=False)
        assert other.proxy is None
        assert other.agent_environ()["AWS_ENDPOINT_URL"] == moto.endpoint
        assert other.secret("in-another-process")["Name"]
        other.emulator.close()
    finally:
        moto.stop()
    assert moto.process is not None and moto.process.returncode is not None


def test_devtools_imports_only_the_standard_library_boto3_moto_server_and_the_agent():
    """Shared by the tests, the bench and the demo: no pytest, no cdktf, no test code."""
    found = set()
    for path in DEVTOOLS.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                found |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                found.add(node.module.split(".")[0])
    assert found - set(sys.stdlib_module_names) - ALLOWED == set()
    assert {"boto3", "devtools"} <= found  # the walk saw the imports
