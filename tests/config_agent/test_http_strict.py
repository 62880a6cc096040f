"""Issue 20: one strict parser frames and reads requests; bounded memory; slow senders time out.

Each test was run against the agent before httptools (hand-written framing + the stdlib's head
parser) and fails there: smuggled second requests were answered, malformed lines hid headers
that follow them, output grew without bound, slow heads held their slot forever.
"""

from __future__ import annotations

import json
import os
import select
import socket
import tempfile
import threading
from pathlib import Path
from typing import Any

import pytest

from devtools.agent_process import spawn_agent, stop_agents
from devtools.wait import wait_for
from tests.config_agent.conftest import agent_env
from tests.config_agent.test_http import (
    AUTH,
    HOST,
    _raw,
    _raw_until_closed,
    _response,
    _status_and_body,
)

NEXT = b"GET /ping HTTP/1.1\r\nHost: a\r\n\r\n"  # what a smuggled second request would be


def _half_closed(port: int, data: bytes) -> bytes:
    """Send `data`, end the sending side (as `printf ... | nc` does), read until closed."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(data)
        sock.shutdown(socket.SHUT_WR)
        return _raw_until_closed(sock)


GET = b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n"
POST = b"POST /ping HTTP/1.1\r\nHost: 127.0.0.1\r\n"


@pytest.mark.parametrize(
    "head",
    [
        GET + b"Transfer-Encoding : chunked\r\n\r\n",  # space before the colon
        GET + b"X-Junk\r\nTransfer-Encoding: chunked\r\n\r\n",  # after a line without colon
        GET + b"X-A: a\rb\r\nContent-Length: 5\r\n\r\nhello",  # after a bare CR
        GET + b"X-\x00A: 1\r\nContent-Length: 5\r\n\r\nhello",  # after a NUL in a name
        GET + b"X-A: 1\r\n Transfer-Encoding: chunked\r\n\r\n",  # in an obs-fold line
        GET + b"X-A: 1\r\n\tContent-Length: 5\r\n\r\nhello",  # obs-fold with a tab
        POST + b"Content-Length: 5\r\nContent-Length: 5\r\n\r\nhello",  # duplicate, even if equal
        POST + b"Content-Length: 5, 5\r\n\r\nhello",  # a list
        POST + b"Content-Length: +5\r\n\r\nhello",
        POST + b"Content-Length: \xb2\r\n\r\nh",  # latin-1 "²": isdigit() but not int()
        POST + b"Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        POST + b"Transfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n",
        POST + b"Transfer-Encoding: xchunked\r\n\r\n0\r\n\r\n",
        POST + b"Transfer-Encoding:\tchunked\r\n\r\n0\r\n\r\n",
        POST + b"Transfer-Encoding: chunked\r\nTransfer-Encoding: x\r\n\r\n0\r\n\r\n",
    ],
    ids=[
        "te-space-colon",
        "te-after-no-colon",
        "cl-after-bare-cr",
        "cl-after-nul",
        "te-obs-fold",
        "cl-obs-fold-tab",
        "cl-twice-equal",
        "cl-list",
        "cl-plus",
        "cl-superscript",
        "te-and-cl",
        "te-chunked-identity",
        "te-xchunked",
        "te-tab",
        "te-twice",
    ],
)
def test_smuggled_requests_are_refused_and_nothing_after_them_is_read(agent, head):
    raw = _half_closed(agent.port, head + NEXT)
    status, _ = _status_and_body(raw)
    assert 400 <= status < 500 and b"Connection: close" in raw
    assert raw.count(b"HTTP/1.1 ") == 1 and b"healthy" not in raw


@pytest.mark.parametrize(
    ("head", "status"),
    [
        (b"GET /health HTTP/1.1\r\nHost : x\r\n\r\n", 400),  # RFC 9112 section 5.1
        (b"GET /health HTTP/1.1\r\n\r\n", 400),  # section 3.2
        (b"GET /health HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400),
        (b"GET /health HTTP/1.0\r\nHost: a\r\nHost: b\r\n\r\n", 400),
        (b"GET /health HTTP/1.0\r\n\r\n", 200),  # 1.0 needs none
    ],
    ids=["space-before-colon", "none", "two", "two-in-1.0", "none-in-1.0"],
)
def test_host_rules(agent, head, status):
    assert _status_and_body(_half_closed(agent.port, head))[0] == status


def test_a_malformed_line_does_not_hide_the_proxy_headers_after_it(agent):
    raw = _half_closed(agent.port, GET + b"X-Junk : y\r\nX-Forwarded-For: 10.0.0.1\r\n\r\n")
    assert _status_and_body(raw)[0] == 400


@pytest.mark.parametrize(
    "request_bytes",
    [
        POST + b"Content-Length: \xb2\r\n\r\nh",
        GET + b"X-A: 1\r\r\n\r\n",  # a bare CR in a line
        GET + b"X-A: 1\rX-B: 2\r\n\r\n",
        b"GET /health HTTP/1.1\r\nHost: a\r\nX-A: \x01\r\n\r\n",  # a control character
        b"GET /he\x7flth HTTP/1.1\r\nHost: a\r\n\r\n",
        b"GET /health HTTP/1.1\r\nHost: a\r\nExpect: 200-ok\r\n\r\n",
    ],
    ids=[
        "cl-superscript",
        "bare-cr-end",
        "bare-cr-inside",
        "ctl-in-value",
        "del-in-target",
        "unknown-expectation",
    ],
)
def test_every_bad_request_gets_a_status_line_and_no_error_log(agent, log_stream, request_bytes):
    for _ in range(3):
        raw = _half_closed(agent.port, request_bytes)
        status, body = _status_and_body(raw)
        assert 400 <= status < 500 and set(body) == {"error"}
    levels = [json.loads(line)["level"] for line in log_stream.getvalue().splitlines()]
    assert "ERROR" not in levels  # one line per bad request would be a log-flooding vector


def test_a_long_request_target_is_414(agent):
    raw = _half_closed(agent.port, b"GET /" + b"a" * 100 * 1024 + b" HTTP/1.1\r\nHost: a\r\n\r\n")
    assert _status_and_body(raw) == (414, {"error": "request target too long"})


def test_expect_100_continue_is_answered_before_the_body_is_sent(agent):
    """RFC 9110 section 10.1.1: a client that asks waits for 100 (or a final status)."""
    with socket.create_connection(("127.0.0.1", agent.port), timeout=5) as sock:
        sock.sendall(POST + b"Content-Length: 5\r\nExpect: 100-continue\r\n\r\n")
        buffered = bytearray()
        while b"\r\n\r\n" not in buffered:
            chunk = sock.recv(4096)  # times out (5 s) if nothing comes before the body
            assert chunk, "closed"
            buffered += chunk
        assert bytes(buffered).startswith(b"HTTP/1.1 100 Continue\r\n\r\n")
        del buffered[: len(b"HTTP/1.1 100 Continue\r\n\r\n")]
        sock.sendall(b"hello" + NEXT)
        assert _response(sock, buffered).startswith(b"HTTP/1.1 401 ")  # then the final answer
        assert _response(sock, buffered).endswith(b"healthy")  # and the connection goes on


def test_no_100_continue_once_the_body_is_there(agent):
    raw = _half_closed(agent.port, POST + b"Content-Length: 5\r\nExpect: 100-continue\r\n\r\nhello")
    assert raw.startswith(b"HTTP/1.1 401 ") and b"100 Continue" not in raw


def test_the_default_cap_serves_200_keep_alive_connections(agent):
    """200 pooled keep-alive connections doing reads: no 503 (the cap was 100)."""
    socks = [socket.create_connection(("127.0.0.1", agent.port), timeout=10) for _ in range(200)]
    try:
        request = (
            f"GET /secretsmanager/get?secretId={agent.secret_name} HTTP/1.1\r\n{HOST}{AUTH}\r\n"
        ).encode()
        for _ in range(2):
            for sock in socks:
                sock.sendall(request)
            statuses = [int(_response(sock, bytearray()).split()[1]) for sock in socks]
            assert statuses == [200] * 200
    finally:
        for sock in socks:
            sock.close()


def _slow_sender(sock: socket.socket, stop: threading.Event) -> None:
    """Slowloris: one byte of a never-ending head every 0.2 s, until the agent closes."""
    try:
        sock.sendall(b"GET /health HTTP/1.1\r\n")
        while not stop.wait(0.2):
            sock.sendall(b"X")
    except OSError:
        pass  # closed by the agent: what the deadline is for


def test_slow_heads_time_out_and_free_their_slots(aws, make_agent):
    sec = aws.secret("slow")
    agent = make_agent(
        CONFIG_AGENT_SECRET_IDS=sec["Name"],
        CONFIG_AGENT_HTTP_MAX_CONNECTIONS="3",
        CONFIG_AGENT_HTTP_REQUEST_TIMEOUT_SECONDS="1",
    )
    stop = threading.Event()
    slow = [socket.create_connection(("127.0.0.1", agent.port), timeout=10) for _ in range(2)]
    silent = socket.create_connection(("127.0.0.1", agent.port), timeout=10)  # sends nothing
    threads = [threading.Thread(target=_slow_sender, args=(s, stop)) for s in slow]
    try:
        for thread in threads:
            thread.start()
        wait_for(lambda: agent.server.active_connections == 3, what="3 connections held")
        assert _status_and_body(_raw(agent.port, NEXT)) == (503, {"error": "too many connections"})
        for sock in slow:  # each gets a 408 and is closed, though it kept sending
            raw = _raw_until_closed(sock)
            assert raw.startswith(b"HTTP/1.1 408 ") and raw.count(b"HTTP/1.1 ") == 1
        assert _raw_until_closed(silent) == b""  # nothing begun: closed without an answer
        wait_for(lambda: agent.server.active_connections == 0, what="slots freed")
        assert _half_closed(agent.port, NEXT).endswith(b"healthy")
    finally:
        stop.set()
        for sock in [*slow, silent]:
            sock.close()
        for thread in threads:
            thread.join(timeout=5)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("CONFIG_AGENT_HTTP_MAX_CONNECTIONS", "0"),
        ("CONFIG_AGENT_HTTP_REQUEST_TIMEOUT_SECONDS", "x"),
    ],
)
def test_http_limits_are_validated(name, value):
    from config_agent.settings import Settings, SettingsError

    with pytest.raises(SettingsError, match=name):
        Settings.from_env(
            agent_env("https://sqs.example/1/q", CONFIG_AGENT_SECRET_IDS="s", **{name: value})
        )
    defaults = Settings.from_env(agent_env("https://sqs.example/1/q", CONFIG_AGENT_SECRET_IDS="s"))
    assert defaults.http_max_connections >= 1000  # a pooled app never reaches it
    assert 1 <= defaults.http_request_timeout_seconds <= 10


def test_a_taken_port_is_named(aws, make_agent):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(OSError, match=rf"127\.0\.0\.1:{port}\b") as raised:
            make_agent(
                CONFIG_AGENT_SECRET_IDS=aws.secret("taken")["Name"],
                CONFIG_AGENT_SECRETS_PORT=str(port),
            )
    assert getattr(raised.value, "variable", None) == "CONFIG_AGENT_SECRETS_PORT"
    assert getattr(raised.value, "port", None) == port and str(port) in str(raised.value)


def _rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


def _listening_port(log: Any) -> int | None:
    log.seek(0)
    for line in log.read().splitlines():
        doc = json.loads(line)
        if doc.get("msg") == "listening":
            return int(doc["port"])
    return None


def _pipeline_without_reading(sock: socket.socket, limit: int) -> int:
    """Pipeline requests on `sock` and never read: bytes sent until the agent stops reading
    (nothing could be written for 2 s) or `limit`."""
    batch = b"GET /ping HTTP/1.1\r\nHost: a\r\n\r\n" * 2000
    sent = 0
    sock.setblocking(False)
    while sent < limit:
        if not select.select([], [sock], [], 2.0)[1]:
            return sent  # the agent stopped reading from it
        try:
            sent += sock.send(batch)
        except BlockingIOError:
            continue
    return sent


def test_a_client_that_never_reads_costs_bounded_memory(aws):
    """39,000 pipelined requests never read grew the agent by 258 MB; now it stops reading."""
    queue, _ = aws.queue()
    env = {
        **os.environ,
        **agent_env(
            queue,
            CONFIG_AGENT_SECRET_IDS=aws.secret("rss")["Name"],
            CONFIG_AGENT_SECRETS_PORT="off",
            CONFIG_AGENT_LOG_LEVEL="INFO",
        ),
    }
    with tempfile.TemporaryFile("w+") as log:
        proc = spawn_agent(env, log)
        try:
            port = wait_for(lambda: _listening_port(log), timeout=20, what="listening")
            wait_for(lambda: _half_closed(port, NEXT).endswith(b"healthy"), what="serving")
            before = _rss_kb(proc.pid)
            with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
                # ~4 MB fill the kernel's socket buffers before the client blocks; the
                # agent before the fix kept reading (and answering into memory) up to the limit
                sent = _pipeline_without_reading(sock, 10 * 1024 * 1024)
                grown_mb = (_rss_kb(proc.pid) - before) / 1024
            assert grown_mb < 20, f"{grown_mb:.1f} MB after {sent} bytes"  # before: 36 MB
            assert _half_closed(port, NEXT).endswith(b"healthy")  # others are still served
        finally:
            stop_agents([proc])


def test_cannot_start_names_the_taken_port(aws):
    """`python -m config_agent` with its secrets port taken: the log line says which port."""
    from tests.config_agent.test_process import _reap, _spawn

    queue, _ = aws.queue()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        proc, lines = _spawn(
            agent_env(queue, CONFIG_AGENT_SECRET_IDS="s", CONFIG_AGENT_SECRETS_PORT=str(port))
        )
        try:
            assert proc.wait(timeout=30) == 1
        finally:
            _reap(proc)
    wait_for(lambda: any('"cannot start"' in line for line in lines), what="the log line")
    doc = next(json.loads(line) for line in lines if '"cannot start"' in line)
    assert (doc["port"], doc["variable"]) == (port, "CONFIG_AGENT_SECRETS_PORT")


def test_the_connection_cap_fits_the_file_descriptor_limit():
    """With a hard limit of 256 descriptors, 1024 connections on each of two ports cannot be
    served: the cap is lowered to fit (with a warning) instead of failing at accept()."""
    import subprocess
    import sys

    code = (
        "import resource; resource.setrlimit(resource.RLIMIT_NOFILE, (200, 256)); "
        "from config_agent.server import connection_budget; "
        "print(connection_budget(1024), connection_budget(50), "
        "resource.getrlimit(resource.RLIMIT_NOFILE)[0])"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=30,
        cwd=Path(__file__).resolve().parents[2],
        check=True,
    )
    assert out.stdout.split() == ["96", "50", "256"]  # (256 - 64 reserved) // 2 ports
    assert "connection cap lowered" in out.stderr
