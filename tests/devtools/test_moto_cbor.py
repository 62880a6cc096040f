"""devtools.moto_cbor: CloudWatch over Smithy RPC v2 CBOR (what hashicorp/aws's Go SDK speaks)
reaches moto, and moto on its own still answers that protocol with 404."""

from __future__ import annotations

import datetime
import threading
import urllib.error
import urllib.request
from typing import Any

import botocore.session
import pytest
from botocore.exceptions import ClientError

from devtools.local_aws import Moto
from devtools.moto_cbor import RPC_V2_CBOR, ServiceModels, one_call_at_a_time


@pytest.fixture(scope="module")
def moto():
    server = Moto()
    yield server
    server.stop()


def cbor_client(service: str, endpoint: str) -> Any:
    """A botocore client that speaks RPC v2 CBOR, as the Go SDK does (botocore itself prefers
    the JSON protocol where a model offers both)."""
    session = botocore.session.get_session()
    loader = session.get_component("data_loader")
    load = loader.load_service_model

    def cbor_only(name: str, type_name: str, api_version: str | None = None) -> Any:
        model = load(name, type_name, api_version)
        if type_name == "service-2":
            metadata = {**model["metadata"], "protocols": ["smithy-rpc-v2-cbor"]}
            model = {**model, "metadata": metadata}
        return model

    loader.load_service_model = cbor_only
    return session.create_client(
        service,
        endpoint_url=endpoint,
        region_name="us-west-2",
        aws_access_key_id="k",
        aws_secret_access_key="k",
    )


def test_cloudwatch_alarms_and_dashboards_round_trip_over_cbor(moto):
    cw = cbor_client("cloudwatch", moto.endpoint)
    sent: list[str] = []
    cw.meta.events.register(
        "before-send", lambda request, **_: sent.append(request.headers["smithy-protocol"].decode())
    )
    cw.put_metric_alarm(
        AlarmName="cbor-alarm",
        Namespace="AWS/SQS",
        MetricName="ApproximateNumberOfMessagesVisible",
        Dimensions=[{"Name": "QueueName", "Value": "q"}],
        Statistic="Maximum",
        Period=60,
        EvaluationPeriods=1,
        Threshold=0,
        ComparisonOperator="GreaterThanThreshold",
        Tags=[{"Key": "env", "Value": "dev"}],
    )
    (alarm,) = cw.describe_alarms(AlarmNames=["cbor-alarm"])["MetricAlarms"]
    assert alarm["Dimensions"] == [{"Name": "QueueName", "Value": "q"}]
    assert alarm["Threshold"] == 0.0
    assert isinstance(alarm["AlarmConfigurationUpdatedTimestamp"], datetime.datetime)
    tags = cw.list_tags_for_resource(ResourceARN=alarm["AlarmArn"])["Tags"]
    assert tags == [{"Key": "env", "Value": "dev"}]
    cw.put_dashboard(DashboardName="cbor-board", DashboardBody='{"widgets": []}')
    assert cw.get_dashboard(DashboardName="cbor-board")["DashboardBody"] == '{"widgets": []}'
    cw.delete_alarms(AlarmNames=["cbor-alarm"])
    assert cw.describe_alarms(AlarmNames=["cbor-alarm"])["MetricAlarms"] == []
    assert set(sent) == {RPC_V2_CBOR}


def test_an_error_keeps_its_code_and_status_over_cbor(moto):
    cw = cbor_client("cloudwatch", moto.endpoint)
    with pytest.raises(ClientError) as raised:
        cw.get_dashboard(DashboardName="no-such-board")
    assert raised.value.response["Error"]["Code"] == "ResourceNotFound"
    assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404


def test_json_callers_are_untouched(moto):
    session = botocore.session.get_session()
    cw = session.create_client(
        "cloudwatch",
        endpoint_url=moto.endpoint,
        region_name="us-west-2",
        aws_access_key_id="k",
        aws_secret_access_key="k",
    )
    assert cw.meta.service_model.resolved_protocol == "json"
    cw.put_dashboard(DashboardName="json-board", DashboardBody='{"widgets": []}')
    names = [d["DashboardName"] for d in cw.list_dashboards()["DashboardEntries"]]
    assert "json-board" in names


def test_moto_alone_still_has_no_cbor_route():
    """When this fails, moto speaks CBOR itself: devtools.moto_cbor can go."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        port = server.get_host_and_port()[1]
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/service/GraniteServiceVersion20100801/operation/ListDashboards",
            data=b"\xa0",  # an empty CBOR map
            headers={
                "smithy-protocol": RPC_V2_CBOR,
                "Content-Type": "application/cbor",
                "Authorization": "AWS4-HMAC-SHA256 Credential=k/20260101/us-west-2/monitoring/"
                "aws4_request, SignedHeaders=host, Signature=0",
            },
        )
        with pytest.raises(urllib.error.HTTPError) as raised:
            urllib.request.urlopen(request, timeout=30)
        assert raised.value.code == 404
    finally:
        server.stop()


def test_calls_that_arrive_together_all_wait_for_the_one_model_scan():
    """moto's server is threaded: a call during the first (5 s) scan must not see it half done."""
    models = ServiceModels()
    start = threading.Barrier(4)
    found: list[object] = []

    def first_call() -> None:
        start.wait(timeout=30)
        found.append(models.operation("GraniteServiceVersion20100801", "PutMetricAlarm"))

    threads = [threading.Thread(target=first_call) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert len(found) == 4 and all(op is not None for op in found)
    assert models.operation("GraniteServiceVersion20100801", "NoSuchOperation") is None


def test_one_call_at_a_time_never_lets_two_calls_overlap():
    """Two calls that could both be inside the app at once would meet at the barrier; in
    turn, the first one breaks it after its timeout and the second finds it broken."""
    meeting = threading.Barrier(2)
    met: list[bool] = []

    def app(environ, start_response):
        try:
            meeting.wait(timeout=2)
            met.append(True)
        except threading.BrokenBarrierError:
            met.append(False)
        start_response("200 OK", [])
        return [b"ok"]

    serialized = one_call_at_a_time(app)
    threads = [threading.Thread(target=lambda: serialized({}, lambda *_: None)) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert met == [False, False]
