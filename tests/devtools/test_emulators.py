"""The loopback emulators themselves: the AppConfig data plane's session rules, fault injection,
and a client hanging up being routine, not a traceback in CI."""

from __future__ import annotations

import socket
import struct
import threading

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from devtools.emulators import AppConfigEmulator, AwsHandler, FaultProxy, LoopbackService
from devtools.local_aws import REGION, LocalAws
from devtools.wait import wait_for


class _BlockingUpstream(LoopbackService):
    """Answers every POST only once `release` is set: the proxy's client is gone by then."""

    def __init__(self) -> None:
        super().__init__()
        self.release = threading.Event()
        self.received = threading.Event()
        outer = self

        class Handler(AwsHandler):
            def do_POST(self) -> None:  # noqa: N802
                self._body()
                outer.received.set()
                outer.release.wait(10)
                self._reply(200, b"{}")

        self._serve(Handler)

    def close(self) -> None:
        self.release.set()
        super().close()


def test_client_hanging_up_prints_no_traceback(capsys):
    upstream = _BlockingUpstream()
    proxy = FaultProxy(upstream.server.server_address[:2])
    try:
        client = socket.create_connection(proxy.server.server_address[:2])
        client.sendall(
            b"POST / HTTP/1.1\r\nHost: x\r\nX-Amz-Target: AmazonSQS.ReceiveMessage"
            b"\r\nContent-Length: 2\r\n\r\n{}"
        )
        assert upstream.received.wait(5)
        # Close with RST (linger 0), as a killed process does: the proxy's answer then fails.
        client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        client.close()
        upstream.release.set()
        wait_for(lambda: proxy.server.dropped == 1, what="the hang-up counted")
    finally:
        proxy.close()
        upstream.close()
    err = capsys.readouterr().err
    assert "Traceback" not in err and "BrokenPipe" not in err and "ConnectionReset" not in err


# --- AppConfig data plane ---------------------------------------------------------------------


def _data_plane(emulator: AppConfigEmulator):
    return boto3.client("appconfigdata", endpoint_url=emulator.url, region_name=REGION)


def _session(local: LocalAws, ids: tuple[str, str, str], interval: int = 15) -> str:
    app, env, prof = ids
    return _data_plane(local.emulator).start_configuration_session(
        ApplicationIdentifier=app,
        EnvironmentIdentifier=env,
        ConfigurationProfileIdentifier=prof,
        RequiredMinimumPollIntervalInSeconds=interval,
    )["InitialConfigurationToken"]


def _code(info: pytest.ExceptionInfo[ClientError]) -> str:
    return info.value.response["Error"]["Code"]


def test_tokens_are_single_use_and_the_poll_interval_is_enforced(local_aws):
    ids = local_aws.profile(b'{"v": 1}')
    data = _data_plane(local_aws.emulator)
    first = data.get_latest_configuration(ConfigurationToken=_session(local_aws, ids))
    assert first["Configuration"].read() == b'{"v": 1}' and first["VersionLabel"] == "v1"
    assert first["NextPollIntervalInSeconds"] == 15
    token = first["NextPollConfigurationToken"]
    with pytest.raises(ClientError) as info:  # polled again within the 15 s minimum
        data.get_latest_configuration(ConfigurationToken=token)
    assert _code(info) == "BadRequestException"
    with pytest.raises(ClientError) as info:  # the token was used up by the refused poll
        data.get_latest_configuration(ConfigurationToken=token)
    assert _code(info) == "BadRequestException"


def test_only_a_changed_version_has_a_body(local_aws):
    local_aws.emulator.enforce_poll_interval = False
    try:
        app, env, prof = ids = local_aws.profile(b"one", "text/plain")
        data = _data_plane(local_aws.emulator)
        token = data.get_latest_configuration(ConfigurationToken=_session(local_aws, ids))[
            "NextPollConfigurationToken"
        ]
        same = data.get_latest_configuration(ConfigurationToken=token)
        assert same["Configuration"].read() == b""
        version = local_aws.hosted_version(app, prof, b"two", "text/plain")
        local_aws.emulator.deploy(app, env, prof, version)
        changed = data.get_latest_configuration(
            ConfigurationToken=same["NextPollConfigurationToken"]
        )
        assert (changed["Configuration"].read(), changed["ContentType"]) == (b"two", "text/plain")
    finally:
        local_aws.emulator.enforce_poll_interval = True


def test_a_gradual_deployment_shows_the_old_content_until_revealed(local_aws):
    app, env, prof = ids = local_aws.profile(b"old")
    version = local_aws.hosted_version(app, prof, b"new")
    number = local_aws.emulator.deploy(
        app, env, prof, version, visible_after=float("inf"), complete_after=float("inf")
    )
    data = _data_plane(local_aws.emulator)
    control = boto3.client("appconfig", endpoint_url=local_aws.emulator.url, region_name=REGION)
    deployment = dict(ApplicationId=app, EnvironmentId=env, DeploymentNumber=number)
    assert control.get_deployment(**deployment)["State"] == "DEPLOYING"
    assert (
        data.get_latest_configuration(ConfigurationToken=_session(local_aws, ids))[
            "Configuration"
        ].read()
        == b"old"
    )
    local_aws.emulator.reveal(app, env, number)
    assert (
        data.get_latest_configuration(ConfigurationToken=_session(local_aws, ids))[
            "Configuration"
        ].read()
        == b"new"
    )
    with pytest.raises(ClientError) as info:
        control.get_deployment(**{**deployment, "DeploymentNumber": number + 1000})
    assert _code(info) == "ResourceNotFoundException"


def test_feature_flags_are_served_evaluated(local_aws):
    stored = (
        b'{"version": "1", "flags": {"a": {"name": "A"}, "b": {"name": "B"}},'
        b' "values": {"a": {"enabled": true, "limit": 3, "_note": "x"}}}'
    )
    ids = local_aws.profile(stored, profile_type="AWS.AppConfig.FeatureFlags")
    body = (
        _data_plane(local_aws.emulator)
        .get_latest_configuration(ConfigurationToken=_session(local_aws, ids))["Configuration"]
        .read()
    )
    assert body == b'{"a": {"enabled": true, "limit": 3}, "b": {"enabled": false}}'


# --- fault proxy ------------------------------------------------------------------------------


def test_the_proxy_counts_and_injects_faults_per_operation(local_aws):
    assert local_aws.proxy is not None
    sqs = boto3.client(
        "sqs",
        endpoint_url=local_aws.proxy.url,
        region_name=REGION,
        config=Config(retries={"total_max_attempts": 1}),
    )
    url, _ = local_aws.queue()
    before = local_aws.proxy.count("GetQueueAttributes")
    local_aws.proxy.fail("GetQueueAttributes", status=400, code="ThrottlingException", times=1)
    with pytest.raises(ClientError) as info:
        sqs.get_queue_attributes(QueueUrl=url)
    assert _code(info) == "ThrottlingException"
    sqs.get_queue_attributes(QueueUrl=url)  # the fault was for one call only
    sqs.list_queues()  # other operations never were affected
    assert local_aws.proxy.count("GetQueueAttributes") == before + 2
    local_aws.proxy.outage = "503"
    with pytest.raises(ClientError) as info:
        sqs.list_queues()
    assert _code(info) == "ServiceUnavailable"
