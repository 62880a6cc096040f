"""Unit tests: settings, message parsing/matching, redaction, retries, atomic files."""

from __future__ import annotations

import dataclasses
import io
import json
import logging
import os
import stat
import threading

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError

from config_agent import contract, logs
from config_agent.aws import Aws, AwsError, classify
from config_agent.cache import MAX_SELECTED_PER_SECRET, Cache
from config_agent.events import DeploymentStarted, MessageError, SecretChanged, parse
from config_agent.output import OutputDir, safe_name, write_atomic
from config_agent.settings import ProfileRef, Settings, SettingsError
from config_agent.sources import SecretValue
from devtools import events as ev

BASE = {
    "CONFIG_AGENT_QUEUE_URL": "https://sqs.eu-west-1.amazonaws.com/111111111111/q",
    "CONFIG_AGENT_TOKEN": "tok-123",
    "CONFIG_AGENT_SECRET_IDS": "a, b ,,a",
}


# --- settings -------------------------------------------------------------------------------


def test_settings_defaults_and_parsing():
    s = Settings.from_env(BASE)
    assert s.secret_ids == ("a", "b") and s.port == 2772 and s.wait_time_seconds == 20
    assert s.safety_refresh_seconds == 0 and s.output_dir is None
    assert "tok-123" not in repr(s)
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.port = 1


def test_settings_appconfig_group_and_profiles():
    s = Settings.from_env(
        {
            **BASE,
            "CONFIG_AGENT_APPCONFIG_APPLICATION": "shop",
            "CONFIG_AGENT_APPCONFIG_ENVIRONMENT": "prod",
            "CONFIG_AGENT_APPCONFIG_PROFILE": "main,flags",
        }
    )
    assert s.profiles == (ProfileRef("shop", "prod", "main"), ProfileRef("shop", "prod", "flags"))


@pytest.mark.parametrize(
    ("extra", "needle"),
    [
        ({"CONFIG_AGENT_QUEUE_URL": ""}, "QUEUE_URL is required"),
        ({"CONFIG_AGENT_QUEUE_URL": "sqs://x"}, "QUEUE_URL"),
        ({"CONFIG_AGENT_TOKEN": ""}, "CONFIG_AGENT_TOKEN_FILE or AWS_TOKEN is required"),
        ({"AWS_TOKEN": "tok-2"}, "only one of CONFIG_AGENT_TOKEN and AWS_TOKEN"),
        ({"CONFIG_AGENT_SECRETS_PORT": "2772"}, "CONFIG_AGENT_SECRETS_PORT must differ"),
        ({"CONFIG_AGENT_SECRETS_PORT": "none"}, "CONFIG_AGENT_SECRETS_PORT must be an integer"),
        ({"CONFIG_AGENT_APPCONFIG_REQUIRE_TOKEN": "no"}, "must be true or false"),
        ({"CONFIG_AGENT_TOKEN_FILE": "/nonexistent/token"}, "TOKEN"),
        ({"CONFIG_AGENT_PORT": "http"}, "CONFIG_AGENT_PORT must be an integer"),
        ({"CONFIG_AGENT_PORT": "70000"}, "CONFIG_AGENT_PORT must be between"),
        ({"CONFIG_AGENT_WAIT_TIME_SECONDS": "21"}, "WAIT_TIME_SECONDS"),
        ({"CONFIG_AGENT_MAX_RETRIES": "-1"}, "MAX_RETRIES"),
        ({"CONFIG_AGENT_SECRET_IDS": "bad name"}, "SECRET_IDS"),
        ({"CONFIG_AGENT_SECRET_IDS": ""}, "nothing to serve"),
        ({"CONFIG_AGENT_APPCONFIG_APPLICATION": "a"}, "must be set together"),
        ({"CONFIG_AGENT_OUTPUT_DIR": "relative/dir"}, "absolute"),
        ({"CONFIG_AGENT_LOG_LEVEL": "loud"}, "LOG_LEVEL"),
    ],
)
def test_settings_errors_name_the_variable(extra, needle):
    with pytest.raises(SettingsError) as info:
        Settings.from_env({**BASE, **extra})
    assert needle in str(info.value)
    assert "tok-123" not in str(info.value)


def test_settings_ports_and_token_defaults():
    s = Settings.from_env(BASE)
    assert (s.port, s.secrets_port, s.appconfig_require_token) == (2772, 2773, True)
    assert Settings.from_env({**BASE, "CONFIG_AGENT_SECRETS_PORT": "off"}).secrets_port is None
    assert not Settings.from_env(
        {**BASE, "CONFIG_AGENT_APPCONFIG_REQUIRE_TOKEN": "FALSE"}
    ).appconfig_require_token


def test_settings_aws_token_value_or_file_url(tmp_path):
    env = {k: v for k, v in BASE.items() if k != "CONFIG_AGENT_TOKEN"}
    assert Settings.from_env({**env, "AWS_TOKEN": "sm-agent-token"}).token == "sm-agent-token"
    path = tmp_path / "token"
    path.write_text("from-aws-token-file\n")
    assert Settings.from_env({**env, "AWS_TOKEN": f"file://{path}"}).token == "from-aws-token-file"
    with pytest.raises(SettingsError, match="AWS_TOKEN cannot be read"):
        Settings.from_env({**env, "AWS_TOKEN": "file:///nonexistent/token"})


def test_settings_token_file(tmp_path):
    path = tmp_path / "token"
    path.write_text("from-file-token\n")
    env = {k: v for k, v in BASE.items() if k != "CONFIG_AGENT_TOKEN"}
    assert (
        Settings.from_env({**env, "CONFIG_AGENT_TOKEN_FILE": str(path)}).token == "from-file-token"
    )
    with pytest.raises(SettingsError, match="only one"):
        Settings.from_env({**BASE, "CONFIG_AGENT_TOKEN_FILE": str(path)})


# --- events ---------------------------------------------------------------------------------

ARN = ev.secret_arn("us-west-2", "111111111111", "app/db")


@pytest.mark.parametrize("name", contract.SECRET_API_CALLS)
def test_parse_secret_api_calls(name):
    assert parse(ev.as_message_body(ev.secret_api_call(name, "app/db"))) == SecretChanged("app/db")
    assert parse(ev.as_message_body(ev.secret_api_call(name, ARN))) == SecretChanged(ARN)


def test_parse_unwraps_an_sns_envelope():
    topic = "arn:aws:sns:us-west-2:111111111111:dev-web-config-events"
    body = ev.sns_envelope(ev.secret_api_call("PutSecretValue", ARN), topic)
    assert parse(body) == SecretChanged(ARN)
    for bad in (
        {"Type": "Notification", "TopicArn": topic, "Message": 3},
        {"Type": "Notification", "TopicArn": topic, "Message": "not json"},
    ):
        with pytest.raises(MessageError):
            parse(json.dumps(bad))


def test_parse_rotation_succeeded():
    assert parse(ev.as_message_body(ev.secret_rotation_succeeded(ARN))) == SecretChanged(ARN)


def test_parse_deployment_lenient_keys():
    event = ev.appconfig_start_deployment("app1234", "env1234", "prf1234", deployment_number=7)
    assert parse(ev.as_message_body(event)) == DeploymentStarted("app1234", "env1234", "prf1234", 7)
    req = event["detail"]["requestParameters"]
    event["detail"]["requestParameters"] = {k[0].upper() + k[1:]: v for k, v in req.items()}
    event["detail"]["responseElements"] = None
    assert parse(json.dumps(event)) == DeploymentStarted("app1234", "env1234", "prf1234", None)


@pytest.mark.parametrize(
    "body",
    [
        "not json",
        "[]",
        "{}",
        json.dumps({"source": "aws.s3", "detail": {}}),
        json.dumps({"source": "aws.secretsmanager", "detail": {"eventName": "DeleteSecret"}}),
        json.dumps(
            {
                "source": "aws.secretsmanager",
                "detail": {"eventName": "PutSecretValue", "requestParameters": None},
            }
        ),
        json.dumps({"source": "aws.appconfig", "detail": {"eventName": "StartDeployment"}}),
        "x" * 300_000,
    ],
)
def test_parse_rejects_malformed_without_echoing(body):
    with pytest.raises(MessageError) as info:
        parse(body)
    assert (len(str(info.value)) < 60 and body[:20] not in str(info.value)) or body == "{}"


def test_secret_matching_name_full_and_partial_arn():
    full = ev.secret_arn("us-west-2", "111111111111", "app/db", suffix="Xy12Zq")
    partial = full[:-7]
    for configured in ("app/db", full, partial):
        cache = Cache([configured, "other"], [])
        for given in ("app/db", full, partial):
            assert cache.secret_ids_matching(given) == [configured], (configured, given)
        assert cache.secret_ids_matching("app/dbx") == []


def test_selected_versions_are_bounded_and_never_overwrite_a_newer_refresh():
    cache = Cache(["s"], [])
    value = SecretValue(
        arn="arn:x", name="s", version_id="v1", stages=("AWSPREVIOUS",), created=None, string="old"
    )
    previous = ("AWSPREVIOUS", None)
    started = cache.generation("s")
    cache.refreshing("s")  # the worker refreshed the secret while a request was fetching
    cache.put_selected("s", previous, value, started)
    assert cache.selected("s", previous) is None
    cache.put_selected("s", previous, value, cache.generation("s"))
    assert json.loads(cache.selected("s", previous).body)["SecretString"] == "old"
    for i in range(MAX_SELECTED_PER_SECRET + 4):
        cache.put_selected("s", (f"label{i}", None), value)
    assert len(cache.selectors("s")) == MAX_SELECTED_PER_SECRET
    assert previous not in cache.selectors("s")  # the oldest went first


# --- redaction and logging ------------------------------------------------------------------


def test_redactor_masks_known_values_and_json_leaves():
    stream = io.StringIO()
    logs.setup("INFO", stream)
    try:
        logs.REDACTOR.add(logs.secret_fragments('{"user":"admin","password":"hunter2-xyz"}'))
        logging.getLogger("config_agent.test").warning("oops hunter2-xyz in text")
        line = stream.getvalue().strip()
        assert "hunter2-xyz" not in line and "***" in line
        assert json.loads(line)["level"] == "WARNING"
    finally:
        logging.getLogger().handlers.clear()


# --- retries --------------------------------------------------------------------------------


class _FakeClient:
    def __init__(self, errors):
        self.errors = list(errors)
        self.calls = 0

    def get_secret_value(self, **_):
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        return {"Name": "n"}


def _client_error(code, status):
    return ClientError(
        {
            "Error": {"Code": code, "Message": "secret-ish text"},
            "ResponseMetadata": {"HTTPStatusCode": status},
        },
        "GetSecretValue",
    )


def _aws_with(client, retries=3):
    settings = Settings.from_env(
        {
            **BASE,
            "CONFIG_AGENT_MAX_RETRIES": str(retries),
            "CONFIG_AGENT_BACKOFF_BASE_SECONDS": "0.001",
            "CONFIG_AGENT_BACKOFF_MAX_SECONDS": "0.002",
        }
    )
    aws = Aws(settings, threading.Event())
    aws._clients["secretsmanager"] = client
    return aws


def test_retry_on_throttling_5xx_and_network_then_succeed():
    client = _FakeClient(
        [
            _client_error("ThrottlingException", 400),
            _client_error("InternalServiceError", 500),
            EndpointConnectionError(endpoint_url="http://x"),
        ]
    )
    aws = _aws_with(client)
    assert aws.call("secretsmanager", "get_secret_value", SecretId="n") == {"Name": "n"}
    assert client.calls == 4 and aws.reachable


def test_no_retry_on_client_errors_and_text_is_code_only():
    client = _FakeClient([_client_error("AccessDeniedException", 400)])
    aws = _aws_with(client)
    with pytest.raises(AwsError) as info:
        aws.call("secretsmanager", "get_secret_value", SecretId="n")
    assert client.calls == 1 and str(info.value) == "get_secret_value: AccessDeniedException"
    assert "secret-ish" not in str(info.value)


def test_gives_up_after_max_retries_and_marks_unreachable():
    client = _FakeClient([_client_error("ServiceUnavailable", 503)] * 10)
    aws = _aws_with(client, retries=2)
    with pytest.raises(AwsError) as info:
        aws.call("secretsmanager", "get_secret_value", SecretId="n")
    assert info.value.retryable and client.calls == 3 and not aws.reachable


def test_classify_missing():
    err = classify("op", _client_error("ResourceNotFoundException", 400))
    assert err.missing and not err.retryable


# --- files ----------------------------------------------------------------------------------


def test_write_atomic_mode_0600_and_no_leftovers(tmp_path):
    target = tmp_path / "out" / "secrets" / "db"
    write_atomic(target, b"v1")
    write_atomic(target, b"v2")
    assert target.read_bytes() == b"v2"
    assert stat.S_IMODE(os.stat(target).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(target.parent).st_mode) == 0o700
    assert os.listdir(target.parent) == ["db"]


def test_output_dir_skips_unchanged_and_safe_names(tmp_path):
    out = OutputDir(tmp_path)
    path = out.secret_path("app/prod/db")
    assert path.name == "app_prod_db" and safe_name("..") == "_.."
    assert out.write(path, b"x") is True
    assert out.write(path, b"x") is False
    assert out.write(path, b"y") is True
