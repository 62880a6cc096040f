"""Bad input the agent must turn into one clear error (settings) or a safe default (events,
AWS failures, log records): the edge cases the end-to-end tests do not reach."""

from __future__ import annotations

import io
import json
import logging
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from botocore.exceptions import ParamValidationError

from config_agent import logs
from config_agent.aws import Aws, AwsError, classify
from config_agent.events import DeploymentStarted, MessageError, parse, secret_keys
from config_agent.settings import ProfileRef, Settings, SettingsError
from devtools import events as ev

BASE = {
    "CONFIG_AGENT_QUEUE_URL": "https://sqs.eu-west-1.amazonaws.com/111111111111/q",
    "CONFIG_AGENT_TOKEN": "tok-123",
    "CONFIG_AGENT_SECRET_IDS": "a",
}
APPCONFIG = {
    "CONFIG_AGENT_APPCONFIG_APPLICATION": "shop",
    "CONFIG_AGENT_APPCONFIG_ENVIRONMENT": "prod",
    "CONFIG_AGENT_APPCONFIG_PROFILE": "main",
}


# --- settings -------------------------------------------------------------------------------


def _without_token() -> dict[str, str]:
    return {k: v for k, v in BASE.items() if k != "CONFIG_AGENT_TOKEN"}


@pytest.mark.parametrize("variable", ["CONFIG_AGENT_TOKEN_FILE", "AWS_TOKEN"])
def test_an_empty_token_file_is_refused_not_taken_as_an_empty_token(
    tmp_path: Path, variable: str
) -> None:
    path = tmp_path / "token"
    path.write_text("  \n")
    value = f"file://{path}" if variable == "AWS_TOKEN" else str(path)
    with pytest.raises(SettingsError, match=f"^{variable}: the token file is empty$"):
        Settings.from_env({**_without_token(), variable: value})


@pytest.mark.parametrize("token", ["two words", "tab\there", "bell\x07"])
def test_a_token_with_whitespace_or_control_characters_is_refused_without_echoing_it(
    token: str,
) -> None:
    with pytest.raises(SettingsError) as info:
        Settings.from_env({**BASE, "CONFIG_AGENT_TOKEN": token})
    assert "must not contain whitespace or control characters" in str(info.value)
    assert token not in str(info.value)


@pytest.mark.parametrize(
    ("variable", "value", "needle"),
    [
        ("CONFIG_AGENT_APPCONFIG_APPLICATION", "sh\nop", "APPLICATION is invalid"),
        ("CONFIG_AGENT_APPCONFIG_ENVIRONMENT", "pr*d", "ENVIRONMENT is invalid"),
        ("CONFIG_AGENT_APPCONFIG_PROFILE", "main,a/b", "invalid profile: 'a/b'"),
        ("CONFIG_AGENT_APPCONFIG_PROFILE", "main,x\x00", "invalid profile"),
    ],
)
def test_invalid_appconfig_identifiers_are_named(variable: str, value: str, needle: str) -> None:
    with pytest.raises(SettingsError) as info:
        Settings.from_env({**BASE, **APPCONFIG, variable: value})
    assert needle in str(info.value)


def test_profile_lists_skip_empty_entries_and_duplicates() -> None:
    s = Settings.from_env(
        {**BASE, **APPCONFIG, "CONFIG_AGENT_APPCONFIG_PROFILE": " main, ,flags,main,,flags "}
    )
    assert s.profiles == (ProfileRef("shop", "prod", "main"), ProfileRef("shop", "prod", "flags"))


@pytest.mark.parametrize(
    ("given", "kept"),
    [
        ("http://169.254.170.2/v4/abc", "http://169.254.170.2/v4/abc"),
        ("169.254.170.2/v4/abc", ""),  # not a URL: run as "local" rather than fail
        ("file:///etc/passwd", ""),
        ("   ", ""),
    ],
)
def test_only_an_http_task_metadata_uri_is_used(given: str, kept: str) -> None:
    s = Settings.from_env({**BASE, "ECS_CONTAINER_METADATA_URI_V4": given})
    assert s.ecs_metadata_uri == kept


# --- events ---------------------------------------------------------------------------------


def _deployment_event(**detail: object) -> str:
    event = ev.appconfig_start_deployment("app1234", "env1234", "prf1234", deployment_number=3)
    event["detail"].update(detail)
    return ev.as_message_body(event)


def test_an_appconfig_event_other_than_a_deployment_is_refused() -> None:
    with pytest.raises(MessageError, match="unknown appconfig event name"):
        parse(_deployment_event(eventName="CreateApplication"))


def test_an_appconfig_event_without_an_identifier_names_the_missing_key() -> None:
    body = _deployment_event(
        requestParameters={"environmentId": "env1234"}, responseElements={"other": "x"}
    )
    with pytest.raises(MessageError, match=r"^appconfig event without applicationId$"):
        parse(body)


@pytest.mark.parametrize(
    ("number", "parsed"),
    [
        ("12", 12),
        (7, 7),
        ("0", None),
        (0, None),
        (True, None),
        ("7a", None),
        (-1, None),
        ("", None),
        (None, None),
        (2.5, None),
    ],
)
def test_a_deployment_number_is_taken_as_a_positive_integer_or_not_at_all(
    number: object, parsed: int | None
) -> None:
    body = _deployment_event(responseElements={"deploymentNumber": number})
    assert parse(body) == DeploymentStarted("app1234", "env1234", "prf1234", parsed)


@pytest.mark.parametrize(
    "arn",
    [
        "arn:aws:sqs:us-west-2:111111111111:app-db-AbCdEf",  # not a secret ARN
        "arn:aws:secretsmanager:us-west-2:111111111111:secret:",  # no name
        "arn:aws:secretsmanager:us-west-2",
    ],
)
def test_an_arn_that_names_no_secret_only_matches_itself(arn: str) -> None:
    assert secret_keys(arn) == frozenset({arn})


# --- AWS errors -----------------------------------------------------------------------------


def test_local_failures_are_classified_without_their_message() -> None:
    bad_params = classify("get_secret_value", ParamValidationError(report="secret-ish text"))
    assert (bad_params.code, bad_params.retryable) == ("ParamValidationError", False)
    reset = classify("receive_message", ConnectionResetError(104, "secret-ish text"))
    assert (reset.code, reset.retryable) == ("ConnectionResetError", True)
    other = classify("receive_message", KeyError("secret-ish text"))
    assert (other.code, other.retryable) == ("KeyError", False)
    for err in (bad_params, reset, other):
        assert "secret-ish" not in str(err)
    already = AwsError("op", "Code", retryable=True, missing=True)
    assert classify("other_op", already) is already


class _AlwaysThrottled:
    """A client whose every call is throttled; says when it was first called."""

    def __init__(self) -> None:
        self.called = threading.Event()
        self.calls = 0

    def get_secret_value(self, **_: object) -> dict[str, object]:
        self.calls += 1
        self.called.set()
        raise ConnectionResetError(104, "reset")


def test_shutdown_interrupts_a_backoff_instead_of_waiting_it_out() -> None:
    settings = Settings.from_env(
        {
            **BASE,
            "CONFIG_AGENT_MAX_RETRIES": "20",
            "CONFIG_AGENT_BACKOFF_BASE_SECONDS": "60",
            "CONFIG_AGENT_BACKOFF_MAX_SECONDS": "60",
        }
    )
    stop = threading.Event()
    aws = Aws(settings, stop)
    client = _AlwaysThrottled()
    aws._clients["secretsmanager"] = client
    failures: list[AwsError] = []

    def call() -> None:
        try:
            aws.call("secretsmanager", "get_secret_value", SecretId="a")
        except AwsError as err:
            failures.append(err)

    caller = threading.Thread(target=call)
    caller.start()
    assert client.called.wait(10)
    stop.set()  # the caller is in a backoff of ~60 s now
    caller.join(10)
    assert not caller.is_alive(), "the backoff was not interrupted by the stop event"
    assert client.calls == 1 and failures[0].code == "ConnectionResetError"


# --- logs -----------------------------------------------------------------------------------


@pytest.fixture
def log_lines() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    logs.setup("INFO", stream)
    yield stream
    logging.getLogger().handlers.clear()


def test_nested_json_secret_leaves_are_redacted_but_not_booleans_or_null() -> None:
    secret = json.dumps(
        {
            "db": {
                "hosts": ["db-one.internal", {"password": "pw-deep-123"}],
                "port": 5432,
                "tls": True,
                "replica": None,
            }
        }
    )
    fragments = logs.secret_fragments(secret)
    assert {"db-one.internal", "pw-deep-123", "5432"} <= set(fragments)
    assert secret in fragments
    assert not {"True", "true", "None", "null"} & set(fragments)


def test_an_exception_is_logged_by_type_only(log_lines: io.StringIO) -> None:
    logger = logging.getLogger("config_agent.test_malformed_input")
    try:
        raise ValueError("value-in-exception-text")
    except ValueError:
        logger.exception("failed")
    record = json.loads(log_lines.getvalue())
    assert record["exception"] == "ValueError" and record["msg"] == "failed"
    assert "value-in-exception-text" not in log_lines.getvalue()


def test_a_record_below_the_level_is_not_formatted(log_lines: io.StringIO) -> None:
    class Loud:
        def __str__(self) -> str:
            raise AssertionError("a disabled record was formatted")

    logs.log(
        logging.getLogger("config_agent.test_malformed_input"), logging.DEBUG, "quiet", field=Loud()
    )
    assert log_lines.getvalue() == ""
