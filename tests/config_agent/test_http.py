"""The HTTP surface against a hostile local client: raw sockets, no well-behaved library."""

from __future__ import annotations

import http.client
import json
import socket
import threading
from typing import Any

import pytest

from config_agent.http_request import FEED_BYTES, Refusal, Request, RequestStream
from devtools.wait import wait_for
from tests.config_agent.conftest import TOKEN

AUTH = f"X-Aws-Parameters-Secrets-Token: {TOKEN}\r\n"
HOST = "Host: 127.0.0.1\r\n"  # HTTP/1.1 requests need exactly one (RFC 9112 section 3.2)


def _raw(port: int, data: bytes) -> bytes:
    """Send `data`, return everything the agent writes until it closes the connection."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(data)
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


def _status_and_body(raw: bytes) -> tuple[int, dict[str, Any]]:
    head, _, body = raw.partition(b"\r\n\r\n")
    status_line = head.split(b"\r\n", 1)[0]
    assert status_line.startswith((b"HTTP/1.0 ", b"HTTP/1.1 ")), raw[:80]
    return int(status_line.split()[1]), json.loads(body)


def test_a_request_body_is_consumed_not_parsed_as_the_next_request(agent):
    conn = http.client.HTTPConnection("127.0.0.1", agent.port, timeout=5)
    smuggled = b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n"
    conn.request(
        "POST",
        "/secretsmanager/get",
        body=smuggled,
        headers={"X-Aws-Parameters-Secrets-Token": TOKEN},
    )
    first = conn.getresponse()
    assert first.status == 405 and first.getheader("Allow") == "GET"
    first.read()
    # Same connection: the next answer is to /ping, not to the smuggled /health.
    conn.request("GET", "/ping")
    second = conn.getresponse()
    assert (second.status, second.read()) == (200, b"healthy")
    conn.close()


@pytest.mark.parametrize(
    ("request_head", "status"),
    [
        (b"POST /ping HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n", 400),
        (b"POST /ping HTTP/1.1\r\nContent-Length: 70000\r\n\r\n", 413),
        (b"POST /ping HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello", 400),
        (b"POST /ping HTTP/1.1\r\nContent-Length: -1\r\n\r\n", 400),
    ],
    ids=["chunked", "too-large", "two-lengths", "negative-length"],
)
def test_bodies_it_cannot_bound_are_refused_and_the_connection_closed(agent, request_head, status):
    raw = _raw(agent.port, request_head)
    assert _status_and_body(raw)[0] == status
    assert b"Connection: close" in raw


def test_request_head_is_capped_at_16_kib(agent):
    small = b"".join(b"X-Pad-%d: %s\r\n" % (i, b"a" * 1000) for i in range(14))  # ~14 KiB
    big = b"".join(b"X-Pad-%d: %s\r\n" % (i, b"a" * 1000) for i in range(20))  # ~20 KiB
    ok = _raw(
        agent.port, b"GET /health HTTP/1.1\r\nHost: a\r\nConnection: close\r\n" + small + b"\r\n"
    )
    assert _status_and_body(ok)[0] == 200
    raw = _raw(agent.port, b"GET /health HTTP/1.1\r\n" + big + b"\r\n")
    assert _status_and_body(raw) == (431, {"error": "request head too large"})
    line = _raw(agent.port, b"GET /" + b"a" * 20000 + b" HTTP/1.1\r\n\r\n")
    assert _status_and_body(line)[0] == 414  # a long target is 414, not 431 (RFC 9110 15.5.15)


def test_connections_are_bounded_by_a_setting(aws, make_agent):
    sec = aws.secret("bounded")
    # Held connections send nothing: a long request deadline keeps them open for the test.
    agent = make_agent(
        CONFIG_AGENT_SECRET_IDS=sec["Name"],
        CONFIG_AGENT_HTTP_MAX_CONNECTIONS="4",
        CONFIG_AGENT_HTTP_REQUEST_TIMEOUT_SECONDS="60",
    )
    idle = [socket.create_connection(("127.0.0.1", agent.port), timeout=5) for _ in range(4)]
    try:
        wait_for(lambda: agent.server.active_connections == 4, what="4 connections held")
        raw = _raw(agent.port, b"GET /health HTTP/1.1\r\n\r\n")
        assert _status_and_body(raw) == (503, {"error": "too many connections"})
        idle.pop().close()
        wait_for(lambda: agent.server.active_connections == 3, what="a slot freed")
        ok = _raw(agent.port, b"GET /health HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
        assert _status_and_body(ok)[0] == 200
    finally:
        for sock in idle:
            sock.close()


@pytest.mark.parametrize(
    "target",
    [
        "http://169.254.169.254/secretsmanager/get?secretId={}",
        "http://127.0.0.1/secretsmanager/get?secretId={}",
        "//169.254.169.254/secretsmanager/get?secretId={}",
        "*",
    ],
)
def test_only_origin_form_targets_are_served(agent, target):
    raw = _raw(
        agent.port, f"GET {target.format(agent.secret_name)} HTTP/1.1\r\n{AUTH}\r\n".encode()
    )
    status, body = _status_and_body(raw)
    assert status == 400 and "http-value" not in json.dumps(body)


@pytest.mark.parametrize(
    "header", ["X-Forwarded-For: 10.0.0.1", "Forwarded: for=10.0.0.1", "X-Real-IP: 10.0.0.1"]
)
def test_proxied_requests_are_refused(agent, header):
    for path in (f"/secretsmanager/get?secretId={agent.secret_name}", "/health"):
        raw = _raw(agent.port, f"GET {path} HTTP/1.1\r\n{AUTH}{header}\r\n\r\n".encode())
        assert _status_and_body(raw) == (400, {"error": "forwarded requests are refused"})


@pytest.mark.parametrize(
    "line",
    [
        b"GET\r\n",
        b"GET /health HTTP/9.9\r\n\r\n",
        b"GET /health HTTP/2.0\r\n\r\n",
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n",  # a TLS ClientHello
        b"GET /health FOO/1.1\r\n\r\n",
    ],
    ids=["one-word", "version-9.9", "version-2.0", "tls-hello", "bad-protocol"],
)
def test_malformed_request_lines_get_a_status_line_and_a_short_json_body(agent, line):
    raw = _raw(agent.port, line)
    status, body = _status_and_body(raw)
    assert 400 <= status < 600 and set(body) == {"error"} and len(raw) < 400
    assert b"<html" not in raw.lower() and b"<!doctype" not in raw.lower()


@pytest.mark.parametrize(
    "line", [b"GET /health\r\n", b"GET /health\r\n\r\n"], ids=["http-0.9", "http-0.9-blank-line"]
)
def test_http_0_9_requests_get_a_status_line_once_the_client_stops_sending(agent, line):
    """llhttp reads `GET /health` CRLF as the start of an HTTP/0.9 head (header lines may
    follow); a blank line or the client half-closing ends it: 505 or 400 with a status line,
    never a bare body."""
    with socket.create_connection(("127.0.0.1", agent.port), timeout=5) as sock:
        sock.sendall(line)
        sock.shutdown(socket.SHUT_WR)
        raw = _raw_until_closed(sock)
    assert _status_and_body(raw)[0] in (400, 505) and raw.count(b"HTTP/1.1 ") == 1


def _response(sock: socket.socket, buffered: bytearray) -> bytes:
    """One whole response (status line, head, Content-Length body) read off `sock`."""
    while True:
        head, sep, rest = bytes(buffered).partition(b"\r\n\r\n")
        if sep:
            length = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
            if len(rest) >= length:
                del buffered[: len(head) + 4 + length]
                return head + sep + rest[:length]
        chunk = sock.recv(65536)
        assert chunk, "connection closed mid-response"
        buffered += chunk


def test_connections_do_not_cost_a_thread_each(agent):
    """One event loop serves every connection: threads (and their stacks) do not grow with
    connections, and a busy connection never waits for another thread to be scheduled."""
    before = threading.active_count()
    socks = [socket.create_connection(("127.0.0.1", agent.port), timeout=5) for _ in range(30)]
    try:
        for sock in socks:
            sock.sendall(b"GET /ping HTTP/1.1\r\nHost: a\r\n\r\n")
        for sock in socks:
            assert _response(sock, bytearray()).endswith(b"healthy")
        wait_for(lambda: agent.server.active_connections == 30, what="30 connections open")
        assert threading.active_count() - before <= 1  # not 30
    finally:
        for sock in socks:
            sock.close()


def test_pipelined_requests_are_answered_in_order_on_one_connection(agent):
    with socket.create_connection(("127.0.0.1", agent.port), timeout=5) as sock:
        sock.sendall(
            f"GET /ping HTTP/1.1\r\n{HOST}\r\nGET /nope HTTP/1.1\r\n{HOST}{AUTH}\r\n"
            f"POST /ping HTTP/1.1\r\n{HOST}Content-Length: 3\r\n\r\nabcGET /ping"
            f" HTTP/1.1\r\n{HOST}\r\n".encode()
        )
        buffered = bytearray()
        statuses = [int(_response(sock, buffered).split()[1]) for _ in range(4)]
    assert statuses == [200, 404, 401, 200]  # the POST has no token


def test_a_slow_aws_fetch_holds_up_only_its_own_connection(aws, agent):
    """A version not cached yet is fetched from AWS off the loop: while that call hangs, other
    connections are answered; the held one gets its answer once AWS replies."""
    aws.sm.put_secret_value(SecretId=agent.secret_name, SecretString="http-v2")
    aws.proxy.hold("GetSecretValue")
    try:
        slow = socket.create_connection(("127.0.0.1", agent.port), timeout=10)
        slow.sendall(
            f"GET /secretsmanager/get?secretId={agent.secret_name}"
            f"&versionStage=AWSPREVIOUS HTTP/1.1\r\n{HOST}{AUTH}\r\n".encode()
        )
        wait_for(lambda: aws.proxy.waiting["GetSecretValue"] == 1, what="the fetch held")
        for _ in range(3):
            raw = _raw(agent.port, b"GET /ping HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
            assert raw.endswith(b"healthy")
        assert aws.proxy.waiting["GetSecretValue"] == 1  # still held while the others ran
    finally:
        aws.proxy.release("GetSecretValue")
    with slow:
        body = _response(slow, bytearray()).partition(b"\r\n\r\n")[2]
    assert json.loads(body)["SecretString"] == "http-value"


@pytest.mark.parametrize(
    ("stream", "framed"),
    [
        (b"GET /ping HTTP/1.1\r\nHost: x\r\n", []),  # head not ended yet
        (b"GET /ping HTTP/1.1\r\nHost: x\r\n\r\nGET /", ["/ping"]),  # the first of two
        (b"GET /ping HTTP/1.1\nHost: x\n\n", [400]),  # bare LF lines
        (b"POST /ping HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhel", []),  # body on its way
        (
            (
                b"POST /a HTTP/1.1\r\nHost: x\r\ncontent-length: 5\r\n\r\nhelloGET /b HTTP/1.1\r\n"
                b"Host: x\r\n\r\n"
            ),
            ["/a", "/b"],
        ),
        (b"POST /ping HTTP/1.1\r\nHost: x\r\nContent-Length: 70000\r\n\r\n", [413]),  # at once
        (b"POST /ping HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n", [400]),
        (b"GET /" + b"a" * 17000, [414]),  # over the target cap
        (b"GET / HTTP/1.1\r\nX: " + b"a" * 17000 + b"\r\n\r\n", [431]),  # over the head cap
        (b"GET / HTTP/1.1\r\nX: " + b"a" * 19000, [431]),  # not ended: noticed within FEED_BYTES
    ],
)
def test_request_framing(stream, framed):
    parsed = RequestStream(0.0)
    for start in range(0, len(stream), FEED_BYTES):
        parsed.feed(stream[start : start + FEED_BYTES])
    assert [
        e.target if isinstance(e, Request) else e.status
        for e in parsed.events
        if isinstance(e, (Request, Refusal))
    ] == framed


def test_a_client_that_half_closes_still_gets_every_answer(aws, agent):
    """`printf 'GET ...' | nc`: the client shuts its side after sending; the answers (one of
    them fetched from AWS off the loop) still arrive before the agent closes."""
    aws.proxy.hold("GetSecretValue")
    try:
        sock = socket.create_connection(("127.0.0.1", agent.port), timeout=10)
        sock.sendall(
            f"GET /secretsmanager/get?secretId={agent.secret_name}"
            f"&versionStage=AWSCURRENT&versionId={'0' * 32} HTTP/1.1\r\n{HOST}{AUTH}\r\n"
            f"GET /ping HTTP/1.1\r\n{HOST}\r\n".encode()
        )
        sock.shutdown(socket.SHUT_WR)
        wait_for(lambda: aws.proxy.waiting["GetSecretValue"] == 1, what="the fetch held")
    finally:
        aws.proxy.release("GetSecretValue")
    with sock:
        raw = _raw_until_closed(sock)
    assert raw.count(b"HTTP/1.1 ") == 2 and raw.endswith(b"healthy")


def test_thousands_of_pipelined_requests_in_one_write_are_all_answered(agent):
    """The client reads while it sends, as a pipelining client must: the agent stops reading
    while 64 KiB of answers wait, so one that never reads cannot grow it without bound."""
    count = 3000  # ~100 KiB of requests, ~600 KiB of answers: more than the socket buffers

    def send(sock: socket.socket) -> None:
        sock.sendall(b"GET /ping HTTP/1.1\r\nHost: a\r\n\r\n" * count)
        sock.shutdown(socket.SHUT_WR)

    with socket.create_connection(("127.0.0.1", agent.port), timeout=10) as sock:
        sender = threading.Thread(target=send, args=(sock,))
        sender.start()
        raw = _raw_until_closed(sock)
        sender.join(timeout=10)
    assert raw.count(b"HTTP/1.1 200 ") == count


def _raw_until_closed(sock: socket.socket) -> bytes:
    chunks = []
    while chunk := sock.recv(65536):
        chunks.append(chunk)
    return b"".join(chunks)
