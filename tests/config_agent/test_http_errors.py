"""What a client gets when its request is incomplete or AWS cannot answer it, and how the
transport treats connections around slow AWS answers, idleness and shutdown."""

from __future__ import annotations

import json
import socket
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

import pytest

from config_agent import server
from config_agent.agent import Agent
from devtools.local_aws import LocalAws
from devtools.wait import wait_for
from tests.config_agent.conftest import TOKEN, get

AUTH = f"X-Aws-Parameters-Secrets-Token: {TOKEN}\r\n"


def _fetch_path(secret: str, **query: str) -> str:
    extra = "".join(f"&{k}={quote(v, safe='')}" for k, v in query.items())
    return f"/secretsmanager/get?secretId={quote(secret, safe='')}{extra}"


def _json(answer: tuple[int, dict[str, str], bytes]) -> tuple[int, Any]:
    return answer[0], json.loads(answer[2])


def _until_closed(sock: socket.socket) -> bytes:
    """Everything the agent writes on `sock` until it closes it."""
    chunks = []
    while True:
        try:
            chunk = sock.recv(65536)
        except ConnectionResetError:
            break
        if not chunk:
            break
        chunks.append(chunk)
    return b"".join(chunks)


def _send_get(port: int, path: str, keep_alive: bool = False) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    close = "" if keep_alive else "Connection: close\r\n"
    sock.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{AUTH}{close}\r\n".encode())
    return sock


@pytest.mark.parametrize("path", ["/secretsmanager/get", "/secretsmanager/get?secretId=", "/v1/"])
def test_a_secret_request_without_a_secret_id_is_400(agent: Agent, path: str) -> None:
    assert _json(get(agent.port, path)) == (400, {"error": "secretId is required"})


@pytest.mark.parametrize(
    "path",
    [
        "/applications/a/environments/b",
        "/applications/a/environments/b/configurations/c/d",
        "/applications/a/stages/b/configurations/c",
        "/applications/a/environments/b/profiles/c",
        "/applications//environments/b/configurations/c",
        "/applications/a/environments/b/configurations/",
    ],
)
def test_a_malformed_configuration_path_is_404_not_found(agent: Agent, path: str) -> None:
    assert _json(get(agent.port, path)) == (404, {"error": "not found"})


def test_an_unknown_version_id_is_404(aws: LocalAws, agent: Agent) -> None:
    path = _fetch_path(agent.secret_name, versionId="0" * 32)  # type: ignore[attr-defined]
    assert _json(get(agent.port, path)) == (404, {"error": "no such version of the secret"})


def test_a_version_fetch_while_aws_is_unreachable_is_503_retry_later(
    aws: LocalAws, agent: Agent
) -> None:
    assert aws.proxy is not None
    name: str = agent.secret_name  # type: ignore[attr-defined]
    aws.proxy.fail("GetSecretValue", status=503, code="ServiceUnavailable")
    status, headers, body = get(agent.port, _fetch_path(name, versionStage="AWSPREVIOUS"))
    assert (status, json.loads(body)) == (503, {"error": "not available yet"})
    assert headers["retry-after"] == "5"
    # The current value is still served from memory meanwhile.
    assert _json(get(agent.port, _fetch_path(name)))[1]["SecretString"] == "http-value"
    aws.proxy.clear()
    aws.sm.put_secret_value(SecretId=name, SecretString="http-v2")
    assert _json(get(agent.port, _fetch_path(name, versionStage="AWSPREVIOUS")))[0] == 200


def test_a_refused_version_fetch_is_400_with_the_code_only(aws: LocalAws, agent: Agent) -> None:
    assert aws.proxy is not None
    name: str = agent.secret_name  # type: ignore[attr-defined]
    aws.proxy.fail("GetSecretValue", status=400, code="AccessDeniedException")
    status, _, body = get(agent.port, _fetch_path(name, versionStage="AWSPENDING"))
    assert (status, json.loads(body)) == (400, {"error": "AccessDeniedException"})


def test_an_aws_answer_slower_than_the_request_deadline_is_still_delivered(
    aws: LocalAws, make_agent: Callable[..., Agent]
) -> None:
    """The deadline is for receiving the request; time spent waiting for AWS does not count."""
    assert aws.proxy is not None
    sec = aws.secret("deadline-v1")
    aws.sm.put_secret_value(SecretId=sec["Name"], SecretString="deadline-v2")
    agent = make_agent(
        CONFIG_AGENT_SECRET_IDS=sec["Name"], CONFIG_AGENT_HTTP_REQUEST_TIMEOUT_SECONDS="0.3"
    )
    aws.proxy.hold("GetSecretValue")
    try:
        slow = _send_get(agent.port, _fetch_path(sec["Name"], versionStage="AWSPREVIOUS"))
        wait_for(
            lambda: aws.proxy is not None and aws.proxy.waiting["GetSecretValue"] == 1,
            what="the fetch held",
        )
        # A witness that the deadline has passed meanwhile: a connection that sent nothing is
        # closed by the same sweep that would time out a request.
        with socket.create_connection(("127.0.0.1", agent.port), timeout=10) as witness:
            assert _until_closed(witness) == b""
    finally:
        aws.proxy.release("GetSecretValue")
    with slow:
        raw = _until_closed(slow)
    assert raw.startswith(b"HTTP/1.1 200 ")
    assert json.loads(raw.partition(b"\r\n\r\n")[2])["SecretString"] == "deadline-v1"


def test_an_idle_keep_alive_connection_is_closed_and_frees_its_slot(
    agent: Agent, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(server, "IDLE_TIMEOUT_SECONDS", 0.5)
    with _send_get(agent.port, "/ping", keep_alive=True) as idle:
        raw = _until_closed(idle)  # the answer, then (once idle) the close
    assert raw.startswith(b"HTTP/1.1 200 ") and raw.endswith(b"healthy")
    wait_for(lambda: agent.server.active_connections == 0, what="slot freed")


def test_shutdown_does_not_wait_for_an_answer_still_waiting_for_aws(
    aws: LocalAws, make_agent: Callable[..., Agent]
) -> None:
    assert aws.proxy is not None
    sec = aws.secret("shutdown-v1")
    agent = make_agent(CONFIG_AGENT_SECRET_IDS=sec["Name"], CONFIG_AGENT_SHUTDOWN_GRACE_SECONDS="0")
    aws.proxy.hold("GetSecretValue")
    try:
        pending = _send_get(agent.port, _fetch_path(sec["Name"], versionStage="AWSPENDING"))
        wait_for(
            lambda: aws.proxy is not None and aws.proxy.waiting["GetSecretValue"] == 1,
            what="the fetch held",
        )
        agent.shutdown()  # returns although the fetch is still held
        with pending:
            assert _until_closed(pending) == b""  # closed without an answer
        assert agent.server.active_connections == 0
    finally:
        aws.proxy.release("GetSecretValue")
